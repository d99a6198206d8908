/* PCA against a direct eigendecomposition (cyclic Jacobi written here, in double) of the
 * covariance computed naively; sign convention; projections; explained variance. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/pca.h"
#include "astromorph/rng.h"
#include "test_util.h"

/* Eigenvalues (descending, into w) and vectors (columns of v) of the symmetric n×n matrix a. */
static void jacobi(double *a, int n, double *w, double *v)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) v[i * n + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
        if (off < 1e-26) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                if (fabs(a[p * n + q]) < 1e-300) continue;
                double th = (a[q * n + q] - a[p * n + p]) / (2 * a[p * n + q]);
                double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) {
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) {
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < n; k++) {
                    double vkp = v[k * n + p], vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    /* Sort descending (selection sort on the diagonal, swapping vector columns). */
    for (int i = 0; i < n; i++) w[i] = a[i * n + i];
    for (int i = 0; i < n; i++) {
        int b = i;
        for (int j = i + 1; j < n; j++)
            if (w[j] > w[b]) b = j;
        double t = w[i];
        w[i] = w[b];
        w[b] = t;
        for (int k = 0; k < n; k++) {
            t = v[k * n + i];
            v[k * n + i] = v[k * n + b];
            v[k * n + b] = t;
        }
    }
}

int main(void)
{
    const int n = 600, D = 24, nc = 6;
    am_rng r;
    am_rng_init(&r, 11, 0);
    /* Correlated data with distinct variances: x = z · M + offset, z standard normal. */
    double *M = malloc(sizeof(double) * D * D);
    for (int i = 0; i < D * D; i++) M[i] = am_rng_normal(&r) * (1.0 + (i / D < 4 ? 6 - i / D : 0));
    float *x = malloc(sizeof(float) * n * D);
    for (int i = 0; i < n; i++) {
        double z[24];
        for (int k = 0; k < D; k++) z[k] = am_rng_normal(&r);
        for (int d = 0; d < D; d++) {
            double s = 5.0 + d;
            for (int k = 0; k < D; k++) s += z[k] * M[k * D + d];
            x[i * D + d] = (float)s;
        }
    }
    /* Reference: naive covariance and Jacobi. */
    double mean[24] = {0}, *cov = calloc(D * D, sizeof(double)), w[24], *v = malloc(sizeof(double) * D * D);
    for (int i = 0; i < n; i++)
        for (int d = 0; d < D; d++) mean[d] += x[i * D + d] / (double)n;
    for (int i = 0; i < n; i++)
        for (int a = 0; a < D; a++)
            for (int b = 0; b < D; b++) cov[a * D + b] += (x[i * D + a] - mean[a]) * (x[i * D + b] - mean[b]) / (n - 1);
    double trace = 0;
    for (int d = 0; d < D; d++) trace += cov[d * D + d];
    jacobi(cov, D, w, v);

    am_pca p;
    CHECK_OK(am_pca_fit(x, n, D, nc, &p));
    CHECK(p.ncomp == nc && p.dim == D, "pca shape");
    CHECK(fabs(p.total_variance - trace) <= 1e-9 * trace, "total variance %g vs %g", p.total_variance, trace);
    for (int c = 0; c < nc; c++) {
        CHECK(fabs(p.variance[c] - w[c]) <= 1e-8 * w[0], "eigenvalue %d: %.10g vs %.10g", c, p.variance[c], w[c]);
        CHECK(fabs(p.variance_ratio[c] - w[c] / trace) < 1e-9, "ratio %d", c);
        double dot = 0, big = 0;
        int bi = 0;
        for (int d = 0; d < D; d++) {
            dot += p.components[c * D + d] * v[d * D + c];
            if (fabs(p.components[c * D + d]) > big) {
                big = fabs(p.components[c * D + d]);
                bi = d;
            }
        }
        CHECK(fabs(fabs(dot) - 1) < 1e-5, "component %d |cos| with the reference = %.8f", c, fabs(dot));
        CHECK(p.components[c * D + bi] > 0, "component %d: largest entry is negative", c);
        if (c > 0) CHECK(p.variance[c] <= p.variance[c - 1], "variances not descending at %d", c);
    }
    /* Projections: zero mean, variance = eigenvalue, uncorrelated. */
    float *t = malloc(sizeof(float) * n * nc);
    CHECK_OK(am_pca_transform(&p, x, n, t));
    for (int c = 0; c < nc; c++) {
        double m = 0, s2 = 0, cr = 0;
        for (int i = 0; i < n; i++) m += t[i * nc + c] / (double)n;
        for (int i = 0; i < n; i++) s2 += (t[i * nc + c] - m) * (t[i * nc + c] - m) / (n - 1);
        if (c > 0)
            for (int i = 0; i < n; i++) cr += t[i * nc + c] * t[i * nc] / (n - 1);
        CHECK(fabs(m) < 1e-3 * sqrt(w[0]), "projection %d mean %g", c, m);
        CHECK(fabs(s2 - w[c]) < 1e-4 * w[0], "projection %d variance %g vs %g", c, s2, w[c]);
        CHECK(fabs(cr) < 1e-4 * w[0], "projection %d correlates with PC1: %g", c, cr);
    }
    am_pca_free(&p);
    /* All components: ratios add up to 1. */
    CHECK_OK(am_pca_fit(x, n, D, D, &p));
    double sum = 0;
    for (int c = 0; c < D; c++) sum += p.variance_ratio[c];
    CHECK(fabs(sum - 1) < 1e-9, "explained variance ratios sum to %.12f", sum);
    am_pca_free(&p);
    /* Fewer rows than dimensions still works (rank-deficient covariance). */
    CHECK_OK(am_pca_fit(x, 5, D, 3, &p));
    CHECK(p.variance[0] > 0 && p.variance[2] >= 0, "rank-deficient PCA variances");
    am_pca_free(&p);
    CHECK_FAILS(am_pca_fit(x, 1, D, 2, &p), AM_ERR_VALUE, "at least 2 rows");
    CHECK_FAILS(am_pca_fit(x, n, D, D + 1, &p), AM_ERR_VALUE, "components");
    free(t);
    free(v);
    free(cov);
    free(x);
    free(M);
    return am_test_finish();
}
