/* Principal component analysis: the mean and covariance matrix are accumulated in double
 * precision in one pass over blocks of 1024 rows (blocked dsyrk, each block centred on its own
 * mean and the blocks merged), so no copy of the data is made: memory is O(dim² + 1024 dim)
 * whatever the rows; the rows may be a memory-mapped float16 file. Its leading eigenpairs come
 * from LAPACK dsyevr. Components are unit vectors, signed so that their largest-magnitude entry
 * is positive (a deterministic choice). */
#ifndef ASTROMORPH_PCA_H
#define ASTROMORPH_PCA_H

#include <stdint.h>

#include "astromorph/rows.h"
#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct am_pca {
    int64_t dim;
    int ncomp;
    float *mean; /* dim */
    float *components; /* ncomp × dim, row c is the c-th principal axis */
    double *variance; /* ncomp: variance along each axis (eigenvalues, n-1 denominator) */
    double *variance_ratio; /* ncomp: variance / total variance */
    double total_variance; /* trace of the covariance */
} am_pca;

/* x: n × dim, n >= 2, 1 <= ncomp <= dim. */
am_status am_pca_fit(const float *x, int64_t n, int64_t dim, int ncomp, am_pca *p);
/* out: n × ncomp coordinates of x's rows along the components. */
am_status am_pca_transform(const am_pca *p, const float *x, int64_t n, float *out);
/* The same over a row view (float32 or float16, read a block at a time). */
am_status am_pca_fit_rows(const am_rows *r, int ncomp, am_pca *p);
am_status am_pca_transform_rows(const am_pca *p, const am_rows *r, float *out);
void am_pca_free(am_pca *p);

#ifdef __cplusplus
}
#endif
#endif
