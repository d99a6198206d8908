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
/* A C×H×W image's channels summed in place into one (1×H×W; the buffer is kept): what a network
 * trained with channels = "sum" sees (include/astromorph/settings.h). */
void am_sum_channels(am_tensor *image);

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
void am_aug_rotate(const float *src, float *dst, int64_t c, int64_t h, int64_t w, double degrees, am_interp interp,
                   float fill);

/* Gaussian blur with an odd ksize×ksize kernel of width sigma, reflect padding (as torchvision).
 * scratch holds h*w floats. */
void am_aug_gaussian_blur(float *img, int64_t c, int64_t h, int64_t w, int ksize, double sigma, float *scratch);

/* Brightness: x·b. Contrast: m + (x − m)·k with m the mean grey level. Both clamp to [0,1],
 * as torchvision's ColorJitter on [0,1] images. */
void am_aug_brightness(float *img, int64_t n, double factor);
void am_aug_contrast(float *img, int64_t c, int64_t h, int64_t w, double factor);

/* Three channels to their luminance (0.299 R + 0.587 G + 0.114 B) in all three; c must be 3. */
void am_aug_grayscale(float *img, int64_t h, int64_t w);

/* How an image's values become the network's input levels. */
typedef enum {
    AM_NORMALIZE_MINMAX = 0, /* the original: (x - min) / (max - min) */
    AM_NORMALIZE_ASINH /* robust: background (the median) to 0, the 99.9th percentile to 1,
                                clipped, then asinh(a x) / asinh(a) with a = AM_ASINH_SOFTENING */
} am_normalization;
#define AM_ASINH_SOFTENING 10.0

/* Robust asinh normalisation in place (see AM_NORMALIZE_ASINH); returns as am_normalize_minmax. */
int am_normalize_asinh(float *x, int64_t n);
int am_normalize(float *x, int64_t n, am_normalization how);
/* Every sample of an N×C×H×W batch normalised on its own, as `how`. */
void am_normalize_batch_as(am_tensor *batch, am_normalization how);
const char *am_normalization_name(am_normalization how); /* "minmax", "asinh" */
am_status am_normalization_parse(const char *s, am_normalization *out);
/* Additive Gaussian noise of standard deviation sigma; asinh stretch with softening a. */
void am_aug_noise(float *img, int64_t n, double sigma, am_rng *rng);
void am_aug_stretch(float *img, int64_t n, double a);

/* ---- the pipeline ---- */

typedef enum {
    AM_AUG_JITTER = 0,
    AM_AUG_GRAYSCALE,
    AM_AUG_HFLIP,
    AM_AUG_VFLIP,
    AM_AUG_ROTATION,
    AM_AUG_BLUR,
    AM_AUG_STRETCH, /* asinh stretch jitter (views in [0,1]) */
    AM_AUG_NOISE, /* additive Gaussian noise */
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
 *   blur.p 0.2, blur.kernel 3 (odd), blur.sigma_min 1, blur.sigma_max 2
 *   stretch.p 0.5, stretch.max 20 (views y = asinh(a x)/asinh(a), a = exp(U[0, ln(1+max)]) - 1)
 *   noise.p 0.5, noise.sigma 0.03 (Gaussian noise of standard deviation U[0, sigma])
 * Views at a common size (not pipeline steps; used by training and inference when view_size > 0):
 *   view_size            0: views keep each image's size (the original); S: every view is a
 *                        random-resized crop of the image rendered at S x S (am_view_crop), and
 *                        inference sees the whole image at S x S
 *   normalization        "minmax" (the original) | "asinh" (am_normalize_asinh), applied to
 *                        the whole image before any view is cut
 *   crop.enabled 1, crop.p 1, crop.scale_min 0.5, crop.scale_max 1 (area fractions),
 *   crop.ratio 1.333 (aspect ratios log-uniform in [1/ratio, ratio])
 * Multi-crop (Caron et al. 2020; training only, needs view_size > 0):
 *   local.views 0        small views of each image beside the two global ones, through the
 *                        online branch only, each predicting the global views' targets
 *   local.size 32, local.scale_min 0.05, local.scale_max 0.4 (their size in pixels and area
 *                        fractions; the crop's aspect ratio and every other step as for the
 *                        global views) */
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
    double stretch_max, noise_sigma;
    int view_size;
    am_normalization normalization;
    am_aug_step crop;
    double crop_scale_min, crop_scale_max, crop_ratio;
    int local_views, local_size;
    double local_scale_min, local_scale_max;
} am_augment;

/* The original package's pipeline (its D2 copies, min-max normalisation, its augmentations). */
void am_augment_original(am_augment *a);
/* A pipeline that only normalises. */
void am_augment_none(am_augment *a);
/* Our measured defaults (docs/quality.md): views at 64 x 64 cut from random-resized crops, robust
 * asinh normalisation, flips and rotations of any angle, stretch and noise jitter. */
void am_augment_default(am_augment *a);
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
/* One view of a C×H×W image at a->view_size squared (out: C·S·S floats): a crop of area fraction
 * U[crop.scale_min, crop.scale_max] and log-uniform aspect ratio at a uniform position inside
 * the image (the whole image when crop is off or not drawn), area-averaged first when it shrinks
 * 2x or more, then sampled bilinearly. */
am_status am_view_crop(const float *img, int64_t c, int64_t h, int64_t w, const am_augment *a, am_rng *rng, float *out);
/* The settings a local view is drawn with: a's steps, a crop always drawn, of local.size and
 * local.scale_min..max. */
am_augment am_augment_local(const am_augment *a);

/* An image (C×H×W) as the network sees it outside training: channels stacked, normalised as
 * `how`, and for view_size > 0 the whole image area-averaged to view_size squared; x is a new
 * 1×(C·stacksize)×H'×W' tensor. What inference and the training's monitors feed the network. */
am_status am_network_input(const am_tensor *image, int stacksize, am_normalization how, int view_size, am_tensor *x);

/* Convenience: dst = src augmented with the stream (seed; epoch, index, view). dst is new. */
am_status am_augment_view(const am_augment *a, const am_tensor *src, am_tensor *dst, uint64_t seed, uint64_t epoch,
                          uint64_t index, uint64_t view);

#ifdef __cplusplus
}
#endif
#endif
