/* The shared neighbour search (src/analysis/knn.h) by method on N × D rows (default 20 000 ×
 * 128, k 30): the exact blocked sgemm, FAISS flat, FAISS IVF (automatic lists, 32 probed) and
 * our lists (knn_lists.c: nprobe tuned to the recall), each timed with its recall@k against the
 * exact search: over every row when the exact search runs (N <= 50 000, or `exact` asked), else
 * on 1000 seeded rows searched exactly (counting a found row as a hit when its distance is
 * within the true k-th's). Rows are Gaussian (the worst case for IVF: no clusters to find), or
 * around `clusters` centres (spread 3, or `spread`: bench/tsne_scale's embeddings are 20 of
 * spread 0.5) when that is given. `methods` is a comma list of exact, flat, ivf and lists
 * (default: all that apply).
 * nlist and nprobe, when given and not 0, are the lists' (else chosen as the search chooses them).
 *   bench_knn [N] [D] [k] [clusters] [methods] [spread] [nlist] [nprobe] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/knn.h"
#include "analysis/search_internal.h"
#include "astromorph/kmeans.h"
#include "astromorph/runtime.h"
#include "astromorph/tensor.h"
#include "bench_rows.h"

enum { SAMPLE = 1000 };

/* Recall@k of idx on SAMPLE seeded rows against their exact search (ties count as found). */
static double sample_recall(const float *x, int64_t n, int64_t dim, int k, const int64_t *idx, const float *sc)
{
    const int64_t nq = n < SAMPLE ? n : SAMPLE;
    int64_t *rows = malloc((size_t)n * sizeof *rows), *ex = malloc((size_t)nq * (k + 1) * sizeof *ex);
    double *exb = malloc((size_t)nq * (k + 1) * sizeof *exb);
    int *cnt = calloc((size_t)nq, sizeof *cnt);
    float *q = am_malloc((size_t)nq * (size_t)dim * sizeof *q);
    am_silhouette_sample(n, nq, 7, rows);
    for (int64_t i = 0; i < nq; i++) memcpy(q + i * dim, x + rows[i] * dim, (size_t)dim * sizeof *q);
    double r = -1;
    if (am_knn_block(q, nq, -nq, x, n, 0, dim, AM_METRIC_EUCLIDEAN, k + 1, ex, exb, cnt) == AM_OK) {
        int64_t hits = 0;
        for (int64_t i = 0; i < nq; i++) {
            double kth = 0;
            for (int j = 0, m = 0; j <= k && m < k; j++)
                if (ex[i * (k + 1) + j] != rows[i]) kth = exb[i * (k + 1) + j], m++;
            /* scores are exact distances: compare squared, with float's rounding */
            for (int j = 0; j < k; j++) {
                double d = sc[rows[i] * k + j];
                hits += d * d <= kth * (1 + 1e-6);
            }
        }
        r = (double)hits / ((double)nq * k);
    }
    free(rows), free(ex), free(exb), free(cnt);
    am_free(q);
    return r;
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 20000, dim = argc > 2 ? atoll(argv[2]) : 128;
    int k = argc > 3 ? atoi(argv[3]) : 30, ncl = argc > 4 ? atoi(argv[4]) : 0;
    const char *want_methods = argc > 5 ? argv[5] : NULL;
    if (n <= k || dim < 1 || k < 1 || ncl < 0) {
        fprintf(stderr,
                "usage: bench_knn [N > k] [D] [k] [clusters] [exact,flat,ivf,lists] [spread] [nlist] [nprobe]\n");
        return 2;
    }
    const double spread = argc > 6 ? atof(argv[6]) : 3;
    float *x = bench_rows_spread(n, dim, ncl, spread);
    int64_t *want = malloc((size_t)n * k * sizeof *want), *idx = malloc((size_t)n * k * sizeof *idx);
    float *sc = malloc((size_t)n * k * sizeof *sc);
    if (!x || !want || !idx || !sc) {
        fprintf(stderr, "bench_knn: out of memory\n");
        return 1;
    }
    printf("kNN bench: %lld x %lld, k %d, %d clusters (spread %g), %d threads, FAISS %s\n", (long long)n,
           (long long)dim, k, ncl, spread, am_get_threads(), am_knn_have_faiss() ? "yes" : "no");
    const char *names[] = {"exact", "flat", "ivf", "lists"};
    const am_knn_method methods[] = {AM_KNN_EXACT, AM_KNN_FLAT, AM_KNN_IVF, AM_KNN_LISTS};
    int have_exact = 0;
    for (int m = 0; m < 4; m++) {
        if (want_methods ? !strstr(want_methods, names[m])
                         : ((m == 1 || m == 2) && !am_knn_have_faiss()) || (m == 0 && n > AM_KNN_LISTS_MIN_ROWS))
            continue;
        am_knn_options o;
        am_knn_report rep;
        am_knn_options_default(&o);
        o.method = methods[m];
        if (m == 3) o.nlist = argc > 7 ? atoll(argv[7]) : 0, o.nprobe = argc > 8 ? atoll(argv[8]) : 0;
        o.report = &rep;
        double t = am_monotonic_seconds();
        if (am_knn_search(x, n, dim, AM_METRIC_EUCLIDEAN, k, &o, m ? idx : want, sc) != AM_OK) {
            fprintf(stderr, "bench_knn: %s\n", am_errmsg());
            return 1;
        }
        t = am_monotonic_seconds() - t;
        have_exact |= m == 0;
        double recall = 1;
        if (m && have_exact) {
            int64_t hits = 0;
            for (int64_t i = 0; i < n; i++)
                for (int a = 0; a < k; a++)
                    for (int b = 0; b < k; b++) hits += idx[i * k + a] == want[i * k + b];
            recall = (double)hits / ((double)n * k);
        } else if (m) {
            recall = sample_recall(x, n, dim, k, idx, sc);
        }
        printf("%-6s %8.2f s  recall@%d %.4f (%s)", names[m], t, k, recall, have_exact ? "every row" : "1000 rows");
        if (m == 3)
            printf("  %lld lists, %lld probed, sample recall %.4f; lists %.2f s, nprobe %.2f s, search %.2f s",
                   (long long)rep.nlist, (long long)rep.nprobe, rep.recall, rep.lists_s, rep.tune_s, rep.search_s);
        printf("\n");
    }
    am_free(x);
    free(want), free(idx), free(sc);
    return 0;
}
