/* The explorer: one folder with index.html, data.js and thumbnail atlases that any browser opens
 * from file://, offline, with no server: a t-SNE (or PCA) map drawn with thumbnails, colour by
 * cluster, outlier score or any column, a click shows an object's header metadata and its most
 * similar objects, search by OBJECT, a ranked outlier list, box selection downloaded as CSV or a
 * file list. The page exposes window.astromorph (count, select, neighbours, selection) for
 * scripts and tests. */
#ifndef ASTROMORPH_EXPLORE_H
#define ASTROMORPH_EXPLORE_H

#include "astromorph/embeddings.h"
#include "astromorph/knn_index.h"
#include "astromorph/status.h"
#include "astromorph/thumbnail.h"

typedef enum { AM_EXPLORE_MAP_AUTO = 0, AM_EXPLORE_MAP_TSNE, AM_EXPLORE_MAP_PCA } am_explore_map;

/* Above this many rows the automatic map is PCA: FFT t-SNE took 31 s at 10^4 and 329 s at 10^5
 * points (docs/analysis.md), so 10^6 is about an hour, the most worth waiting for. */
#define AM_EXPLORE_TSNE_MAX 1000000

typedef struct am_explore_options {
    int neighbours; /* look-alikes per object (10) */
    int thumb_size; /* thumbnail side in the atlases (64) */
    am_explore_map map; /* auto: t-SNE up to AM_EXPLORE_TSNE_MAX rows, PCA beyond */
    uint64_t seed; /* of the t-SNE */
    int tsne_iterations; /* 0: t-SNE's default (1000) */
    int64_t max_thumbs; /* at most this many thumbnails, spread over the map (20 000) */
    /* A saved cosine index over the rows (knn_index.h, checked fresh by the caller) for the
     * look-alikes and outlier scores; NULL: am_knn_search's own (exact below 50 000 rows) */
    const am_knn_index *index;
} am_explore_options;

void am_explore_options_default(am_explore_options *o);

/* Row `row`'s thumbnail (am_thumbnail_make); AM_ERR_NOTFOUND when there is none (the page then
 * draws a point). */
typedef am_status (*am_explore_thumb_fn)(void *user, int64_t row, int size, am_thumbnail *out);

/* Writes dir/index.html, dir/data.js and dir/atlas_*.png (each under a temporary name, renamed
 * when complete). thumb may be NULL (no thumbnails). */
am_status am_explore_write(const am_embeddings *e, const am_explore_options *o, am_explore_thumb_fn thumb, void *user,
                           const char *dir);

#endif
