/* The shared neighbour search (src/analysis/knn.h) against the exact one on planted data: the
 * FAISS flat index gives exactly the exact answer (ties to the lower row included), IVF finds
 * most of it (recall@10 >= 0.9 with 4 of 64 lists probed) with exact scores, the same at any
 * thread count; bad inputs fail with a message. The FAISS parts skip (77) in a build without it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "analysis/knn.h"
#include "astromorph/outliers.h"
#include "astromorph/tsne.h"
#include "synth.h"
#include "test_util.h"

enum { N = 3000, DIM = 32, K = 10, DUP = 30 };

/* Clusters, DUP copies of one row (ties at distance 0) and a block of small-integer points (ties
 * at equal distances, exact in float too). */
static float *planted(void)
{
    float *x = synth_clusters(N, DIM, 12, 4.0, 7, NULL);
    for (int i = 1; i < DUP; i++) memcpy(x + (int64_t)(100 + i) * DIM, x + 100 * DIM, DIM * sizeof *x);
    for (int64_t i = 200; i < 456; i++)
        for (int d = 0; d < DIM; d++) x[i * DIM + d] = d < 4 ? (float)(((i - 200) >> (2 * d)) & 3) + 40 : 40;
    return x;
}

static am_status search(const float *x, int64_t n, am_metric m, int k, am_knn_method method, int64_t nlist,
                        int64_t nprobe, int64_t *idx, float *sc)
{
    am_knn_options o;
    am_knn_options_default(&o);
    o.method = method, o.nlist = nlist, o.nprobe = nprobe;
    return am_knn_search(x, n, DIM, m, k, &o, idx, sc);
}

/* The failures every method shares. */
static void bad_inputs(am_knn_method method)
{
    float *x = planted();
    int64_t idx[12 * K];
    float sc[12 * K];
    CHECK_FAILS(search(x, 5, AM_METRIC_EUCLIDEAN, K, method, 0, 0, idx, sc), AM_ERR_VALUE, "n > k");
    CHECK_FAILS(search(x, K, AM_METRIC_COSINE, K, method, 0, 0, idx, sc), AM_ERR_VALUE, "n > k");
    x[3 * DIM + 2] = NAN;
    CHECK_FAILS(search(x, 12, AM_METRIC_EUCLIDEAN, K, method, 0, 0, idx, sc), AM_ERR_NUMERIC, "row 3");
    x[3 * DIM + 2] = 0, x[7 * DIM] = INFINITY;
    CHECK_FAILS(search(x, 12, AM_METRIC_COSINE, K, method, 0, 0, idx, sc), AM_ERR_NUMERIC, "row 7");
    am_free(x);
}

/* n = k + 1, the fewest rows: every other row, in the exact order. */
static void smallest(am_knn_method method)
{
    float *x = planted();
    int64_t want[(K + 1) * K], idx[(K + 1) * K];
    float wsc[(K + 1) * K], sc[(K + 1) * K];
    CHECK_OK(search(x, K + 1, AM_METRIC_EUCLIDEAN, K, AM_KNN_EXACT, 0, 0, want, wsc));
    CHECK_OK(search(x, K + 1, AM_METRIC_EUCLIDEAN, K, method, 0, 0, idx, sc));
    CHECK(!memcmp(idx, want, sizeof idx) && !memcmp(sc, wsc, sizeof sc), "n = k + 1: %s differs from exact",
          method == AM_KNN_FLAT ? "flat" : "ivf");
    am_free(x);
}

static void outliers_and_tsne(void)
{
    /* through the callers, forced by AM_KNN_METHOD: flat gives the exact scores and map */
    float *x = planted();
    const int64_t n = 600;
    double k1[600], l1[600], k2[600], l2[600];
    setenv("AM_KNN_METHOD", "exact", 1);
    CHECK_OK(am_outlier_scores(x, n, DIM, AM_METRIC_COSINE, K, k1, l1));
    am_tsne_options o;
    am_tsne_options_default(&o);
    o.iterations = 300;
    o.exaggeration_iters = 100;
    float *y1 = malloc(n * 2 * sizeof *y1), *y2 = malloc(n * 2 * sizeof *y2);
    CHECK_OK(am_tsne(x, n, DIM, &o, y1, NULL));
    setenv("AM_KNN_METHOD", "flat", 1);
    CHECK_OK(am_outlier_scores(x, n, DIM, AM_METRIC_COSINE, K, k2, l2));
    CHECK_OK(am_tsne(x, n, DIM, &o, y2, NULL));
    CHECK(!memcmp(k1, k2, sizeof k1) && !memcmp(l1, l2, sizeof l1), "outlier scores: flat differs from exact");
    CHECK(!memcmp(y1, y2, n * 2 * sizeof *y1), "t-SNE map: flat differs from exact");
    setenv("AM_KNN_METHOD", "hnsw", 1);
    CHECK_FAILS(am_outlier_scores(x, n, DIM, AM_METRIC_COSINE, K, k2, l2), AM_ERR_VALUE, "AM_KNN_METHOD");
    unsetenv("AM_KNN_METHOD");
    free(y1), free(y2);
    am_free(x);
}

int main(void)
{
    bad_inputs(AM_KNN_EXACT);
    if (!am_knn_have_faiss()) {
        float *x = planted();
        int64_t idx[12 * K];
        float sc[12 * K];
        CHECK_FAILS(search(x, 12, AM_METRIC_EUCLIDEAN, K, AM_KNN_FLAT, 0, 0, idx, sc), AM_ERR_VALUE, "FAISS");
        am_free(x);
        return am_test_skip("built without FAISS (libfaiss-dev): only the exact search was tested");
    }
    bad_inputs(AM_KNN_FLAT);
    bad_inputs(AM_KNN_IVF);
    smallest(AM_KNN_FLAT);
    smallest(AM_KNN_IVF);

    float *x = planted();
    int64_t *want = malloc(N * K * sizeof *want), *idx = malloc(N * K * sizeof *idx),
            *idx1 = malloc(N * K * sizeof *idx1);
    float *wsc = malloc(N * K * sizeof *wsc), *sc = malloc(N * K * sizeof *sc), *sc1 = malloc(N * K * sizeof *sc1);
    for (int mi = 0; mi < 2; mi++) {
        am_metric m = mi ? AM_METRIC_COSINE : AM_METRIC_EUCLIDEAN;
        const char *mn = am_metric_name(m);
        CHECK_OK(search(x, N, m, K, AM_KNN_EXACT, 0, 0, want, wsc));
        /* the duplicates' neighbours are the other copies, lowest rows first */
        CHECK(want[100 * K] == 101 && want[101 * K] == 100 && want[101 * K + 1] == 102, "%s: tie order", mn);

        CHECK_OK(search(x, N, m, K, AM_KNN_FLAT, 0, 0, idx, sc));
        int64_t diff = 0;
        for (int64_t i = 0; i < N * K; i++) diff += idx[i] != want[i] || sc[i] != wsc[i];
        CHECK(diff == 0, "%s: flat differs from exact in %lld of %d entries", mn, (long long)diff, N * K);

#ifdef _OPENMP
        int nt = omp_get_max_threads();
        omp_set_num_threads(2);
#endif
        CHECK_OK(search(x, N, m, K, AM_KNN_IVF, 64, 4, idx, sc));
        int64_t hits = 0, worse = 0;
        for (int64_t i = 0; i < N; i++)
            for (int a = 0; a < K; a++) {
                for (int b = 0; b < K; b++) hits += idx[i * K + a] == want[i * K + b];
                /* exact scores, so the a-th found is never better than the a-th true neighbour */
                float f = sc[i * K + a], t = wsc[i * K + a];
                worse += m == AM_METRIC_EUCLIDEAN ? f < t : f > t;
                worse += idx[i * K + a] == i;
            }
        double recall = (double)hits / (N * K);
        printf("%s: IVF (64 lists, 4 probed) recall@10 %.4f\n", mn, recall);
        CHECK(recall >= 0.9, "%s: IVF recall@10 %.4f < 0.9", mn, recall);
        CHECK(worse == 0, "%s: %lld IVF neighbours score better than the exact ones, or are the row itself", mn,
              (long long)worse);
#ifdef _OPENMP
        /* the same index and answers on one thread as on two */
        omp_set_num_threads(1);
        CHECK_OK(search(x, N, m, K, AM_KNN_IVF, 64, 4, idx1, sc1));
        omp_set_num_threads(nt);
        CHECK(!memcmp(idx, idx1, N * K * sizeof *idx) && !memcmp(sc, sc1, N * K * sizeof *sc),
              "%s: IVF on 1 thread differs from 2 threads", mn);
#endif
    }
    /* more lists than rows: refused before FAISS is asked (test_knn_index has FAISS's own
     * exceptions contained) */
    CHECK_FAILS(search(x, 100, AM_METRIC_EUCLIDEAN, K, AM_KNN_IVF, 200, 4, idx, sc), AM_ERR_VALUE, "nlist 200");
    outliers_and_tsne();
    free(want), free(idx), free(idx1), free(wsc), free(sc), free(sc1);
    am_free(x);
    return am_test_finish();
}
