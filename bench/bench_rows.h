/* The rows bench_knn and bench_index search: n × dim, around ncl centres (spread 3, or `spread`,
 * unit noise; row i in centre i % ncl), plain Gaussian when ncl is 0. Seeded: the same rows every
 * run. Returns am_malloc'd rows, NULL when out of memory. */
#ifndef AM_BENCH_ROWS_H
#define AM_BENCH_ROWS_H

#include <stdint.h>
#include <stdlib.h>

#include "astromorph/rng.h"
#include "astromorph/tensor.h"

static inline float *bench_rows_spread(int64_t n, int64_t dim, int ncl, double spread)
{
    float *x = am_malloc((size_t)n * (size_t)dim * sizeof *x), *c = malloc((size_t)(ncl + 1) * dim * sizeof *c);
    if (!x || !c) {
        am_free(x);
        free(c);
        return NULL;
    }
    am_rng r;
    am_rng_init(&r, 3, 0);
    for (int64_t i = 0; i < (int64_t)ncl * dim; i++) c[i] = (float)(spread * am_rng_normal(&r));
    for (int64_t i = 0; i < n; i++)
        for (int64_t d = 0; d < dim; d++)
            x[i * dim + d] = (ncl ? c[(i % ncl) * dim + d] : 0) + (float)am_rng_normal(&r);
    free(c);
    return x;
}

static inline float *bench_rows(int64_t n, int64_t dim, int ncl) { return bench_rows_spread(n, dim, ncl, 3); }

#endif
