/* k-means recovers separated clusters; inertia and silhouette against direct computations;
 * seeded determinism at any thread count; degenerate inputs. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/kmeans.h"
#include "synth.h"
#include "test_util.h"

/* 1 when labels a and b define the same partition. */
static int same_partition(const int32_t *a, const int32_t *b, int64_t n, int k)
{
    int map[64];
    for (int i = 0; i < k; i++) map[i] = -1;
    for (int64_t i = 0; i < n; i++) {
        if (map[a[i]] < 0) map[a[i]] = b[i];
        if (map[a[i]] != b[i]) return 0;
    }
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++)
            if (map[i] >= 0 && map[i] == map[j]) return 0;
    return 1;
}

static double naive_silhouette(const float *x, int64_t n, int64_t dim, const int32_t *lab, int k)
{
    double tot = 0;
    for (int64_t i = 0; i < n; i++) {
        double sum[16] = {0};
        int64_t cnt[16] = {0};
        for (int64_t j = 0; j < n; j++) {
            cnt[lab[j]]++;
            if (j == i) continue;
            double s = 0;
            for (int64_t d = 0; d < dim; d++)
                s += ((double)x[i * dim + d] - x[j * dim + d]) * ((double)x[i * dim + d] - x[j * dim + d]);
            sum[lab[j]] += sqrt(s);
        }
        if (cnt[lab[i]] <= 1) continue;
        double a = sum[lab[i]] / (cnt[lab[i]] - 1), b = INFINITY;
        for (int c = 0; c < k; c++)
            if (c != lab[i] && cnt[c] > 0) b = fmin(b, sum[c] / cnt[c]);
        tot += (b - a) / fmax(a, b);
    }
    return tot / n;
}

int main(void)
{
    const int64_t n = 1200, dim = 32;
    const int k = 6;
    int32_t *truth = malloc(n * sizeof *truth);
    float *x = synth_clusters(n, dim, k, 4.0, 5, truth);
    am_kmeans_options o;
    am_kmeans_options_default(&o);
    CHECK(o.k == 10 && o.restarts == 10, "defaults k=%d restarts=%d", o.k, o.restarts);
    o.k = k;
    o.seed = 42;
    am_kmeans_result r, r2;
    CHECK_OK(am_kmeans(x, n, dim, &o, &r));
    CHECK(same_partition(r.labels, truth, n, k), "k-means did not recover the %d planted clusters", k);
    double inertia = 0;
    int64_t sizes = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t d = 0; d < dim; d++) {
            double t = (double)x[i * dim + d] - r.centroids[r.labels[i] * dim + d];
            inertia += t * t;
        }
    for (int c = 0; c < k; c++) sizes += r.sizes[c];
    CHECK(fabs(inertia - r.inertia) <= 1e-9 * inertia, "inertia %g, recomputed %g", r.inertia, inertia);
    CHECK(sizes == n, "cluster sizes add up to %lld", (long long)sizes);
    /* Unit noise in 32-D: inertia near n·dim. */
    CHECK(r.inertia < 1.1 * n * dim, "inertia %g too high for unit-variance clusters", r.inertia);

    /* Same seed → same labels, with 1 thread or 2. */
    omp_set_num_threads(1);
    CHECK_OK(am_kmeans(x, n, dim, &o, &r2));
    omp_set_num_threads(2);
    CHECK(memcmp(r.labels, r2.labels, n * sizeof(int32_t)) == 0 && r.inertia == r2.inertia,
          "1 thread and 2 threads disagree (inertia %.17g vs %.17g)", r.inertia, r2.inertia);
    am_kmeans_result_free(&r2);

    /* Silhouette: high for the true partition, near 0 for random labels; matches a naive O(n²). */
    double sil, sil_rand, sil_naive;
    CHECK_OK(am_silhouette(x, n, dim, r.labels, k, 0, 0, &sil, NULL));
    int32_t *rl = malloc(n * sizeof *rl);
    am_rng g;
    am_rng_init(&g, 9, 0);
    for (int64_t i = 0; i < n; i++) rl[i] = (int32_t)am_rng_below(&g, k);
    CHECK_OK(am_silhouette(x, n, dim, rl, k, 0, 0, &sil_rand, NULL));
    CHECK(sil > 0.6, "silhouette of the true clusters %g", sil);
    CHECK(fabs(sil_rand) < 0.05, "silhouette of random labels %g", sil_rand);
    sil_naive = naive_silhouette(x, 300, dim, rl, k);
    float *pp = malloc(300 * sizeof *pp);
    CHECK_OK(am_silhouette(x, 300, dim, rl, k, 0, 0, &sil, pp));
    CHECK(fabs(sil - sil_naive) < 1e-5, "silhouette %.8f vs naive %.8f", sil, sil_naive);
    CHECK(pp[0] >= -1 && pp[0] <= 1, "per-point silhouette %g", pp[0]);
    /* A sample scores only the sampled points (the rest NaN). */
    float *pn = malloc(n * sizeof *pn);
    CHECK_OK(am_silhouette(x, n, dim, r.labels, k, 200, 3, &sil, pn));
    int scored = 0;
    for (int64_t i = 0; i < n; i++) scored += !isnan(pn[i]);
    CHECK(scored == 200 && sil > 0.6, "sampled silhouette: %d scored, mean %g", scored, sil);
    int32_t badl[3] = {0, 1, 7};
    CHECK_FAILS(am_silhouette(x, 3, dim, badl, 2, 0, 0, &sil, NULL), AM_ERR_VALUE, "label 7");

    /* Degenerate: identical points, k = 3 → every cluster non-empty, inertia 0. */
    float same[40];
    for (int i = 0; i < 40; i++) same[i] = 1.5f;
    o.k = 3;
    am_kmeans_result_free(&r);
    CHECK_OK(am_kmeans(same, 10, 4, &o, &r));
    CHECK(r.inertia == 0 && r.sizes[0] > 0 && r.sizes[1] > 0 && r.sizes[2] > 0,
          "identical points: inertia %g sizes %lld %lld %lld", r.inertia, (long long)r.sizes[0], (long long)r.sizes[1],
          (long long)r.sizes[2]);
    am_kmeans_result_free(&r);
    o.k = 11;
    CHECK_FAILS(am_kmeans(same, 10, 4, &o, &r), AM_ERR_VALUE, "cannot form k = 11");
    o.k = 0;
    CHECK_FAILS(am_kmeans(same, 10, 4, &o, &r), AM_ERR_VALUE, "k = 0");
    same[5] = NAN;
    o.k = 2;
    CHECK_FAILS(am_kmeans(same, 10, 4, &o, &r), AM_ERR_NUMERIC, "row 1");
    free(pn);
    free(pp);
    free(rl);
    free(truth);
    am_free(x);
    return am_test_finish();
}
