/* CRC-32C (Castagnoli) of n bytes, and TFRecord's masked form of it (tfevents.c). */
#ifndef AM_IO_CRC32C_H
#define AM_IO_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t am_crc32c(const void *data, size_t n);
uint32_t am_crc32c_masked(const void *data, size_t n);

#endif
