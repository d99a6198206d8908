/* Image transforms for BYOL: the four D2 copies of an item, min-max normalisation, and the
 * random augmentations, each a function with explicit parameters plus a configurable pipeline.
 *
 * Randomness: the pipeline draws from an am_rng the caller keys by (seed, epoch, image index,
 * view), e.g. am_rng_init(&r, seed, am_rng_stream(epoch, index, view)); the result is then the
 * same at any thread count. Images are C×H×W planes of floats, batches N×C×H×W. */
#ifndef ASTROMORPH_AUGMENT_H
#define ASTROMORPH_AUGMENT_H

#include <stdint.h>

#include "astromorph/rng.h"
#include "astromorph/status.h"
#include "astromorph/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- D2 copies ---- */

/* From a C×H×W image (or 1×C×H×W), a new 4×(C·stacksize)×H×W batch: identity, rot180, flip
 * left-right (columns mirrored), flip up-down (rows mirrored). Channels are replicated as
 * whole groups: c0..c(C-1), c0..c(C-1), ... (stacksize >= 1). */
am_status am_d2_copies(const am_tensor *image, int stacksize, am_tensor *out);
/* The same without the D2 copies: 1×(C·stacksize)×H×W, for inference. */
am_status am_stack_channels(const am_tensor *image, int stacksize, am_tensor *out);

/* ---- single transforms on one C×H×W plane set (in place unless noted) ---- */

/* Min-max to [0,1] over all n values (a constant input becomes 0). Returns 0 when the input
 * was constant or not finite, 1 otherwise. */
int am_normalize_minmax(float *x, int64_t n);
/* Every sample of an N×C×H×W batch normalised on its own. */
void am_normalize_batch(am_tensor *batch);

void am_aug_hflip(float *img, int64_t c, int64_t h, int64_t w);
void am_aug_vflip(float *img, int64_t c, int64_t h, int64_t w);

typedef enum { AM_INTERP_NEAREST = 0, AM_INTERP_BILINEAR } am_interp;
/* Rotation by `degrees` counter-clockwise as displayed with row 0 at the top (torchvision's
 * sense), about the canvas centre ((w-1)/2, (h-1)/2), same canvas, fill outside with `fill`.
 * src and dst must not overlap. */
void am_aug_rotate(const float *src, float *dst, int64_t c, int64_t h, int64_t w, double degrees,
                   am_interp interp, float fill);

/* Gaussian blur with an odd ksize×ksize kernel of width sigma, reflect padding (as torchvision).
 * scratch holds h*w floats. */
void am_aug_gaussian_blur(float *img, int64_t c, int64_t h, int64_t w, int ksize, double sigma, float *scratch);

/* Brightness: x·b. Contrast: m + (x − m)·k with m the mean grey level. Both clamp to [0,1],
 * as torchvision's ColorJitter on [0,1] images. */
void am_aug_brightness(float *img, int64_t n, double factor);
void am_aug_contrast(float *img, int64_t c, int64_t h, int64_t w, double factor);

/* Three channels to their luminance (0.299 R + 0.587 G + 0.114 B) in all three; c must be 3. */
void am_aug_grayscale(float *img, int64_t h, int64_t w);

/* dst (C×oh×ow) = src (C×h×w) resampled by exact area averaging (src/data/resample.c). */
am_status am_resample_area(const float *src, int64_t c, int64_t h, int64_t w, float *dst, int64_t oh, int64_t ow);

/* ---- the pipeline ---- */

typedef enum {
    AM_AUG_JITTER = 0,
    AM_AUG_GRAYSCALE,
    AM_AUG_HFLIP,
    AM_AUG_VFLIP,
    AM_AUG_ROTATION,
    AM_AUG_BLUR,
    AM_AUG_COUNT
} am_aug_kind;

/* Settings keys, for am_augment_set / am_augment_set_str and the [augmentation] table:
 *   normalize            1: min-max each sample to [0,1] before augmenting (default 1)
 *   shared               1: one draw of parameters for all samples of a batch, as torchvision
 *                        on a batch tensor; 0: each sample its own (default 0)
 *   order                string, names from the list below separated by commas: the
 *                        transforms run, in that order; others are switched off
 *                        (default "jitter,grayscale,hflip,rotation,blur", the original's)
 *   <name>.enabled       0/1                         <name>.p   probability in [0,1]
 *   jitter.p 0.3, jitter.brightness 0.8, jitter.contrast 0.8
 *                        (factors uniform in [max(0,1−v), 1+v], applied in random order)
 *   grayscale.p 0.2      (3-channel samples only)
 *   hflip.p 0.5          vflip.p 0.5 (off by default)
 *   rotation.p 1, rotation.min_degrees 0, rotation.max_degrees 360,
 *   rotation.interpolation "nearest" | "bilinear" (default "bilinear"), rotation.fill 0
 *   blur.p 0.2, blur.kernel 3 (odd), blur.sigma_min 1, blur.sigma_max 2 */
typedef struct am_aug_step {
    int enabled;
    double p;
} am_aug_step;

typedef struct am_augment {
    int normalize;
    int shared;
    int order[AM_AUG_COUNT]; /* kinds in run order */
    int n_order;
    am_aug_step step[AM_AUG_COUNT];
    double jitter_brightness, jitter_contrast;
    double rot_min_deg, rot_max_deg, rot_fill;
    am_interp rot_interp;
    int blur_kernel;
    double blur_sigma_min, blur_sigma_max;
} am_augment;

void am_augment_default(am_augment *a);
/* A pipeline that only normalises. */
void am_augment_none(am_augment *a);
/* Numeric keys; AM_ERR_NOTFOUND for an unknown key, AM_ERR_VALUE out of range, both with a
 * message naming the key ("augmentation: rotation.p = 1.5 is outside [0, 1]"). */
am_status am_augment_set(am_augment *a, const char *key, double value);
/* String keys ("order", "rotation.interpolation"); numeric keys given as text also work. */
am_status am_augment_set_str(am_augment *a, const char *key, const char *value);
/* Checks ranges and consistency (e.g. sigma_min <= sigma_max). */
am_status am_augment_check(const am_augment *a);
const char *am_aug_name(am_aug_kind k);

/* Augments an N×C×H×W batch in place, drawing from rng. */
am_status am_augment_apply(const am_augment *a, am_tensor *batch, am_rng *rng);
/* Convenience: dst = src augmented with the stream (seed; epoch, index, view). dst is new. */
am_status am_augment_view(const am_augment *a, const am_tensor *src, am_tensor *dst, uint64_t seed,
                          uint64_t epoch, uint64_t index, uint64_t view);

#ifdef __cplusplus
}
#endif
#endif
