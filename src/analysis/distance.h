/* Blocks of pairwise squared Euclidean distances on BLAS, shared by k-means, similarity,
 * silhouette and t-SNE (internal to src/analysis). */
#ifndef AM_ANALYSIS_DISTANCE_H
#define AM_ANALYSIS_DISTANCE_H

#include <stdint.h>

/* Squared norms of n rows (accumulated in double, stored as float). */
void am_sqnorms(const float *x, int64_t n, int64_t dim, float *out);

/* out (na × nb, row stride ldo) = |a_i|² + |b_j|² - 2 a_i·b_j, clamped at 0. an, bn: squared norms.
 * One sgemm; OpenBLAS splits sgemm by output blocks, so each element is computed the same way
 * whatever the thread count. */
void am_sqdist_block(const float *a, int64_t na, const float *an, const float *b, int64_t nb, const float *bn,
                     int64_t dim, float *out, int64_t ldo);

/* Exact squared distance in double. */
double am_sqdist_exact(const float *a, const float *b, int64_t dim);

#endif
