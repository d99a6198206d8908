/* Running the augmentation pipeline on a batch: normalise each sample, then each listed
 * transform with its probability and randomly drawn parameters. */
#include <math.h>
#include <string.h>

#include "astromorph/augment.h"

static double uniform_in(am_rng *r, double lo, double hi) { return lo + (hi - lo) * am_rng_uniform(r); }

/* One sample; scratch holds c*h*w floats. Draws are made in a fixed sequence from rng. */
static void augment_sample(const am_augment *a, float *img, int64_t c, int64_t h, int64_t w, am_rng *rng,
                           float *scratch)
{
    for (int i = 0; i < a->n_order; i++) {
        int k = a->order[i];
        if (!a->step[k].enabled) continue;
        if (k == AM_AUG_GRAYSCALE && c != 3) continue;
        if (am_rng_uniform(rng) >= a->step[k].p) continue;
        switch (k) {
        case AM_AUG_JITTER: {
            double b = uniform_in(rng, fmax(0.0, 1.0 - a->jitter_brightness), 1.0 + a->jitter_brightness);
            double ct = uniform_in(rng, fmax(0.0, 1.0 - a->jitter_contrast), 1.0 + a->jitter_contrast);
            /* Random order, as torchvision's ColorJitter. */
            if (am_rng_uniform(rng) < 0.5) {
                am_aug_brightness(img, c * h * w, b);
                am_aug_contrast(img, c, h, w, ct);
            } else {
                am_aug_contrast(img, c, h, w, ct);
                am_aug_brightness(img, c * h * w, b);
            }
            break;
        }
        case AM_AUG_GRAYSCALE: am_aug_grayscale(img, h, w); break;
        case AM_AUG_HFLIP: am_aug_hflip(img, c, h, w); break;
        case AM_AUG_VFLIP: am_aug_vflip(img, c, h, w); break;
        case AM_AUG_ROTATION: {
            double deg = uniform_in(rng, a->rot_min_deg, a->rot_max_deg);
            am_aug_rotate(img, scratch, c, h, w, deg, a->rot_interp, (float)a->rot_fill);
            memcpy(img, scratch, (size_t)(c * h * w) * sizeof *img);
            break;
        }
        case AM_AUG_BLUR: {
            double sigma = uniform_in(rng, a->blur_sigma_min, a->blur_sigma_max);
            am_aug_gaussian_blur(img, c, h, w, a->blur_kernel, sigma, scratch);
            break;
        }
        case AM_AUG_STRETCH: {
            double a_soft = exp(uniform_in(rng, 0.0, log1p(a->stretch_max))) - 1.0;
            am_aug_stretch(img, c * h * w, a_soft);
            break;
        }
        case AM_AUG_NOISE: am_aug_noise(img, c * h * w, uniform_in(rng, 0.0, a->noise_sigma), rng); break;
        default: break;
        }
    }
}

am_status am_augment_apply(const am_augment *a, am_tensor *batch, am_rng *rng)
{
    AM_TRY(am_augment_check(a));
    if (batch->ndim != 4) {
        char buf[64];
        return am_error(AM_ERR_SHAPE, "augmentation: batch is %s, need NxCxHxW",
                        am_tensor_shape_str(batch, buf, sizeof buf));
    }
    int64_t n = batch->shape[0], c = batch->shape[1], h = batch->shape[2], w = batch->shape[3];
    int64_t per = c * h * w;
    /* Each sample draws from its own stream under one key taken from rng: the result does not
     * depend on the order samples are done in, and `shared` gives them all the same stream.
     * No threads here: the trainer runs whole images in parallel, which measured better than
     * threads inside small per-image work on shared cores. */
    uint64_t key = am_rng_u64(rng);
    int64_t bad = -1; /* first sample holding NaN/Inf, or -2 when out of memory */
    for (int64_t i = 0; i < n; i++) {
        float *img = batch->data + i * per;
        if (a->normalize && !am_normalize_minmax(img, per)) {
            int finite = 1;
            for (int64_t j = 0; j < per && finite; j++) finite = isfinite(img[j]);
            if (!finite) {
                bad = i;
                break;
            }
        }
        float *scratch = am_malloc((size_t)(per > 0 ? per : 1) * sizeof *scratch);
        if (!scratch) {
            bad = -2;
            break;
        }
        am_rng r;
        am_rng_init(&r, key, a->shared ? 0 : (uint64_t)i);
        augment_sample(a, img, c, h, w, &r, scratch);
        am_free(scratch);
    }
    if (bad == -2)
        return am_error(AM_ERR_NOMEM, "augmentation: out of memory for a %lld-pixel scratch", (long long)per);
    if (bad >= 0) return am_error(AM_ERR_NUMERIC, "augmentation: sample %lld holds NaN or Inf", (long long)bad);
    return AM_OK;
}

am_status am_augment_view(const am_augment *a, const am_tensor *src, am_tensor *dst, uint64_t seed, uint64_t epoch,
                          uint64_t index, uint64_t view)
{
    AM_TRY(am_tensor_clone(dst, src));
    if (dst->ndim == 3) { /* one C×H×W image: a batch of one */
        dst->ndim = 4;
        memmove(dst->shape + 1, dst->shape, 3 * sizeof dst->shape[0]);
        dst->shape[0] = 1;
    }
    am_rng r;
    am_rng_init(&r, seed, am_rng_stream(epoch, index, view));
    am_status s = am_augment_apply(a, dst, &r);
    if (s != AM_OK) am_tensor_free(dst);
    return s;
}
