/* The gradient sum over MPI ranks on its own: the ordered chain plus broadcast that training
 * runs every step (am_dist_chain_sum_f32), timed for arrays from 1 K to 16 M floats, with a fitted
 * latency and per-byte cost that docs/scaling.md's model uses.
 *
 *   mpirun -np N bench_chain [--max-floats M] [--repeats R]
 *
 * Without MPI (or on one rank) it says so and exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "astromorph/runtime.h"
#include "dist/dist_internal.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (am_dist_init(&argc, &argv) != AM_OK) {
        fprintf(stderr, "bench_chain: %s\n", am_errmsg());
        return 1;
    }
    int64_t max = (int64_t)1 << 24;
    int repeats = 9;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--max-floats")) max = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--repeats")) repeats = atoi(argv[i + 1]);
    }
    const int rank = am_dist_rank(), size = am_dist_size();
    if (size < 2) {
        printf("bench_chain: run it under mpirun with 2 or more ranks (astromorph %s MPI)\n",
               am_dist_built_with_mpi() ? "is built with" : "is built without");
        am_dist_finalize();
        return 0;
    }
    float *a = malloc((size_t)max * sizeof *a), *dst = malloc((size_t)max * sizeof *dst);
    double *t = malloc((size_t)repeats * sizeof *t);
    if (!a || !dst || !t) return 1;
    for (int64_t j = 0; j < max; j++) a[j] = (float)(j % 97) * 0.01f;
    float *loc[1] = {a};
    if (rank == 0) {
        printf("# ordered gradient sum over %d ranks (chain + broadcast), median of %d\n", size, repeats);
        printf("%12s %12s %12s\n", "floats", "ms", "GB/s");
    }
    double t_small = 0, t_large = 0, b_large = 0;
    for (int64_t m = 1024; m <= max; m *= 4) {
        for (int r = 0; r < repeats; r++) {
            double b = 0;
            am_dist_sum_disjoint_f64(&b, 1); /* a barrier: start together */
            double t0 = am_monotonic_seconds();
            if (am_dist_chain_sum_f32(dst, loc, 1, m) != AM_OK) return 1;
            t[r] = am_monotonic_seconds() - t0;
            /* the slowest rank's time is the step's */
            double *all = calloc((size_t)size, sizeof *all);
            all[rank] = t[r];
            am_dist_sum_disjoint_f64(all, size);
            for (int k = 0; k < size; k++) t[r] = all[k] > t[r] ? all[k] : t[r];
            free(all);
        }
        qsort(t, (size_t)repeats, sizeof *t, cmp_double);
        double med = t[repeats / 2], bytes = 4.0 * (double)m;
        if (rank == 0) printf("%12lld %12.3f %12.2f\n", (long long)m, 1e3 * med, bytes / med * 1e-9);
        if (m == 1024) t_small = med;
        t_large = med, b_large = bytes;
    }
    /* time = alpha + beta · bytes: the latency from the smallest array, the cost per byte from
     * the largest (a least-squares fit over sizes spanning decades is all large sizes) */
    double alpha = t_small, beta = (t_large - t_small) / b_large;
    if (rank == 0) {
        printf("fit: %.1f us + %.3f ns per byte (%.2f GB/s effective)\n", 1e6 * alpha, 1e9 * beta, 1e-9 / beta);
        printf("RESULT mode=chain ranks=%d alpha_us=%.2f beta_ns_per_byte=%.4f\n", size, 1e6 * alpha, 1e9 * beta);
    }
    free(a), free(dst), free(t);
    am_dist_finalize();
    return 0;
}
