/* Hybrid embeddings: the learned embedding and the morphology statistics side by side, each
 * column z-scored with means and spreads fitted once (at the end of training, over every image the
 * run was given, and stored with the model), each block scaled so that its share of a squared distance
 * is (1 - weight) and weight whatever its width:
 *
 *     out = [ (1 - w) · z(learned) / sqrt(D),  w · z(statistics) / sqrt(S) ]
 *
 * An undefined statistic (NaN: no source, too few pixels) becomes the mean (0 after z-scoring).
 * docs/quality.md has the measurements behind the weight. */
#ifndef ASTROMORPH_HYBRID_H
#define ASTROMORPH_HYBRID_H

#include <stdint.h>

#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct am_hybrid {
    double weight; /* the statistics' share, in [0, 1] */
    int64_t dim; /* learned values per row */
    int64_t nstat; /* statistics per row */
    float *mean; /* dim + nstat column means */
    float *scale; /* dim + nstat: block share / (sqrt(block width) · column spread), 0 for a
                       constant column */
} am_hybrid;

/* Fits the columns' means and spreads on n rows (learned: n × dim, statistics: n × nstat). */
am_status am_hybrid_fit(am_hybrid *h, const float *learned, int64_t n, int64_t dim, const float *stats, int64_t nstat,
                        double weight);
/* One row: out (dim + nstat values) from a learned row and a statistics row. */
void am_hybrid_apply(const am_hybrid *h, const float *learned, const float *stats, float *out);
void am_hybrid_free(am_hybrid *h);

/* The fit as a JSON text (new, free with free()) for a model file's metadata, and back. */
char *am_hybrid_to_json(const am_hybrid *h);
am_status am_hybrid_from_json(am_hybrid *h, const char *json, const char *what);

#ifdef __cplusplus
}
#endif
#endif
