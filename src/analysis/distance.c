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

/* In 8 lanes (coordinate d to lane d mod 8) added in one fixed tree: the same value at any
 * thread count and on every instruction set, and the lanes let the re-scoring of candidates
 * (most of a k-NN graph's time after the sgemm) run as vectors in the AVX-512 clone. */
__attribute__((target_clones("avx512f", "avx2", "default"))) double am_sqdist_exact(const float *a, const float *b,
                                                                                    int64_t dim)
{
    double s[8] = {0};
    int64_t d = 0;
    for (; d + 8 <= dim; d += 8)
#pragma omp simd
        for (int l = 0; l < 8; l++) {
            double t = (double)a[d + l] - b[d + l];
            s[l] += t * t;
        }
    for (int l = 0; d < dim; d++, l++) {
        double t = (double)a[d] - b[d];
        s[l] += t * t;
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}
