/* Datasets of images: a file list, a directory, one large image cut into objects by a mask, or
 * tensors already in memory. Items are C×H×W float32 images (NaN/Inf cleaned, never constant),
 * each of its own size, with metadata.
 *
 * File datasets load lazily: decoded images stay in a cache bounded in bytes (least recently
 * used out first), and a background thread reads ahead the indices the trainer announces with
 * am_dataset_prefetch. What am_dataset_get returns does not depend on the cache or prefetch.
 * am_dataset_get may be called from several threads at once.
 *
 * Before training, am_dataset_validate reads every file once and reports every bad one (one
 * line each), so a long run never dies at image 9000 of 10000. */
#ifndef ASTROMORPH_DATASET_H
#define ASTROMORPH_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "astromorph/fits.h"
#include "astromorph/meta.h"
#include "astromorph/status.h"
#include "astromorph/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct am_dataset am_dataset;

/* How a mask becomes objects. AUTO: LABELS when any mask value is above 1, else BINARY. */
typedef enum {
    AM_MASK_AUTO = 0,
    AM_MASK_BINARY, /* every 8-connected group of nonzero pixels is one object */
    AM_MASK_LABELS /* every positive integer value is one object, connected or not */
} am_mask_mode;

typedef struct am_dataset_options {
    am_fits_options fits; /* nan_policy, extra header keys, max_channels */
    int skip_bad_files; /* validate: warn and leave bad files out instead of failing (0) */
    size_t cache_bytes; /* bound on decoded images kept in memory (256 MiB); 0: none */
    int prefetch; /* images read ahead by the background thread (4); 0: no thread */
    am_mask_mode mask_mode; /* AM_MASK_AUTO */
    int min_object_size; /* mask objects: both bounding-box sides at least this (6, as the
                                 original's "> 5") */
    int64_t min_object_pixels; /* mask objects: at least this many pixels (1) */
} am_dataset_options;

void am_dataset_options_default(am_dataset_options *o);

/* `datafile` is either a text file listing images (one path per line; blank lines and lines
 * starting with '#' ignored; surrounding spaces trimmed; relative paths resolved against the
 * list's folder; a path may end in [ext]), a directory, whose files named *.fits* are taken
 * in sorted order, or one FITS file. Nothing is read yet beyond the list. Indices are those of
 * the list until am_dataset_validate leaves items out; then they count the kept ones. */
am_status am_dataset_open(am_dataset **ds, const char *datafile, const am_dataset_options *opt);
/* The same from paths in memory (used as given). */
am_status am_dataset_open_paths(am_dataset **ds, const char *const *paths, int64_t n, const am_dataset_options *opt);
/* One large image (2-D or C×H×W) and a mask of the same H×W; every object becomes an item cut
 * to its bounding box, pixels outside the object set to 0. Item metadata: the image's header,
 * filepath = image path, extra "label=<n>;box=[y0:y1,x0:x1]" (0-based numpy slices of the
 * image; label is the mask value in LABELS mode, the object's number from 1 in reading order
 * in BINARY mode). Errors name the file: "<mask>: mask is 100x90, image <img> is 100x80". */
am_status am_dataset_open_mask(am_dataset **ds, const char *image_path, const char *mask_path,
                               const am_dataset_options *opt);
/* Copies n C×H×W images (and metas, may be NULL) into an in-memory dataset. Images are cleaned
 * by opt's nan_policy; a constant or all-NaN one fails. */
am_status am_dataset_from_images(am_dataset **ds, const am_tensor *images, const am_meta *metas, int64_t n,
                                 const am_dataset_options *opt);
void am_dataset_free(am_dataset *ds);

int64_t am_dataset_size(const am_dataset *ds);
/* The item's file path (with [ext]) or "<image>#label=<n>" for mask objects. */
const char *am_dataset_name(const am_dataset *ds, int64_t i);

/* Reads every item once. Bad items (missing, unreadable, truncated, not FITS, no image, zero
 * axis, too many channels) are each reported with am_log on one line; without skip_bad_files
 * the call then fails with "<datafile>: <k> of <n> images are bad (first: <line>)" and
 * *report (may be NULL; free() it) holds all the lines. With skip_bad_files, or for images
 * that are all NaN or constant (always), the items are left out with a warning and the call
 * succeeds. Afterwards am_dataset_item_shape knows every item's shape. */
am_status am_dataset_validate(am_dataset *ds, char **report);
/* Items left out by the last validation. */
int64_t am_dataset_n_skipped(const am_dataset *ds);

/* C×H×W of item i when known (validated, loaded or in memory): AM_ERR_NOTFOUND otherwise. */
am_status am_dataset_item_shape(const am_dataset *ds, int64_t i, int64_t shape[3]);
/* The shape of item i: known, or found by reading it. */
am_status am_dataset_item_shape_read(am_dataset *ds, int64_t i, int64_t shape[3]);

/* Item i as a new C×H×W tensor (caller frees) and its metadata (may be NULL; am_meta_free). */
am_status am_dataset_get(am_dataset *ds, int64_t i, am_tensor *image, am_meta *meta);
/* Metadata only (file datasets read the header alone when not cached). */
am_status am_dataset_get_meta(am_dataset *ds, int64_t i, am_meta *meta);

/* Announces the order in which items will be asked for (e.g. an epoch's shuffled indices);
 * the background thread keeps the next `prefetch` items after the last one asked for in the
 * cache. order is copied; n = 0 stops reading ahead. Images read ahead but not yet asked for
 * are held outside the cache bound (at most `prefetch` of them). */
void am_dataset_prefetch(am_dataset *ds, const int64_t *order, int64_t n);

typedef struct am_dataset_stats {
    int64_t hits, misses; /* am_dataset_get served from memory / read from disk */
    int64_t prefetched; /* images read by the background thread */
    size_t cached_bytes; /* current cache size */
} am_dataset_stats;
void am_dataset_get_stats(am_dataset *ds, am_dataset_stats *st);

#ifdef __cplusplus
}
#endif
#endif
