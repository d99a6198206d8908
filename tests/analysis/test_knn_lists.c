/* Our inverted-list k-NN graph (src/analysis/knn_lists.c, AM_KNN_LISTS) against the exact search:
 * every list probed, it is the exact answer, ties and duplicate rows included; with nprobe
 * chosen by the recall check, the recall over every row is within the check's sampling error
 * of what the check measured, and at least 0.95; the same answer on one thread as on two; the
 * smallest sets and bad options. Needs no FAISS. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "analysis/knn.h"
#include "synth.h"
#include "test_util.h"

enum { N = 4000, DIM = 32, K = 30, DUP = 30, SAMPLE = 500 };

/* Clusters, DUP copies of one row (ties at distance 0) and a block of small-integer points (ties
 * at equal distances, exact in float too), as test_knn plants them. */
static float *planted(double sep)
{
    float *x = synth_clusters(N, DIM, 12, sep, 7, NULL);
    for (int i = 1; i < DUP; i++) memcpy(x + (int64_t)(100 + i) * DIM, x + 100 * DIM, DIM * sizeof *x);
    for (int64_t i = 200; i < 456; i++)
        for (int d = 0; d < DIM; d++) x[i * DIM + d] = d < 4 ? (float)(((i - 200) >> (2 * d)) & 3) + 40 : 40;
    return x;
}

static am_status lists(const float *x, int64_t n, am_metric m, int k, int64_t nlist, int64_t nprobe, int64_t *idx,
                       float *sc, am_knn_report *rep)
{
    am_knn_options o;
    am_knn_options_default(&o);
    o.method = AM_KNN_LISTS, o.nlist = nlist, o.nprobe = nprobe, o.report = rep;
    return am_knn_search(x, n, DIM, m, k, &o, idx, sc);
}

static int64_t differ(const int64_t *a, const float *as, const int64_t *b, const float *bs, int64_t count)
{
    int64_t d = 0;
    for (int64_t i = 0; i < count; i++) d += a[i] != b[i] || as[i] != bs[i];
    return d;
}

/* Every list probed: every row is a candidate, so the answer is the exact one. */
static void all_probed(const float *x, am_metric m, const int64_t *want, const float *wsc)
{
    int64_t *idx = malloc(N * K * sizeof *idx);
    float *sc = malloc(N * K * sizeof *sc);
    am_knn_report rep;
    CHECK_OK(lists(x, N, m, K, 40, 40, idx, sc, &rep));
    CHECK(rep.method == AM_KNN_LISTS && rep.nlist == 40 && rep.nprobe == 40, "report: method %d, %lld of %lld",
          (int)rep.method, (long long)rep.nprobe, (long long)rep.nlist);
    int64_t d = differ(idx, sc, want, wsc, N * K);
    CHECK(d == 0, "%s: all lists probed differs from exact in %lld of %d entries", am_metric_name(m), (long long)d,
          N * K);
    free(idx), free(sc);
}

/* Recall over every row with nprobe chosen by the check. The check's estimate is the mean of
 * SAMPLE per-row recalls, so it is off the mean over all rows by about their standard deviation
 * over √SAMPLE; three of those are allowed (the rows' deviation measured here). */
static void tuned(const float *x, am_metric m, const int64_t *want)
{
    int64_t *idx = malloc(N * K * sizeof *idx), *idx1 = malloc(N * K * sizeof *idx1);
    float *sc = malloc(N * K * sizeof *sc), *sc1 = malloc(N * K * sizeof *sc1);
    am_knn_report rep;
#ifdef _OPENMP
    const int nt = omp_get_max_threads();
    omp_set_num_threads(2);
#endif
    CHECK_OK(lists(x, N, m, K, 0, 0, idx, sc, &rep));
    double sum = 0, sum2 = 0;
    for (int64_t i = 0; i < N; i++) {
        int hits = 0;
        for (int a = 0; a < K; a++)
            for (int b = 0; b < K; b++) hits += idx[i * K + a] == want[i * K + b];
        sum += (double)hits / K, sum2 += (double)hits / K * hits / K;
    }
    const double recall = sum / N, sd = sqrt(fmax(0, sum2 / N - recall * recall));
    printf("%s: %lld lists, %lld probed, check's recall %.4f, every row's %.4f (sd %.4f)\n", am_metric_name(m),
           (long long)rep.nlist, (long long)rep.nprobe, rep.recall, recall, sd);
    CHECK(rep.method == AM_KNN_LISTS, "%s: the lists gave way to the exact search on clustered rows",
          am_metric_name(m));
    CHECK(rep.recall >= 0.96 && rep.recall_queries == SAMPLE, "%s: check's recall %.4f on %lld rows", am_metric_name(m),
          rep.recall, (long long)rep.recall_queries);
    CHECK(recall >= rep.recall - 3 * sd / sqrt(SAMPLE) && recall >= 0.95,
          "%s: recall@%d %.4f over every row, the check said %.4f (sd %.4f)", am_metric_name(m), K, recall, rep.recall,
          sd);
    /* found rows are never the row itself, and a found list is sorted (scores exact) */
    int64_t bad = 0;
    for (int64_t i = 0; i < N; i++)
        for (int a = 0; a < K; a++) {
            bad += idx[i * K + a] == i;
            if (a)
                bad += m == AM_METRIC_EUCLIDEAN ? sc[i * K + a] < sc[i * K + a - 1] : sc[i * K + a] > sc[i * K + a - 1];
        }
    CHECK(bad == 0, "%s: %lld self neighbours or unsorted lists", am_metric_name(m), (long long)bad);
#ifdef _OPENMP
    omp_set_num_threads(1);
    CHECK_OK(lists(x, N, m, K, 0, 0, idx1, sc1, NULL));
    omp_set_num_threads(nt);
    CHECK(differ(idx, sc, idx1, sc1, N * K) == 0, "%s: one thread differs from two", am_metric_name(m));
#endif
    free(idx), free(idx1), free(sc), free(sc1);
}

int main(void)
{
    float *x = planted(4.0);
    int64_t *want = malloc(N * K * sizeof *want);
    float *wsc = malloc(N * K * sizeof *wsc);
    for (int mi = 0; mi < 2; mi++) {
        am_metric m = mi ? AM_METRIC_COSINE : AM_METRIC_EUCLIDEAN;
        CHECK_OK(am_knn_all(x, N, DIM, m, K, want, wsc));
        all_probed(x, m, want, wsc);
        tuned(x, m, want);
    }
    /* overlapping clusters: the check has to raise nprobe */
    float *hard = planted(0.7);
    CHECK_OK(am_knn_all(hard, N, DIM, AM_METRIC_EUCLIDEAN, K, want, wsc));
    tuned(hard, AM_METRIC_EUCLIDEAN, want);
    am_free(hard);
    CHECK_OK(am_knn_all(x, N, DIM, AM_METRIC_COSINE, K, want, wsc));
    /* the duplicates' neighbours are the other copies, lowest rows first (all probed above) */
    CHECK(want[100 * K] == 101 && want[101 * K] == 100 && want[101 * K + 1] == 102, "tie order");

    /* n = k + 1, one list: every other row, in the exact order */
    int64_t sidx[(K + 1) * K], swant[(K + 1) * K];
    float ssc[(K + 1) * K], sw[(K + 1) * K];
    CHECK_OK(am_knn_all(x + 100 * DIM, K + 1, DIM, AM_METRIC_EUCLIDEAN, K, swant, sw));
    CHECK_OK(lists(x + 100 * DIM, K + 1, AM_METRIC_EUCLIDEAN, K, 0, 0, sidx, ssc, NULL));
    CHECK(differ(sidx, ssc, swant, sw, (K + 1) * K) == 0, "n = k + 1 (duplicates and integer points) differs");
    /* n <= k, more lists than rows */
    CHECK_FAILS(lists(x, K, AM_METRIC_EUCLIDEAN, K, 0, 0, sidx, ssc, NULL), AM_ERR_VALUE, "n > k");
    CHECK_FAILS(lists(x, 100, AM_METRIC_EUCLIDEAN, K, 200, 4, want, wsc, NULL), AM_ERR_VALUE, "nlist 200");
    x[3 * DIM + 2] = NAN;
    CHECK_FAILS(lists(x, 100, AM_METRIC_EUCLIDEAN, K, 0, 0, want, wsc, NULL), AM_ERR_NUMERIC, "row 3");
    free(want), free(wsc);
    am_free(x);
    return am_test_finish();
}
