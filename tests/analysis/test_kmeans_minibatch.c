/* Mini-batch k-means: recovers planted Gaussian clusters, its inertia is within 1% of Lloyd's,
 * it is bit-identical at 1 and 2 threads, a float16 view clusters exactly as its float32
 * conversion, and the algorithm choice. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/kmeans.h"
#include "astromorph/rng.h"
#include "astromorph/runtime.h"
#include "test_util.h"

enum { N = 30000, D = 16, K = 8 };

static int same(const am_kmeans_result *a, const am_kmeans_result *b)
{
    return a->inertia == b->inertia && !memcmp(a->labels, b->labels, sizeof(int32_t) * N) &&
           !memcmp(a->centroids, b->centroids, sizeof(float) * K * D);
}

int main(void)
{
    am_rng g;
    am_rng_init(&g, 21, 0);
    /* centres at least 8 σ apart: the Bayes error, Φ(−4) per pair at most, is below 1e-4 */
    double ctr[K][D];
    for (int j = 0; j < K; j++) {
        for (;;) {
            for (int d = 0; d < D; d++) ctr[j][d] = 5 * am_rng_normal(&g);
            int ok = 1;
            for (int i = 0; i < j; i++) {
                double s = 0;
                for (int d = 0; d < D; d++) s += (ctr[i][d] - ctr[j][d]) * (ctr[i][d] - ctr[j][d]);
                ok &= s >= 64;
            }
            if (ok) break;
        }
    }
    float *x = malloc(sizeof(float) * N * D);
    int32_t *truth = malloc(sizeof(int32_t) * N);
    for (int i = 0; i < N; i++) {
        truth[i] = (int32_t)am_rng_below(&g, K);
        for (int d = 0; d < D; d++) x[i * D + d] = (float)(ctr[truth[i]][d] + am_rng_normal(&g));
    }
    am_kmeans_options o;
    am_kmeans_options_default(&o);
    o.k = K;
    o.restarts = 3;
    o.batch = 1024;
    o.algorithm = AM_KMEANS_MINIBATCH;
    am_rows rows = am_rows_of(x, N, D);
    am_kmeans_result mb, ll;
    CHECK_OK(am_kmeans_rows(&rows, &o, &mb));
    CHECK_OK(am_kmeans(x, N, D, &o, &ll));
    /* Matching accuracy: each found cluster's majority truth, one-to-one. Merging two clusters
     * and splitting another, the wrong local minimum, costs at least 1/K = 12.5%; the Bayes
     * error is below 1e-4: 0.99 tells them apart. */
    int64_t tab[K][K] = {{0}};
    for (int i = 0; i < N; i++) tab[mb.labels[i]][truth[i]]++;
    int64_t right = 0;
    int used[K] = {0}, onto = 1;
    for (int j = 0; j < K; j++) {
        int best = 0;
        for (int t = 1; t < K; t++)
            if (tab[j][t] > tab[j][best]) best = t;
        right += tab[j][best];
        onto &= !used[best]++;
    }
    CHECK(onto && right >= 0.99 * N, "matching accuracy %.4f (one-to-one %d)", (double)right / N, onto);
    /* Each centre is a running mean over some 10^4 rows taken with near-final centres: its error
     * adds about D σ² per cluster to an inertia of N D σ², relatively K / N; 1% is ample and still
     * fails for a centre off by 0.4 σ (which adds 0.16/D = 1% on its own). */
    CHECK(mb.inertia <= 1.01 * ll.inertia && mb.inertia >= 0.999 * ll.inertia, "inertia %.8g vs Lloyd's %.8g",
          mb.inertia, ll.inertia);
    int64_t total = 0;
    for (int j = 0; j < K; j++) total += mb.sizes[j];
    CHECK(total == N && mb.iterations >= (N + 1023) / 1024, "sizes add up (%lld); %d batches", (long long)total,
          mb.iterations);

    /* threads: bit-identical */
    int threads = am_get_threads();
    am_kmeans_result t1, t2;
    am_set_threads(1);
    CHECK_OK(am_kmeans_minibatch(&rows, &o, &t1));
    am_set_threads(2);
    CHECK_OK(am_kmeans_minibatch(&rows, &o, &t2));
    am_set_threads(threads);
    CHECK(same(&t1, &t2) && same(&t1, &mb), "1 and 2 threads differ: %.10g vs %.10g", t1.inertia, t2.inertia);
    am_kmeans_result_free(&t1);
    am_kmeans_result_free(&t2);

    /* float16 view == its float32 conversion */
    uint16_t *h = malloc(sizeof(uint16_t) * N * D);
    float *xh = malloc(sizeof(float) * N * D);
    for (int i = 0; i < N * D; i++) xh[i] = am_half_to_float(h[i] = am_float_to_half(x[i]));
    am_rows r16 = {N, D, NULL, h}, r32 = am_rows_of(xh, N, D);
    CHECK_OK(am_kmeans_rows(&r16, &o, &t1));
    CHECK_OK(am_kmeans_rows(&r32, &o, &t2));
    CHECK(same(&t1, &t2), "float16 rows cluster unlike their conversion");
    am_kmeans_result_free(&t1);
    am_kmeans_result_free(&t2);

    /* auto: Lloyd below AM_KMEANS_MINIBATCH_FROM rows */
    o.algorithm = AM_KMEANS_AUTO;
    CHECK_OK(am_kmeans_rows(&rows, &o, &t1));
    CHECK(N < AM_KMEANS_MINIBATCH_FROM && same(&t1, &ll), "auto at %d rows is Lloyd", N);
    am_kmeans_result_free(&t1);
    am_kmeans_algorithm a;
    CHECK_OK(am_kmeans_algorithm_parse("minibatch", "--algorithm", &a));
    CHECK(a == AM_KMEANS_MINIBATCH, "parse");
    CHECK_FAILS(am_kmeans_algorithm_parse("elkan", "--algorithm", &a), AM_ERR_VALUE, "--algorithm: unknown k-means");
    o.batch = 0;
    CHECK_FAILS(am_kmeans_minibatch(&rows, &o, &t1), AM_ERR_VALUE, "batch");
    x[7 * D + 3] = NAN;
    o.batch = 1024;
    CHECK_FAILS(am_kmeans_minibatch(&rows, &o, &t1), AM_ERR_NUMERIC, "non-finite");

    am_kmeans_result_free(&mb);
    am_kmeans_result_free(&ll);
    free(x), free(truth), free(h), free(xh);
    return am_test_finish();
}
