/* Pairwise distances through one sgemm per block. */
#include "distance.h"

#include <cblas.h>

void am_sqnorms(const float *x, int64_t n, int64_t dim, float *out)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float *r = x + i * dim;
        double s = 0;
        for (int64_t d = 0; d < dim; d++) s += (double)r[d] * r[d];
        out[i] = (float)s;
    }
}

void am_sqdist_block(const float *a, int64_t na, const float *an, const float *b, int64_t nb, const float *bn,
                     int64_t dim, float *out, int64_t ldo)
{
    if (na == 0 || nb == 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)na, (int)nb, (int)dim, -2.0f, a, (int)dim, b, (int)dim,
                0.0f, out, (int)ldo);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < na; i++) {
        float *o = out + i * ldo;
        for (int64_t j = 0; j < nb; j++) {
            float v = o[j] + an[i] + bn[j];
            o[j] = v > 0 ? v : 0;
        }
    }
}

double am_sqdist_exact(const float *a, const float *b, int64_t dim)
{
    double s = 0;
    for (int64_t d = 0; d < dim; d++) {
        double t = (double)a[d] - b[d];
        s += t * t;
    }
    return s;
}
