/* Views at a common size: random-resized crops of an image of any size rendered at S × S, so one
 * forward (and one BatchNorm batch) holds views of many different images; and the robust asinh
 * normalisation that astronomical images with bright cores and faint extended emission need. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/augment.h"

int am_normalize_asinh(float *x, int64_t n)
{
    if (n < 1) return 0;
    /* Levels from a sorted copy of at most 65536 evenly spaced values: enough for percentiles,
     * cheap on a 4000 x 4000 image. */
    int64_t step = n > 65536 ? n / 65536 : 1, m = (n + step - 1) / step;
    float *v = malloc((size_t)m * sizeof *v);
    if (!v) return am_normalize_minmax(x, n);
    for (int64_t i = 0, j = 0; i < n; i += step) {
        if (x[i] != x[i]) {
            free(v);
            return 0;
        }
        v[j++] = x[i];
    }
    /* Most pixels are sky: the median is the background level, which becomes 0. The top is the
     * 99.9th percentile, so a few hot pixels or a saturated core do not squash everything else. */
    double lo = am_select_kth(v, m, m / 2), hi = am_select_kth(v, m, (int64_t)(0.999 * (double)(m - 1)));
    if (!(hi > lo)) hi = am_select_kth(v, m, m - 1);
    free(v);
    if (!(hi > lo) || !isfinite(lo) || !isfinite(hi)) return am_normalize_minmax(x, n);
    double scale = 1.0 / (hi - lo), norm = 1.0 / asinh(AM_ASINH_SOFTENING);
    for (int64_t i = 0; i < n; i++) {
        double t = ((double)x[i] - lo) * scale;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        x[i] = (float)(asinh(AM_ASINH_SOFTENING * t) * norm);
    }
    return 1;
}

int am_normalize(float *x, int64_t n, am_normalization how)
{
    return how == AM_NORMALIZE_ASINH ? am_normalize_asinh(x, n) : am_normalize_minmax(x, n);
}

const char *am_normalization_name(am_normalization how) { return how == AM_NORMALIZE_ASINH ? "asinh" : "minmax"; }

am_status am_normalization_parse(const char *s, am_normalization *out)
{
    if (!strcmp(s, "minmax")) *out = AM_NORMALIZE_MINMAX;
    else if (!strcmp(s, "asinh")) *out = AM_NORMALIZE_ASINH;
    else return am_error(AM_ERR_VALUE, "normalization \"%s\" is not \"minmax\" or \"asinh\"", s);
    return AM_OK;
}

am_status am_view_crop(const float *img, int64_t c, int64_t h, int64_t w, const am_augment *a, am_rng *rng, float *out)
{
    int64_t s = a->view_size;
    if (s < 1 || c < 1 || h < 1 || w < 1) return am_error(AM_ERR_SHAPE, "view: bad sizes");
    /* The crop's area is a fraction of the image's, its aspect ratio log-uniform. */
    double area = (double)h * (double)w, cw = (double)w, ch = (double)h;
    if (a->crop.enabled && am_rng_uniform(rng) < a->crop.p) {
        double frac = a->crop_scale_min + (a->crop_scale_max - a->crop_scale_min) * am_rng_uniform(rng);
        double lr = log(a->crop_ratio), ratio = exp(-lr + 2 * lr * am_rng_uniform(rng));
        cw = sqrt(area * frac * ratio), ch = sqrt(area * frac / ratio);
        cw = cw > (double)w ? (double)w : cw;
        ch = ch > (double)h ? (double)h : ch;
    }
    double x0 = ((double)w - cw) * am_rng_uniform(rng), y0 = ((double)h - ch) * am_rng_uniform(rng);
    /* Shrinking by 2x or more: average whole blocks first, so that bilinear sampling does not
     * alias (noise and point sources would flicker between views). */
    int f = (int)floor(fmin(cw, ch) / (double)s);
    const float *src = img;
    float *pre = NULL;
    int64_t ph = h, pw = w;
    if (f >= 2) {
        ph = h / f, pw = w / f;
        if (ph < 1) ph = 1;
        if (pw < 1) pw = 1;
        pre = malloc((size_t)(c * ph * pw) * sizeof *pre);
        if (!pre) return am_error(AM_ERR_NOMEM, "view: out of memory");
        am_status st = am_resample(img, c, h, w, pre, ph, pw);
        if (st != AM_OK) {
            free(pre);
            return st;
        }
        src = pre;
    }
    double kx = (double)pw / (double)w, ky = (double)ph / (double)h; /* image → prefiltered coordinates */
    for (int64_t k = 0; k < c; k++) {
        const float *p = src + k * ph * pw;
        for (int64_t oy = 0; oy < s; oy++) {
            double sy = (y0 + ((double)oy + 0.5) * ch / (double)s) * ky - 0.5;
            for (int64_t ox = 0; ox < s; ox++) {
                double sx = (x0 + ((double)ox + 0.5) * cw / (double)s) * kx - 0.5;
                out[(k * s + oy) * s + ox] = am_bilinear_at(p, ph, pw, sx, sy);
            }
        }
    }
    free(pre);
    return AM_OK;
}

void am_aug_noise(float *img, int64_t n, double sigma, am_rng *rng)
{
    for (int64_t i = 0; i < n; i++) img[i] += (float)(sigma * am_rng_normal(rng));
}

void am_aug_stretch(float *img, int64_t n, double a)
{
    /* asinh(a x) / asinh(a) on [0, 1] values: a → 0 is linear, larger a lifts faint emission */
    if (!(a > 1e-3)) return;
    double norm = 1.0 / asinh(a);
    for (int64_t i = 0; i < n; i++) {
        double v = img[i] < 0 ? 0 : img[i];
        img[i] = (float)(asinh(a * v) * norm);
    }
}

am_status am_network_input(const am_tensor *image, int stacksize, am_normalization how, int view_size, am_tensor *x)
{
    AM_TRY(am_stack_channels(image, stacksize, x));
    am_normalize_batch_as(x, how);
    if (view_size <= 0) return AM_OK;
    am_tensor v = {0};
    am_status s = am_tensor_alloc4(&v, 1, x->shape[1], view_size, view_size);
    if (s == AM_OK) s = am_resample(x->data, x->shape[1], x->shape[2], x->shape[3], v.data, view_size, view_size);
    am_tensor_free(x);
    if (s == AM_OK) *x = v;
    else am_tensor_free(&v);
    return s;
}
