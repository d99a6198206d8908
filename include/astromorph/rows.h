/* A read-only view of n × dim rows held as float32 or as IEEE half precision (float16), as a
 * memory-mapped embeddings file holds them, handed out as float32 blocks. Streaming algorithms
 * (PCA, mini-batch k-means) take one block at a time, so a float16 file is never converted
 * whole and a float32 one is never copied. */
#ifndef ASTROMORPH_ROWS_H
#define ASTROMORPH_ROWS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct am_rows {
    int64_t n, dim;
    const float *f32; /* n × dim, row-major, or NULL */
    const uint16_t *f16; /* n × dim half-precision bit patterns, read when f32 is NULL */
} am_rows;

/* A view of an n × dim float32 matrix. */
am_rows am_rows_of(const float *x, int64_t n, int64_t dim);
/* Rows lo .. lo + nb − 1 as float32: a pointer into f32, or buf (nb × dim floats) filled
 * from f16. */
const float *am_rows_block(const am_rows *r, int64_t lo, int64_t nb, float *buf);

/* IEEE 754 binary16 <-> binary32; to half rounds to nearest even and overflows to infinity. */
float am_half_to_float(uint16_t h);
uint16_t am_float_to_half(float f);

#ifdef __cplusplus
}
#endif
#endif
