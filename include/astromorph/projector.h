/* TensorBoard projector files in one folder: projector_config.pbtxt, tensors.tsv, metadata.tsv
 * (header row: cluster, object, right ascension, declination, rest freq, filepath) and sprite.png
 * (thumbnails on a square grid). Each file is written under a temporary name and renamed when
 * complete; the config comes last. */
#ifndef ASTROMORPH_PROJECTOR_H
#define ASTROMORPH_PROJECTOR_H

#include <stdint.h>

#include "astromorph/meta.h"
#include "astromorph/status.h"
#include "astromorph/thumbnail.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AM_PROJECTOR_THUMB 144 /* thumbnail size in the sprite */
#define AM_PROJECTOR_SPRITE_MAX 8192 /* TensorBoard's largest sprite side: thumbnails shrink past it */

typedef struct am_projector am_projector;

/* Starts a projector for n embeddings of `dim` floats in folder `dir` (created). with_sprite = 0
 * leaves the sprite out. */
am_status am_projector_open(am_projector **p, const char *dir, int64_t n, int64_t dim, int with_sprite);

/* Thumbnail side the sprite uses: 144, or less when n thumbnails of 144 px would not fit
 * TensorBoard's sprite limit. Make thumbnails this size to avoid a resample. */
int am_projector_thumb_size(const am_projector *p);

/* Adds the next item, in order: its embedding (dim floats), k-means cluster (< 0 is written as
 * N/A), metadata (NULL: all N/A) and thumbnail (NULL: a black tile; resized if its size differs). */
am_status am_projector_add(am_projector *p, const float *embedding, int cluster, const am_meta *meta,
                           const am_thumbnail *thumb);

/* Checks that n items were added, writes the sprite and config, renames every file into place,
 * and frees p (also on failure). */
am_status am_projector_commit(am_projector *p);
/* Drops everything written so far and frees p; p may be NULL. */
void am_projector_abort(am_projector *p);

/* All at once: embeddings n×dim row-major; clusters, meta and thumbs may each be NULL. */
am_status am_projector_write(const char *dir, int64_t n, int64_t dim, const float *embeddings, const int *clusters,
                             const am_meta *meta, const am_thumbnail *thumbs);

#ifdef __cplusplus
}
#endif
#endif
