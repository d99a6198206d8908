/* PCA in one streaming pass over several row blocks, checked against the covariance computed
 * the plain two-pass way (global mean first): each component must be an eigenvector of it with
 * the eigenvalue reported. Rows far from the origin (mean 1000, spread 1-10) would expose the
 * cancellation of a raw-moment pass. A float16 view gives exactly the PCA of its float32
 * conversion, and the result is the same at 1 and 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/pca.h"
#include "astromorph/rng.h"
#include "astromorph/rows.h"
#include "astromorph/runtime.h"
#include "test_util.h"

enum { N = 5000, D = 16, NC = 5 }; /* 5 blocks of 1024 rows, the last partial */

static int same_pca(const am_pca *a, const am_pca *b)
{
    return !memcmp(a->components, b->components, sizeof(float) * NC * D) &&
           !memcmp(a->variance, b->variance, sizeof(double) * NC) && !memcmp(a->mean, b->mean, sizeof(float) * D);
}

int main(void)
{
    am_rng g;
    am_rng_init(&g, 3, 0);
    float *x = malloc(sizeof(float) * N * D);
    for (int i = 0; i < N; i++) {
        double z0 = am_rng_normal(&g);
        for (int d = 0; d < D; d++) x[i * D + d] = (float)(1000.0 + (d + 1) * am_rng_normal(&g) + 3 * d * z0);
    }
    /* reference covariance, two passes in double */
    double mean[D] = {0}, cov[D * D] = {0};
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++) mean[d] += x[i * D + d];
    for (int d = 0; d < D; d++) mean[d] /= N;
    for (int i = 0; i < N; i++)
        for (int a = 0; a < D; a++)
            for (int b = 0; b < D; b++) cov[a * D + b] += (x[i * D + a] - mean[a]) * (x[i * D + b] - mean[b]) / (N - 1);
    am_pca p;
    CHECK_OK(am_pca_fit(x, N, D, NC, &p));
    /* Bounds: the covariances carry rounding of about N·2^-53 relative (1e-12); components are
     * stored as float, so after renormalising in double the eigen-residual is ≤ ‖C‖ times
     * their rounding, sqrt(D)·2^-24, and the Rayleigh quotient (second order in that) is
     * within 1e-9 of the eigenvalue. */
    const double top = p.variance[0];
    for (int c = 0; c < NC; c++) {
        double v[D], nv = 0, cv[D], rq = 0, res = 0;
        for (int d = 0; d < D; d++) nv += (double)p.components[c * D + d] * p.components[c * D + d];
        for (int d = 0; d < D; d++) v[d] = p.components[c * D + d] / sqrt(nv);
        for (int a = 0; a < D; a++) {
            cv[a] = 0;
            for (int b = 0; b < D; b++) cv[a] += cov[a * D + b] * v[b];
            rq += v[a] * cv[a];
        }
        for (int a = 0; a < D; a++) res += (cv[a] - rq * v[a]) * (cv[a] - rq * v[a]);
        CHECK(fabs(rq - p.variance[c]) <= 1e-9 * top, "component %d: variance %.12g, reference %.12g", c, p.variance[c],
              rq);
        CHECK(sqrt(res) <= 2 * sqrt(D) * ldexp(1, -24) * top, "component %d: residual %g of %g", c, sqrt(res), top);
    }
    for (int d = 0; d < D; d++) CHECK(fabs(p.mean[d] - mean[d]) <= 1e-4, "mean %d: %g vs %g", d, p.mean[d], mean[d]);

    /* float16 rows: the PCA of their float32 conversion, bit for bit; transforms agree too */
    uint16_t *h = malloc(sizeof(uint16_t) * N * D);
    float *xh = malloc(sizeof(float) * N * D), *t16 = malloc(sizeof(float) * N * NC),
          *t32 = malloc(sizeof(float) * N * NC);
    for (int i = 0; i < N * D; i++) xh[i] = am_half_to_float(h[i] = am_float_to_half(x[i] - 1000.0f));
    am_rows r16 = {N, D, NULL, h};
    am_pca q, q2;
    CHECK_OK(am_pca_fit_rows(&r16, NC, &q));
    CHECK_OK(am_pca_fit(xh, N, D, NC, &q2));
    CHECK(same_pca(&q, &q2), "float16 view and its float32 conversion differ");
    CHECK_OK(am_pca_transform_rows(&q, &r16, t16));
    CHECK_OK(am_pca_transform(&q2, xh, N, t32));
    CHECK(!memcmp(t16, t32, sizeof(float) * N * NC), "float16 transform differs");
    am_pca_free(&q);
    am_pca_free(&q2);

    /* thread count */
    int threads = am_get_threads();
    am_set_threads(1);
    CHECK_OK(am_pca_fit(x, N, D, NC, &q));
    am_set_threads(2);
    CHECK_OK(am_pca_fit(x, N, D, NC, &q2));
    am_set_threads(threads);
    CHECK(same_pca(&q, &q2), "1 and 2 threads differ: %g vs %g", q.variance[0], q2.variance[0]);
    CHECK(same_pca(&p, &q2), "2 threads and the default (%d) differ", threads);
    am_pca_free(&q);
    am_pca_free(&q2);
    am_pca_free(&p);
    free(x), free(h), free(xh), free(t16), free(t32);
    return am_test_finish();
}
