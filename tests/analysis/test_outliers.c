/* Planted outliers rank at the top for both scores; LOF ignores a sparse but regular cluster
 * that the kNN distance flags. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/outliers.h"
#include "synth.h"
#include "test_util.h"

static int in_set(int64_t v, const int64_t *set, int n)
{
    for (int i = 0; i < n; i++)
        if (set[i] == v) return 1;
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    const int64_t n0 = 600, dim = 16, n = n0 + 5;
    float *base = synth_clusters(n0, dim, 4, 3.0, 21, NULL);
    float *x = malloc((size_t)n * dim * sizeof *x);
    memcpy(x, base, (size_t)n0 * dim * sizeof *x);
    am_rng r;
    am_rng_init(&r, 4, 0);
    int64_t planted[5];
    for (int p = 0; p < 5; p++) {
        planted[p] = n0 + p;
        for (int64_t d = 0; d < dim; d++) x[(n0 + p) * dim + d] = (float)(25.0 * am_rng_normal(&r));
    }
    double *knn = malloc(n * sizeof *knn), *lof = malloc(n * sizeof *lof);
    int64_t *order = malloc(n * sizeof *order);
    for (int mi = 0; mi < 2; mi++) {
        am_metric m = mi ? AM_METRIC_COSINE : AM_METRIC_EUCLIDEAN;
        CHECK_OK(am_outlier_scores(x, n, dim, m, 10, knn, lof));
        CHECK_OK(am_rank_desc(knn, n, order));
        for (int p = 0; p < 5; p++)
            CHECK(in_set(order[p], planted, 5), "%s kNN rank %d is row %lld, not a planted outlier", am_metric_name(m),
                  p, (long long)order[p]);
        CHECK_OK(am_rank_desc(lof, n, order));
        for (int p = 0; p < 5; p++)
            CHECK(in_set(order[p], planted, 5), "%s LOF rank %d is row %lld (LOF %g)", am_metric_name(m), p,
                  (long long)order[p], lof[order[p]]);
    }
    /* Inliers have LOF ≈ 1. */
    double *tmp = malloc(n0 * sizeof *tmp);
    memcpy(tmp, lof, n0 * sizeof *tmp);
    qsort(tmp, n0, sizeof *tmp, cmp_d);
    CHECK(tmp[n0 / 2] > 0.9 && tmp[n0 / 2] < 1.15, "median inlier LOF %g", tmp[n0 / 2]);

    /* Dense cluster (σ 0.05), sparse cluster (σ 2), and 3 points just outside the dense one. */
    const int64_t nd = 300, ns = 100, m = nd + ns + 3;
    float *y = calloc((size_t)m * 4, sizeof *y);
    for (int64_t i = 0; i < nd; i++)
        for (int d = 0; d < 4; d++) y[i * 4 + d] = (float)(0.05 * am_rng_normal(&r));
    for (int64_t i = nd; i < nd + ns; i++)
        for (int d = 0; d < 4; d++) y[i * 4 + d] = (float)(40 + 2.0 * am_rng_normal(&r));
    int64_t local[3];
    for (int p = 0; p < 3; p++) {
        local[p] = nd + ns + p;
        y[local[p] * 4 + p] = 1.0f; /* 20 σ from the dense cluster, closer than sparse neighbours are */
    }
    double *k2 = malloc(m * sizeof *k2), *l2 = malloc(m * sizeof *l2);
    int64_t *o2 = malloc(m * sizeof *o2);
    CHECK_OK(am_outlier_scores(y, m, 4, AM_METRIC_EUCLIDEAN, 10, k2, l2));
    CHECK_OK(am_rank_desc(l2, m, o2));
    for (int p = 0; p < 3; p++) CHECK(in_set(o2[p], local, 3), "LOF rank %d is row %lld", p, (long long)o2[p]);
    CHECK_OK(am_rank_desc(k2, m, o2));
    CHECK(o2[0] >= nd && o2[0] < nd + ns, "kNN distance should rank a sparse-cluster point first, got row %lld",
          (long long)o2[0]);

    /* Ranking: descending, ties by index, NaN last. */
    double sc[5] = {1, NAN, 3, 1, 2};
    int64_t ord[5];
    CHECK_OK(am_rank_desc(sc, 5, ord));
    CHECK(ord[0] == 2 && ord[1] == 4 && ord[2] == 0 && ord[3] == 3 && ord[4] == 1, "rank %lld %lld %lld %lld %lld",
          (long long)ord[0], (long long)ord[1], (long long)ord[2], (long long)ord[3], (long long)ord[4]);
    am_outlier_method om;
    CHECK_OK(am_outlier_method_parse("lof", "--method", &om));
    CHECK(om == AM_OUTLIER_LOF, "parse lof");
    CHECK_FAILS(am_outlier_method_parse("iforest", "--method", &om), AM_ERR_VALUE, "iforest");
    free(k2);
    free(l2);
    free(o2);
    free(y);
    free(tmp);
    free(knn);
    free(lof);
    free(order);
    free(x);
    am_free(base);
    return am_test_finish();
}
