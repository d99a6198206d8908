/* Single image transforms on C×H×W planes: normalisation, flips, rotation, blur, jitter, grayscale. */
#include <math.h>
#include <string.h>

#include "astromorph/augment.h"

int am_normalize_minmax(float *x, int64_t n)
{
    float lo = INFINITY, hi = -INFINITY;
    int nan = 0;
    /* Written as compare-and-select so that the compiler turns it into vector min/max. */
    for (int64_t i = 0; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
        nan |= x[i] != x[i];
    }
    if (nan) return 0; /* nothing sensible to do: tell the caller */
    if (!(hi > lo) || !isfinite(lo) || !isfinite(hi)) {
        if (isfinite(lo) && lo == hi) memset(x, 0, (size_t)n * sizeof *x);
        return 0;
    }
    float scale = (float)(1.0 / ((double)hi - (double)lo));
    for (int64_t i = 0; i < n; i++) {
        float v = (x[i] - lo) * scale;
        x[i] = v > 1.0f ? 1.0f : v; /* rounding must not leave [0,1] */
    }
    return 1;
}

void am_normalize_batch_as(am_tensor *batch, am_normalization how)
{
    int64_t n = batch->shape[0], per = am_tensor_numel(batch) / (n ? n : 1);
    for (int64_t i = 0; i < n; i++) am_normalize(batch->data + i * per, per, how);
}

void am_normalize_batch(am_tensor *batch) { am_normalize_batch_as(batch, AM_NORMALIZE_MINMAX); }

void am_aug_hflip(float *img, int64_t c, int64_t h, int64_t w)
{
    for (int64_t r = 0; r < c * h; r++) {
        float *row = img + r * w;
        for (int64_t a = 0, b = w - 1; a < b; a++, b--) {
            float t = row[a];
            row[a] = row[b];
            row[b] = t;
        }
    }
}

void am_aug_vflip(float *img, int64_t c, int64_t h, int64_t w)
{
    for (int64_t k = 0; k < c; k++) {
        float *p = img + k * h * w;
        for (int64_t a = 0, b = h - 1; a < b; a++, b--)
            for (int64_t x = 0; x < w; x++) {
                float t = p[a * w + x];
                p[a * w + x] = p[b * w + x];
                p[b * w + x] = t;
            }
    }
}

static float pixel_or(const float *p, int64_t h, int64_t w, int64_t y, int64_t x, float fill)
{
    return (y >= 0 && y < h && x >= 0 && x < w) ? p[y * w + x] : fill;
}

/* One output pixel of every channel from source position (sx, sy). Coordinates and weights
 * are worked out once per pixel; the channels only load and blend. */
static void sample_pixel(const float *src, float *dst, int64_t c, int64_t h, int64_t w, double sx, double sy,
                         am_interp interp, float fill)
{
    int64_t hw = h * w;
    if (interp == AM_INTERP_NEAREST) {
        /* round half up by truncation once the position is known to be >= -0.5 */
        int inside = sx >= -0.5 && sy >= -0.5;
        int64_t ix = inside ? (int64_t)(sx + 0.5) : -1, iy = inside ? (int64_t)(sy + 0.5) : -1;
        inside = inside && ix < w && iy < h;
        for (int64_t k = 0; k < c; k++) dst[k * hw] = inside ? src[k * hw + iy * w + ix] : fill;
        return;
    }
    if (!(sx >= -1.0 && sy >= -1.0 && sx < (double)w && sy < (double)h)) {
        for (int64_t k = 0; k < c; k++) dst[k * hw] = fill;
        return;
    }
    /* floor by truncation: sx + 1 >= 0 here */
    int64_t x0 = (int64_t)(sx + 1.0) - 1, y0 = (int64_t)(sy + 1.0) - 1;
    float ax = (float)(sx - (double)x0), ay = (float)(sy - (double)y0);
    float w00 = (1 - ax) * (1 - ay), w01 = ax * (1 - ay), w10 = (1 - ax) * ay, w11 = ax * ay;
    if (x0 >= 0 && x0 + 1 < w && y0 >= 0 && y0 + 1 < h) {
        const float *p = src + y0 * w + x0;
        for (int64_t k = 0; k < c; k++, p += hw) dst[k * hw] = w00 * p[0] + w01 * p[1] + w10 * p[w] + w11 * p[w + 1];
        return;
    }
    for (int64_t k = 0; k < c; k++) { /* on the border: missing neighbours are `fill` */
        const float *p = src + k * hw;
        dst[k * hw] = w00 * pixel_or(p, h, w, y0, x0, fill) + w01 * pixel_or(p, h, w, y0, x0 + 1, fill) +
                      w10 * pixel_or(p, h, w, y0 + 1, x0, fill) + w11 * pixel_or(p, h, w, y0 + 1, x0 + 1, fill);
    }
}

void am_aug_rotate(const float *src, float *dst, int64_t c, int64_t h, int64_t w, double degrees, am_interp interp,
                   float fill)
{
    double th = degrees * M_PI / 180.0;
    double cs = cos(th), sn = sin(th);
    /* Exact quarter turns: cos(90°) is 6e-17 in double, which would tip nearest rounding. */
    if (fabs(cs) < 1e-12) cs = 0.0;
    if (fabs(sn) < 1e-12) sn = 0.0;
    double cx = 0.5 * (double)(w - 1), cy = 0.5 * (double)(h - 1);
    for (int64_t y = 0; y < h; y++) {
        double dy = (double)y - cy;
        /* Inverse map of a counter-clockwise turn with y pointing down, stepped along the row. */
        double sx = cx - cx * cs - dy * sn, sy = cy - cx * sn + dy * cs;
        for (int64_t x = 0; x < w; x++, sx += cs, sy += sn)
            sample_pixel(src, dst + y * w + x, c, h, w, sx, sy, interp, fill);
    }
}

/* Reflect padding without repeating the edge (…2 1 | 0 1 2 … n-1 | n-2 …), as torch's "reflect". */
static int64_t reflect(int64_t i, int64_t n)
{
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

void am_aug_gaussian_blur(float *img, int64_t c, int64_t h, int64_t w, int ksize, double sigma, float *scratch)
{
    enum { KMAX = 63 };
    if (ksize < 1 || ksize > KMAX || !(sigma > 0)) return;
    int r = ksize / 2;
    double kern[KMAX], sum = 0;
    for (int i = -r; i <= r; i++) sum += kern[i + r] = exp(-(double)(i * i) / (2 * sigma * sigma));
    float kf[KMAX];
    for (int i = 0; i < 2 * r + 1; i++) kf[i] = (float)(kern[i] / sum);
    for (int64_t k = 0; k < c; k++) {
        float *p = img + k * h * w;
        for (int64_t y = 0; y < h; y++) {
            const float *row = p + y * w;
            for (int64_t x = 0; x < w; x++) {
                float acc = 0;
                if (x >= r && x + r < w) /* interior: no reflection needed */
                    for (int i = -r; i <= r; i++) acc += kf[i + r] * row[x + i];
                else
                    for (int i = -r; i <= r; i++) acc += kf[i + r] * row[reflect(x + i, w)];
                scratch[y * w + x] = acc;
            }
        }
        for (int64_t y = 0; y < h; y++) {
            float *out = p + y * w;
            for (int64_t x = 0; x < w; x++) out[x] = 0;
            for (int i = -r; i <= r; i++) {
                const float *in = scratch + reflect(y + i, h) * w;
                for (int64_t x = 0; x < w; x++) out[x] += kf[i + r] * in[x];
            }
        }
    }
}

static float clamp01(double v) { return v < 0 ? 0.0f : v > 1 ? 1.0f : (float)v; }

void am_aug_brightness(float *img, int64_t n, double factor)
{
    for (int64_t i = 0; i < n; i++) img[i] = clamp01(img[i] * factor);
}

void am_aug_contrast(float *img, int64_t c, int64_t h, int64_t w, double factor)
{
    int64_t hw = h * w;
    double mean = 0;
    if (c == 3) {
        for (int64_t i = 0; i < hw; i++) mean += 0.299 * img[i] + 0.587 * img[hw + i] + 0.114 * img[2 * hw + i];
        mean /= (double)hw;
    } else {
        for (int64_t i = 0; i < c * hw; i++) mean += img[i];
        mean /= (double)(c * hw);
    }
    for (int64_t i = 0; i < c * hw; i++) img[i] = clamp01(mean + (img[i] - mean) * factor);
}

void am_aug_grayscale(float *img, int64_t h, int64_t w)
{
    int64_t hw = h * w;
    for (int64_t i = 0; i < hw; i++) {
        float g = (float)(0.299 * img[i] + 0.587 * img[hw + i] + 0.114 * img[2 * hw + i]);
        img[i] = img[hw + i] = img[2 * hw + i] = g;
    }
}
