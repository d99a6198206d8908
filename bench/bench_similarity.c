/* Exact similarity search speed: one query against N embeddings of D dimensions (default
 * 250 000 × 512, 0.5 GB; the target is 10^6 × 512 in under a second per query).
 *   bench_similarity [N] [D] [queries]
 * The search streams the whole matrix once per query (sgemv), so time grows linearly with N;
 * the bandwidth printed is what a larger N would see. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "astromorph/rng.h"
#include "astromorph/runtime.h"
#include "astromorph/similarity.h"
#include "astromorph/tensor.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 250000, dim = argc > 2 ? atoll(argv[2]) : 512;
    int queries = argc > 3 ? atoi(argv[3]) : 20;
    if (n < 10 || dim < 1 || queries < 1) {
        fprintf(stderr, "usage: bench_similarity [N] [D] [queries]\n");
        return 2;
    }
    float *x = am_malloc((size_t)n * (size_t)dim * sizeof *x), *sq = am_malloc((size_t)n * sizeof *sq);
    uint8_t *ex = calloc((size_t)n, 1);
    if (!x || !sq || !ex) {
        fprintf(stderr, "bench_similarity: out of memory for %lld x %lld\n", (long long)n, (long long)dim);
        return 1;
    }
    double t0 = am_monotonic_seconds();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        am_rng r;
        am_rng_init(&r, 1, (uint64_t)i);
        for (int64_t d = 0; d < dim; d++) x[i * dim + d] = (float)am_rng_normal(&r);
    }
    double t1 = am_monotonic_seconds();
    am_row_sqnorms(x, n, dim, sq);
    double t2 = am_monotonic_seconds();
    printf("data: %lld x %lld float32 (%.2f GB), generated in %.2f s; squared norms once: %.3f s\n", (long long)n,
           (long long)dim, n * dim * 4e-9, t1 - t0, t2 - t1);
    am_neighbor nb[10];
    int found;
    for (int m = 0; m < 2; m++) {
        am_metric metric = m ? AM_METRIC_EUCLIDEAN : AM_METRIC_COSINE;
        double *t = malloc((size_t)queries * sizeof *t);
        for (int q = 0; q < queries; q++) {
            int64_t row = (int64_t)q * (n / queries);
            ex[row] = 1;
            double a = am_monotonic_seconds();
            if (am_similar(x, n, dim, sq, x + row * dim, metric, 10, ex, nb, &found) != AM_OK) {
                fprintf(stderr, "bench_similarity: %s\n", am_errmsg());
                return 1;
            }
            t[q] = am_monotonic_seconds() - a;
            ex[row] = 0;
        }
        qsort(t, (size_t)queries, sizeof *t, cmp_d);
        double med = t[queries / 2];
        printf("%-9s k=10: median %.1f ms/query (min %.1f, max %.1f) over %d queries, %.1f GB/s; "
               "linear extrapolation to 1e6 x %lld: %.0f ms/query\n",
               am_metric_name(metric), 1e3 * med, 1e3 * t[0], 1e3 * t[queries - 1], queries, n * dim * 4e-9 / med,
               (long long)dim, 1e3 * med * 1e6 / (double)n);
        free(t);
    }
    am_free(x);
    am_free(sq);
    free(ex);
    return 0;
}
