/* Thumbnails as in the astromorph paper: normalise, fit a Gaussian to the core of the pixel
 * histogram around its mode (the noise), mask everything below mean + 5σ, stretch, and resample
 * to a square keeping the aspect ratio (padding with black). Used by the projector sprite and
 * the analysis figures. */
#ifndef ASTROMORPH_THUMBNAIL_H
#define ASTROMORPH_THUMBNAIL_H

#include <stdint.h>

#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { AM_STRETCH_LINEAR = 0, AM_STRETCH_ASINH, AM_STRETCH_LOG } am_stretch;

typedef struct am_thumb_options {
    am_stretch stretch; /* default linear */
    double mask_sigma; /* mask below mean + mask_sigma·σ of the noise; <= 0: no mask (default 5) */
    double softening; /* asinh: asinh(v/a)/asinh(1/a), default a = 0.1; log: log(1+a·v)/log(1+a),
                           default a = 1000; <= 0 picks the default */
} am_thumb_options;

/* The noise as fitted on one channel, in the input's units. */
typedef struct am_thumb_noise {
    double mean; /* centre of the Gaussian fitted to the histogram core */
    double sigma; /* its width (0 for a constant image) */
    double threshold; /* mean + mask_sigma·sigma: lower values are masked */
    double max; /* brightest finite value (the top of the stretch) */
    int fitted; /* 1 when the Gaussian fit converged, 0 when a robust median/MAD estimate was used */
} am_thumb_noise;

/* size×size pixels of `channels` interleaved bytes (1 gray or 3 RGB), rows top to bottom. */
typedef struct am_thumbnail {
    int size;
    int channels;
    uint8_t *pixels;
} am_thumbnail;

void am_thumb_options_default(am_thumb_options *o);

/* Fits the noise of n values (non-finite ones ignored). */
am_status am_thumb_noise_fit(const float *values, int64_t n, double mask_sigma, am_thumb_noise *out);

/* Makes a size×size thumbnail from a C×H×W image (row 0 drawn at the top). 3 channels give RGB,
 * any other count gray (the channel mean after per-channel stretching). Each channel is masked
 * and stretched on its own. `noise` (may be NULL) receives one entry per input channel.
 * opts NULL means the defaults. */
am_status am_thumbnail_make(const float *image, int channels, int height, int width, int size,
                            const am_thumb_options *opts, am_thumbnail *out, am_thumb_noise *noise);

/* Resamples a thumbnail to another size (area average when shrinking, bilinear when growing). */
am_status am_thumbnail_resize(const am_thumbnail *in, int size, am_thumbnail *out);

void am_thumbnail_free(am_thumbnail *t);

#ifdef __cplusplus
}
#endif
#endif
