/* Dense float32 tensors, row-major (NCHW for image batches). Storage is 64-byte aligned. */
#ifndef ASTROMORPH_TENSOR_H
#define ASTROMORPH_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AM_MAX_DIMS 8

typedef struct am_tensor {
    int ndim;
    int64_t shape[AM_MAX_DIMS];
    float *data;
    int owns; /* 1 when am_tensor_free releases data */
} am_tensor;

/* Aligned (64 B) allocation; am_free accepts NULL. */
void *am_malloc(size_t bytes);
void *am_calloc(size_t count, size_t size);
void am_free(void *p);

/* Allocates a zero-filled tensor. */
am_status am_tensor_alloc(am_tensor *t, int ndim, const int64_t *shape);
am_status am_tensor_alloc4(am_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w);
am_status am_tensor_alloc2(am_tensor *t, int64_t rows, int64_t cols);
/* Wraps caller-owned memory. */
am_tensor am_tensor_view(float *data, int ndim, const int64_t *shape);
/* Copies src into a newly allocated dst. */
am_status am_tensor_clone(am_tensor *dst, const am_tensor *src);
void am_tensor_free(am_tensor *t);

int64_t am_tensor_numel(const am_tensor *t);
int am_tensor_same_shape(const am_tensor *a, const am_tensor *b);
/* "4x3x37x53" into buf; returns buf. */
const char *am_tensor_shape_str(const am_tensor *t, char *buf, size_t len);
/* 1 when every element is finite. */
int am_tensor_all_finite(const am_tensor *t);

/* ---- plane helpers (src/core/resample.c) ---- */
/* dst (C×oh×ow) = src (C×h×w) resampled: each output pixel the mean of the input area it covers
 * when shrinking (partial pixels weighted by their overlap), bilinear when growing. */
am_status am_resample(const float *src, int64_t c, int64_t h, int64_t w, float *dst, int64_t oh, int64_t ow);
/* Plane p (h × w) at (x, y) (column, row), bilinear; missing neighbours count as 0. */
float am_bilinear_at(const float *p, int64_t h, int64_t w, double x, double y);
/* dst (hw values) = the sum of the c planes of src (c × hw); dst may be src's first plane. */
void am_sum_planes(const float *src, int64_t c, int64_t hw, float *dst);
/* The k-th smallest of v[0..n) (Hoare's selection, O(n) on average; v is reordered). */
float am_select_kth(float *v, int64_t n, int64_t k);

#ifdef __cplusplus
}
#endif
#endif
