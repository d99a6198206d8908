/* PCA: covariance in double by one pass of blocked dsyrk over a row view, leading eigenpairs by
 * dsyevr. */
#include "astromorph/pca.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/rows.h"
#include "astromorph/tensor.h"
#include "lapack.h"

enum { PCA_BLOCK = 1024 }; /* rows converted to double at a time */

void am_pca_free(am_pca *p)
{
    if (!p) return;
    am_free(p->mean);
    am_free(p->components);
    free(p->variance);
    free(p->variance_ratio);
    memset(p, 0, sizeof *p);
}

/* One pass over row blocks: each block is centred on its own mean and its scatter added by
 * dsyrk, then the blocks are merged (Chan, Golub & LeVeque 1979): with na rows of mean ma so far
 * and nb of mean mb, the scatter gains na·nb/(na + nb) (mb − ma)(mb − ma)ᵀ and the mean moves
 * to ma + nb/(na + nb) (mb − ma). The same covariance as centring on the global mean (to
 * rounding) without a second pass over the rows, nor cancellation when the mean is far from 0. */
static am_status accumulate(const am_rows *r, double *mean, double *cov, double *blk, double *bmean, float *buf)
{
    const int D = (int)r->dim;
    double na = 0;
    for (int64_t b0 = 0; b0 < r->n; b0 += PCA_BLOCK) {
        int nb = (int)(r->n - b0 < PCA_BLOCK ? r->n - b0 : PCA_BLOCK);
        const float *x = am_rows_block(r, b0, nb, buf);
        for (int d = 0; d < D; d++) bmean[d] = 0;
        for (int i = 0; i < nb; i++)
            for (int d = 0; d < D; d++) bmean[d] += x[(size_t)i * D + d];
        for (int d = 0; d < D; d++) {
            bmean[d] /= nb;
            if (!isfinite(bmean[d]))
                return am_error(AM_ERR_NUMERIC, "PCA: input has a non-finite value in column %d (rows %lld to %lld)", d,
                                (long long)b0, (long long)(b0 + nb - 1));
        }
        for (int i = 0; i < nb; i++)
            for (int d = 0; d < D; d++) blk[(size_t)i * D + d] = x[(size_t)i * D + d] - bmean[d];
        /* cov (upper, row-major) += blkᵀ blk */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, D, nb, 1.0, blk, D, 1.0, cov, D);
        const double tot = na + nb;
        for (int d = 0; d < D; d++) bmean[d] -= mean[d];
        if (na > 0) cblas_dsyr(CblasRowMajor, CblasUpper, D, na * nb / tot, bmean, 1, cov, D);
        for (int d = 0; d < D; d++) mean[d] += bmean[d] * (nb / tot);
        na = tot;
    }
    return AM_OK;
}

am_status am_pca_fit(const float *x, int64_t n, int64_t dim, int ncomp, am_pca *p)
{
    am_rows r = am_rows_of(x, n, dim);
    return am_pca_fit_rows(&r, ncomp, p);
}

am_status am_pca_fit_rows(const am_rows *r, int ncomp, am_pca *p)
{
    memset(p, 0, sizeof *p);
    const int64_t n = r->n, dim = r->dim;
    if (n < 2) return am_error(AM_ERR_VALUE, "PCA: needs at least 2 rows, got %lld", (long long)n);
    if (ncomp < 1 || ncomp > dim)
        return am_error(AM_ERR_VALUE, "PCA: %d components asked of %lld-dimensional data", ncomp, (long long)dim);
    if (dim > 46340)
        return am_error(AM_ERR_VALUE, "PCA: dimension %lld too large for a dense covariance", (long long)dim);
    int D = (int)dim;
    double *mean = calloc((size_t)D, sizeof(double)), *bmean = malloc((size_t)D * sizeof(double));
    double *cov = calloc((size_t)D * (size_t)D, sizeof(double));
    double *blk = malloc((size_t)PCA_BLOCK * (size_t)D * sizeof(double));
    float *buf = r->f32 ? NULL : am_malloc((size_t)PCA_BLOCK * (size_t)D * sizeof(float));
    double *w = malloc((size_t)D * sizeof(double));
    double *z = malloc((size_t)D * (size_t)ncomp * sizeof(double));
    int *isuppz = malloc(2 * (size_t)D * sizeof(int));
    double *work = NULL;
    int *iwork = NULL;
    p->mean = am_malloc((size_t)D * sizeof(float));
    p->components = am_malloc((size_t)ncomp * (size_t)D * sizeof(float));
    p->variance = malloc((size_t)ncomp * sizeof(double));
    p->variance_ratio = malloc((size_t)ncomp * sizeof(double));
    am_status s = AM_OK;
    if (!mean || !bmean || !cov || !blk || (!r->f32 && !buf) || !w || !z || !isuppz || !p->mean || !p->components ||
        !p->variance || !p->variance_ratio) {
        s = am_error(AM_ERR_NOMEM, "PCA: out of memory for dimension %d", D);
        goto done;
    }
    p->dim = dim;
    p->ncomp = ncomp;
    if ((s = accumulate(r, mean, cov, blk, bmean, buf)) != AM_OK) goto done;
    for (int d = 0; d < D; d++) p->mean[d] = (float)mean[d];
    double total = 0;
    for (int i = 0; i < D; i++)
        for (int j = i; j < D; j++) cov[(size_t)i * D + j] /= (double)(n - 1);
    for (int i = 0; i < D; i++) total += cov[(size_t)i * D + i];
    p->total_variance = total;
    /* Row-major upper is column-major lower of the same symmetric matrix. */
    int il = D - ncomp + 1, iu = D, m = 0, info = 0, lwork = -1, liwork = -1, iwq = 0;
    double vl = 0, vu = 0, abstol = 0, wq = 0;
    dsyevr_("V", "I", "L", &D, cov, &D, &vl, &vu, &il, &iu, &abstol, &m, w, z, &D, isuppz, &wq, &lwork, &iwq, &liwork,
            &info, 1, 1, 1);
    if (info != 0) {
        s = am_error(AM_ERR_BACKEND, "PCA: dsyevr workspace query failed (info %d)", info);
        goto done;
    }
    lwork = (int)wq;
    liwork = iwq;
    work = malloc((size_t)lwork * sizeof(double));
    iwork = malloc((size_t)liwork * sizeof(int));
    if (!work || !iwork) {
        s = am_error(AM_ERR_NOMEM, "PCA: out of memory for LAPACK workspace");
        goto done;
    }
    /* on one thread: OpenBLAS's threaded reductions inside dsyevr round differently at other
     * thread counts, and the D × D problem is small beside the pass over the rows */
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    dsyevr_("V", "I", "L", &D, cov, &D, &vl, &vu, &il, &iu, &abstol, &m, w, z, &D, isuppz, work, &lwork, iwork, &liwork,
            &info, 1, 1, 1);
    omp_set_num_threads(threads);
    if (info != 0 || m != ncomp) {
        s = am_error(AM_ERR_BACKEND, "PCA: dsyevr failed (info %d, %d of %d eigenvalues)", info, m, ncomp);
        goto done;
    }
    /* dsyevr returns ascending eigenvalues: component c is the (m-1-c)-th column. */
    for (int c = 0; c < ncomp; c++) {
        const double *v = z + (size_t)(m - 1 - c) * D;
        int big = 0;
        for (int d = 1; d < D; d++)
            if (fabs(v[d]) > fabs(v[big])) big = d;
        double sign = v[big] < 0 ? -1.0 : 1.0;
        for (int d = 0; d < D; d++) p->components[(size_t)c * D + d] = (float)(sign * v[d]);
        double ev = w[m - 1 - c] > 0 ? w[m - 1 - c] : 0;
        p->variance[c] = ev;
        p->variance_ratio[c] = total > 0 ? ev / total : 0;
    }
done:
    free(mean);
    free(bmean);
    free(cov);
    free(blk);
    am_free(buf);
    free(w);
    free(z);
    free(isuppz);
    free(work);
    free(iwork);
    if (s != AM_OK) am_pca_free(p);
    return s;
}

am_status am_pca_transform(const am_pca *p, const float *x, int64_t n, float *out)
{
    am_rows r = am_rows_of(x, n, p->dim);
    return am_pca_transform_rows(p, &r, out);
}

am_status am_pca_transform_rows(const am_pca *p, const am_rows *r, float *out)
{
    int64_t D = p->dim;
    if (r->dim != D)
        return am_error(AM_ERR_SHAPE, "PCA: rows of dimension %lld, components of %lld", (long long)r->dim,
                        (long long)D);
    float *blk = am_malloc((size_t)PCA_BLOCK * (size_t)D * sizeof(float));
    if (!blk) return am_error(AM_ERR_NOMEM, "PCA: out of memory");
    for (int64_t b0 = 0; b0 < r->n; b0 += PCA_BLOCK) {
        int nb = (int)(r->n - b0 < PCA_BLOCK ? r->n - b0 : PCA_BLOCK);
        /* converted (float16) into blk, then centred in place; or centred from the rows */
        const float *x = am_rows_block(r, b0, nb, blk);
        for (int i = 0; i < nb; i++)
            for (int64_t d = 0; d < D; d++) blk[i * D + d] = x[i * D + d] - p->mean[d];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, p->ncomp, (int)D, 1.0f, blk, (int)D, p->components,
                    (int)D, 0.0f, out + b0 * p->ncomp, p->ncomp);
    }
    am_free(blk);
    return AM_OK;
}
