/* Hybrid embeddings: the learned embedding and the morphology statistics side by side, each
 * column z-scored with means and spreads fitted once (at the end of training, over every image the
 * run was given, and stored with the model), each block scaled so that its share of a squared distance
 * is (1 - weight) and weight whatever its width:
 *
 *     out = [ (1 - w) · z(learned) / sqrt(D),  w · z(statistics) / sqrt(S) ]
 *
 * An undefined statistic (NaN: no source, too few pixels) becomes the mean (0 after z-scoring).
 *
 * How each block is scaled is a choice (am_hybrid_options): the learned block per column as above,
 * or as a whole, (1 - w) · (learned - mean) / sqrt(total variance), which keeps its shape, so a
 * few strong directions are not drowned by many weak ones given equal weight; the statistics by
 * mean and standard deviation as above, or by median and MAD (1.4826 · median |x - median|),
 * which a few extreme values do not set. Every choice is a per-column offset and scale, so a fit
 * is stored and applied the same way. docs/quality.md has the measurements behind the choices. */
#ifndef ASTROMORPH_HYBRID_H
#define ASTROMORPH_HYBRID_H

#include <stdint.h>

#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum am_hybrid_scale {
    AM_HYBRID_COLUMNS, /* each column to unit spread, then the block's share / sqrt(width) */
    AM_HYBRID_BLOCK, /* the whole block by one scale: its share / sqrt(total variance) */
    AM_HYBRID_ROBUST /* each column by median and MAD (a MAD of 0: the standard deviation) */
} am_hybrid_scale;

typedef struct am_hybrid_options {
    double weight; /* the statistics' share, in [0, 1] */
    am_hybrid_scale learned; /* AM_HYBRID_COLUMNS */
    am_hybrid_scale stats; /* AM_HYBRID_COLUMNS */
} am_hybrid_options;

/* Our defaults: weight 0.5, both blocks per column. */
void am_hybrid_options_default(am_hybrid_options *o);
/* The scalings' names in am_hybrid_scale's order, NULL-terminated (the settings' choices too). */
extern const char *const am_hybrid_scale_names[];
const char *am_hybrid_scale_name(am_hybrid_scale s);
/* The scaling of a name ("columns", "block", "robust"); AM_ERR_VALUE naming the choices. */
am_status am_hybrid_scale_parse(const char *name, am_hybrid_scale *s);

typedef struct am_hybrid {
    double weight; /* the statistics' share, in [0, 1] */
    int64_t dim; /* learned values per row */
    int64_t nstat; /* statistics per row */
    float *mean; /* dim + nstat column means */
    float *scale; /* dim + nstat: block share / (sqrt(block width) · column spread), 0 for a
                       constant column (or as learned_scale and stats_scale say) */
    am_hybrid_scale learned_scale, stats_scale; /* how the fit was made (a record: apply does not
                                                   need it); absent in older models: columns */
} am_hybrid;

/* Fits the columns' means and spreads on n rows (learned: n × dim, statistics: n × nstat), both
 * blocks per column. */
am_status am_hybrid_fit(am_hybrid *h, const float *learned, int64_t n, int64_t dim, const float *stats, int64_t nstat,
                        double weight);
/* The same with each block scaled as o says. */
am_status am_hybrid_fit_with(am_hybrid *h, const float *learned, int64_t n, int64_t dim, const float *stats,
                             int64_t nstat, const am_hybrid_options *o);
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
