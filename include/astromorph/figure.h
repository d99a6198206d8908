/* Figures of the analysis commands, drawn with cairo into PNG or PDF (chosen by the path's
 * extension, written atomically). Images appear as paper-style thumbnails supplied by a
 * callback, so this module never reads FITS files itself; a row whose thumbnail cannot be made
 * is drawn as a labelled grey box.
 *  - am_figure_similar:  the query and its neighbours with names and scores, above a PCA map
 *                        with the query and neighbours highlighted (the paper's Fig. 3);
 *  - am_figure_map:      one or more scatter panels (t-SNE, PCA PC1–PC2 and PC2–PC3) with
 *                        thumbnails drawn at their points, coloured by cluster (Figs. 2 and 5);
 *  - am_figure_clusters: example thumbnails for each cluster;
 *  - am_figure_outliers: the top-ranked outliers with their scores. */
#ifndef ASTROMORPH_FIGURE_H
#define ASTROMORPH_FIGURE_H

#include <stddef.h>
#include <stdint.h>

#include "astromorph/embeddings.h"
#include "astromorph/similarity.h"
#include "astromorph/status.h"
#include "astromorph/thumbnail.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fills *out with a thumbnail of row `row` (about size × size pixels). */
typedef am_status (*am_thumb_source)(void *user, int64_t row, int size, am_thumbnail *out);

typedef struct am_figure_options {
    am_thumb_source thumbs; /* NULL: grey boxes */
    void *user;
    const char *title; /* NULL: a title made from the data */
    /* Maps: what the labels mean. NULL legend_title: cluster numbers. With legend_names, label j
     * is called legend_names[j]; with `ordered` > 0, labels 0..ordered-1 are ordered bins (a
     * sequential colour ramp) and label `ordered` means undefined (grey). */
    const char *legend_title;
    const char *const *legend_names;
    int ordered;
} am_figure_options;

/* A scatter panel: point i is at (coords[i*stride + ax], coords[i*stride + ay]). */
typedef struct am_fig_panel {
    const float *coords;
    int stride, ax, ay;
    const char *xlabel, *ylabel, *title;
} am_fig_panel;

/* A short display name for a row: OBJECT when known, else the file name without folders and
 * extension, else "row <i>". */
const char *am_fig_row_name(const am_embeddings *e, int64_t row, char *buf, size_t len);

/* pca: n × 2 coordinates of every row (NULL: no map panel); pca_ratio: their explained
 * variance ratios (may be NULL). */
am_status am_figure_similar(const char *path, const am_embeddings *e, int64_t query, const am_neighbor *nb, int k,
                            am_metric metric, const float *pca, const double *pca_ratio, const am_figure_options *o);

/* labels (may be NULL) colour the points; at most max_thumbs thumbnails per panel are placed,
 * without overlapping, chosen in a seeded order that favours distinct regions. */
am_status am_figure_map(const char *path, const am_embeddings *e, const am_fig_panel *panels, int npanels,
                        const int32_t *labels, int max_thumbs, const am_figure_options *o);

/* examples: k × per row indices (-1 = none), e.g. the members nearest each centroid. */
am_status am_figure_clusters(const char *path, const am_embeddings *e, const int32_t *labels, int k,
                             const int64_t *examples, int per, const am_figure_options *o);

/* order: rows by descending score; the first `top` are drawn with `score_name` and their score. */
am_status am_figure_outliers(const char *path, const am_embeddings *e, const int64_t *order, const double *score,
                             int top, const char *score_name, const am_figure_options *o);

#ifdef __cplusplus
}
#endif
#endif
