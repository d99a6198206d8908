/* Seeded synthetic embeddings for the analysis tests: well-separated Gaussian clusters. */
#ifndef AM_TEST_SYNTH_H
#define AM_TEST_SYNTH_H

#include <stdint.h>
#include <stdlib.h>

#include "astromorph/rng.h"
#include "astromorph/tensor.h"

/* n points in `dim` dimensions around `k` centres drawn with spread `sep`, unit noise. Point i
 * belongs to cluster i % k (written to label when not NULL). Returns am_malloc'd n × dim. */
static inline float *synth_clusters(int64_t n, int64_t dim, int k, double sep, uint64_t seed, int32_t *label)
{
    am_rng r;
    am_rng_init(&r, seed, 1);
    float *c = malloc((size_t)k * (size_t)dim * sizeof *c);
    float *x = am_malloc((size_t)n * (size_t)dim * sizeof *x);
    for (int64_t i = 0; i < (int64_t)k * dim; i++) c[i] = (float)(sep * am_rng_normal(&r));
    for (int64_t i = 0; i < n; i++) {
        int cl = (int)(i % k);
        if (label) label[i] = cl;
        for (int64_t d = 0; d < dim; d++) x[i * dim + d] = c[cl * dim + d] + (float)am_rng_normal(&r);
    }
    free(c);
    return x;
}

#endif
