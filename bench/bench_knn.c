/* The shared neighbour search (src/analysis/knn.h) by method on N × D rows (default 20 000 ×
 * 128, k 30): the exact blocked sgemm, FAISS flat and FAISS IVF (automatic lists, 32 probed),
 * each timed with its recall@k against the exact search. Rows are Gaussian (the worst case
 * for IVF: no clusters to find), or around `clusters` centres when that is given.
 *   bench_knn [N] [D] [k] [clusters] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "analysis/knn.h"
#include "bench_rows.h"
#include "astromorph/runtime.h"
#include "astromorph/tensor.h"

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 20000, dim = argc > 2 ? atoll(argv[2]) : 128;
    int k = argc > 3 ? atoi(argv[3]) : 30, ncl = argc > 4 ? atoi(argv[4]) : 0;
    if (n <= k || dim < 1 || k < 1 || ncl < 0) {
        fprintf(stderr, "usage: bench_knn [N > k] [D] [k] [clusters]\n");
        return 2;
    }
    float *x = bench_rows(n, dim, ncl);
    int64_t *want = malloc((size_t)n * k * sizeof *want), *idx = malloc((size_t)n * k * sizeof *idx);
    float *sc = malloc((size_t)n * k * sizeof *sc);
    if (!x || !want || !idx || !sc) {
        fprintf(stderr, "bench_knn: out of memory\n");
        return 1;
    }
    printf("kNN bench: %lld x %lld, k %d, %d clusters, %d threads, FAISS %s\n", (long long)n, (long long)dim, k, ncl,
           am_get_threads(), am_knn_have_faiss() ? "yes" : "no");
    const char *names[] = {"exact", "flat", "ivf"};
    const am_knn_method methods[] = {AM_KNN_EXACT, AM_KNN_FLAT, AM_KNN_IVF};
    for (int m = 0; m < (am_knn_have_faiss() ? 3 : 1); m++) {
        am_knn_options o;
        am_knn_options_default(&o);
        o.method = methods[m];
        double t = am_monotonic_seconds();
        if (am_knn_search(x, n, dim, AM_METRIC_EUCLIDEAN, k, &o, m ? idx : want, sc) != AM_OK) {
            fprintf(stderr, "bench_knn: %s\n", am_errmsg());
            return 1;
        }
        t = am_monotonic_seconds() - t;
        int64_t hits = 0;
        for (int64_t i = 0; m && i < n; i++)
            for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++) hits += idx[i * k + a] == want[i * k + b];
        printf("%-6s %8.2f s  recall@%d %.4f\n", names[m], t, k, m ? (double)hits / ((double)n * k) : 1.0);
    }
    am_free(x);
    free(want), free(idx), free(sc);
    return 0;
}
