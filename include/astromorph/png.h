/* PNG writer (libpng): 8-bit gray, RGB or RGBA, written atomically. */
#ifndef ASTROMORPH_PNG_H
#define ASTROMORPH_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes width×height pixels of `channels` interleaved bytes (1 gray, 2 gray+alpha, 3 RGB,
 * 4 RGBA), rows top to bottom, `stride` bytes apart (0 means width*channels). The file appears
 * under `path` only when complete. */
am_status am_png_write(const char *path, const uint8_t *pixels, int width, int height, int channels, size_t stride);

#ifdef __cplusplus
}
#endif
#endif
