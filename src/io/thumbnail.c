/* Thumbnails as in the astromorph paper. The noise is found by fitting a Gaussian to the core
 * of the pixel histogram around its mode (weighted least squares on log counts, iterated so the
 * window follows the fit); sources only add to the upper tail, so the core stays clean. */
#include "astromorph/thumbnail.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { FIT_ITERATIONS = 20 };
static const double CORE_HALF_WIDTH = 1.5; /* fit window: mode ± 1.5σ */

void am_thumb_opts_default(am_thumb_opts *o)
{
    o->stretch = AM_STRETCH_LINEAR;
    o->mask_sigma = 5.0;
    o->softening = 0.0;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* One weighted least-squares fit of ln(count) = a + b·x + c·x² over the histogram bins of
 * [centre - half, centre + half]; x is measured from centre to keep the system well scaled.
 * Returns 0 when the bins do not describe a downward parabola. */
static int fit_core(const float *v, int64_t n, double centre, double sigma, double *mean, double *sd)
{
    enum { BINS_PER_SIGMA = 8, MAX_BINS = 64 };
    double width = sigma / BINS_PER_SIGMA;
    /* Few pixels: wider bins so each holds enough counts for a stable logarithm. */
    if (n < 20000) width = sigma / 4;
    double half = CORE_HALF_WIDTH * sigma;
    int nb = (int)ceil(2 * half / width);
    if (nb > MAX_BINS) nb = MAX_BINS;
    double lo = centre - half;
    double h[MAX_BINS] = {0};
    for (int64_t i = 0; i < n; i++) {
        double k = floor((v[i] - lo) / width);
        if (k >= 0 && k < nb) h[(int)k] += 1;
    }
    /* Normal equations for the three coefficients, weights = counts (var of ln h ≈ 1/h). */
    double s[5] = {0}, t[3] = {0};
    int used = 0;
    for (int k = 0; k < nb; k++) {
        if (h[k] < 1) continue;
        double x = (lo + (k + 0.5) * width - centre) / sigma, y = log(h[k]), wgt = h[k];
        double p = wgt;
        for (int e = 0; e < 5; e++) {
            s[e] += p;
            if (e < 3) t[e] += p * y;
            p *= x;
        }
        used++;
    }
    if (used < 5) return 0;
    /* Solve [s0 s1 s2; s1 s2 s3; s2 s3 s4]·(a b c) = t by Cramer's rule. */
    double m[3][3] = {{s[0], s[1], s[2]}, {s[1], s[2], s[3]}, {s[2], s[3], s[4]}};
    double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                 m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if (!(fabs(det) > 0)) return 0;
    double db = m[0][0] * (t[1] * m[2][2] - m[1][2] * t[2]) - t[0] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                m[0][2] * (m[1][0] * t[2] - t[1] * m[2][0]);
    double dc = m[0][0] * (m[1][1] * t[2] - t[1] * m[2][1]) - m[0][1] * (m[1][0] * t[2] - t[1] * m[2][0]) +
                t[0] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    double b = db / det, c = dc / det;
    if (!(c < 0)) return 0;
    /* Back from units of sigma around centre. */
    *sd = sigma * sqrt(-1 / (2 * c));
    *mean = centre + sigma * (-b / (2 * c));
    return isfinite(*sd) && isfinite(*mean);
}

/* Centre of the most populated of 101 bins of width w from lo: the starting mode. */
static double histogram_mode(const float *v, int64_t n, double lo, double w)
{
    enum { NB = 101 };
    double h[NB] = {0};
    for (int64_t i = 0; i < n; i++) {
        double k = floor((v[i] - lo) / w);
        if (k >= 0 && k < NB) h[(int)k] += 1;
    }
    int best = NB / 2;
    for (int k = 0; k < NB; k++)
        if (h[k] > h[best]) best = k;
    return lo + (best + 0.5) * w;
}

/* Drops every value equal to x; returns the new count. */
static int64_t drop_value(float *v, int64_t m, float x)
{
    int64_t k = 0;
    for (int64_t i = 0; i < m; i++)
        if (v[i] != x) v[k++] = v[i];
    return k;
}

am_status am_thumb_noise_fit(const float *values, int64_t n, double mask_sigma, am_thumb_noise *out)
{
    /* Order statistics come from an evenly strided sample, so large images cost O(n), not a sort. */
    enum { SAMPLE = 1 << 18 };
    memset(out, 0, sizeof *out);
    if (n <= 0 || !values) return am_error(AM_ERR_VALUE, "thumbnail: empty image");
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return am_error(AM_ERR_NOMEM, "thumbnail: out of memory (%lld pixels)", (long long)n);
    int64_t m = 0;
    float hi = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(values[i])) {
            v[m++] = values[i];
            if (values[i] > hi) hi = values[i];
        }
    if (m == 0) {
        free(v);
        return am_error(AM_ERR_NUMERIC, "thumbnail: no finite pixel");
    }
    out->max = hi;
    int64_t ns = m < SAMPLE ? m : SAMPLE;
    float *smp = malloc((size_t)ns * sizeof *smp);
    if (!smp) {
        free(v);
        return am_error(AM_ERR_NOMEM, "thumbnail: out of memory (%lld pixels)", (long long)n);
    }
    for (int64_t i = 0; i < ns; i++) smp[i] = v[i * m / ns];
    qsort(smp, (size_t)ns, sizeof *smp, cmp_float);

    /* A value repeated over a large area (blanked pixels set to 0, the outside of a primary beam)
     * is not noise: leave it out of the fit. */
    int64_t run = 1, best_run = 1, best_at = 0;
    for (int64_t i = 1; i < ns; i++) {
        run = smp[i] == smp[i - 1] ? run + 1 : 1;
        if (run > best_run) best_run = run, best_at = i - run + 1;
    }
    if (best_run > ns / 20 && ns - best_run >= 16) {
        float spike = smp[best_at];
        ns = drop_value(smp, ns, spike);
        m = drop_value(v, m, spike);
    }

    double median = 0.5 * ((double)smp[(ns - 1) / 2] + (double)smp[ns / 2]);
    /* Robust start: σ from the 16th–84th percentile spread. */
    double sigma0 = 0.5 * ((double)smp[(int64_t)(0.8413 * (double)(ns - 1))] -
                           (double)smp[(int64_t)(0.1587 * (double)(ns - 1))]);
    free(smp);
    out->mean = median;
    out->sigma = sigma0;
    out->fitted = 0;
    if (sigma0 > 0) {
        double centre = histogram_mode(v, m, median - 5 * sigma0, sigma0 / 10);
        double sigma = sigma0, mean = centre, sd = sigma0;
        int ok = 0;
        for (int it = 0; it < FIT_ITERATIONS; it++) {
            if (!fit_core(v, m, centre, sigma, &mean, &sd) || sd > 10 * sigma0 || sd < 1e-3 * sigma0 ||
                fabs(mean - centre) > 2 * sigma) {
                ok = 0;
                break;
            }
            ok = 1;
            double dm = fabs(mean - centre), ds = fabs(sd - sigma);
            centre = mean;
            sigma = sd;
            if (dm < 1e-4 * sd && ds < 1e-4 * sd) break;
        }
        if (ok) {
            out->mean = mean;
            out->sigma = sd;
            out->fitted = 1;
        }
    }
    out->threshold = out->mean + (mask_sigma > 0 ? mask_sigma : 0) * out->sigma;
    free(v);
    return AM_OK;
}

/* ---- resampling: separable weights, box average when shrinking, bilinear when growing ---- */

typedef struct {
    int *first, *count;
    float *w; /* count[o] weights of output o start at w[o * stride] */
    int stride;
} axis_weights;

static void axis_free(axis_weights *a)
{
    free(a->first);
    free(a->count);
    free(a->w);
}

static int axis_build(axis_weights *a, int in, int out)
{
    double scale = (double)in / out;
    a->stride = scale > 1 ? (int)ceil(scale) + 2 : 2;
    a->first = malloc((size_t)out * sizeof *a->first);
    a->count = malloc((size_t)out * sizeof *a->count);
    a->w = calloc((size_t)out * (size_t)a->stride, sizeof *a->w);
    if (!a->first || !a->count || !a->w) return 0;
    for (int o = 0; o < out; o++) {
        float *w = a->w + (size_t)o * (size_t)a->stride;
        if (scale > 1) {
            /* Output o covers input [o·scale, (o+1)·scale): weight each pixel by its overlap. */
            double x0 = o * scale, x1 = (o + 1) * scale;
            int i0 = (int)floor(x0), i1 = (int)ceil(x1);
            if (i1 > in) i1 = in;
            a->first[o] = i0;
            a->count[o] = i1 - i0;
            for (int i = i0; i < i1; i++) {
                double ov = fmin(x1, i + 1.0) - fmax(x0, (double)i);
                w[i - i0] = (float)(ov > 0 ? ov / scale : 0);
            }
        } else {
            double x = (o + 0.5) * scale - 0.5;
            if (x < 0) x = 0;
            if (x > in - 1) x = in - 1;
            int i0 = (int)floor(x);
            if (i0 > in - 2) i0 = in > 1 ? in - 2 : 0;
            double f = x - i0;
            a->first[o] = i0;
            a->count[o] = in > 1 ? 2 : 1;
            w[0] = (float)(in > 1 ? 1 - f : 1);
            if (in > 1) w[1] = (float)f;
        }
    }
    return 1;
}

/* src h×w → dst oh×ow (rows dst_stride floats apart). */
static am_status resample(const float *src, int h, int w, float *dst, int oh, int ow, int dst_stride)
{
    axis_weights ax = {0}, ay = {0};
    float *tmp = malloc((size_t)h * (size_t)ow * sizeof *tmp);
    am_status s = AM_OK;
    if (!tmp || !axis_build(&ax, w, ow) || !axis_build(&ay, h, oh)) {
        s = am_error(AM_ERR_NOMEM, "thumbnail: out of memory resampling %dx%d", w, h);
        goto done;
    }
    for (int y = 0; y < h; y++)
        for (int o = 0; o < ow; o++) {
            const float *wt = ax.w + (size_t)o * (size_t)ax.stride, *row = src + (size_t)y * (size_t)w + ax.first[o];
            double acc = 0;
            for (int k = 0; k < ax.count[o]; k++) acc += wt[k] * row[k];
            tmp[(size_t)y * (size_t)ow + (size_t)o] = (float)acc;
        }
    for (int o = 0; o < oh; o++) {
        const float *wt = ay.w + (size_t)o * (size_t)ay.stride;
        for (int x = 0; x < ow; x++) {
            double acc = 0;
            for (int k = 0; k < ay.count[o]; k++) acc += wt[k] * tmp[(size_t)(ay.first[o] + k) * (size_t)ow + (size_t)x];
            dst[(size_t)o * (size_t)dst_stride + (size_t)x] = (float)acc;
        }
    }
done:
    axis_free(&ax);
    axis_free(&ay);
    free(tmp);
    return s;
}

static uint8_t to_byte(float v)
{
    if (!(v > 0)) return 0;
    if (v >= 1) return 255;
    return (uint8_t)lrintf(v * 255.0f);
}

/* Masks and stretches one channel in place to [0, 1]. */
static void stretch_plane(float *p, int64_t n, const am_thumb_noise *nz, const am_thumb_opts *o, float lo)
{
    double hi = nz->max, span = hi - lo;
    double a = o->softening;
    if (a <= 0) a = o->stretch == AM_STRETCH_LOG ? 1000.0 : 0.1;
    double norm = o->stretch == AM_STRETCH_ASINH ? asinh(1 / a) : log1p(a);
    for (int64_t i = 0; i < n; i++) {
        double v = isfinite(p[i]) && span > 0 ? (p[i] - lo) / span : 0;
        if (v < 0) v = 0;
        if (v > 1) v = 1;
        if (o->stretch == AM_STRETCH_ASINH) v = asinh(v / a) / norm;
        else if (o->stretch == AM_STRETCH_LOG) v = log1p(a * v) / norm;
        p[i] = (float)v;
    }
}

static float finite_min(const float *p, int64_t n)
{
    float lo = INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(p[i]) && p[i] < lo) lo = p[i];
    return lo;
}

am_status am_thumbnail_make(const float *image, int channels, int height, int width, int size,
                            const am_thumb_opts *opts, am_thumbnail *out, am_thumb_noise *noise)
{
    memset(out, 0, sizeof *out);
    if (!image || channels < 1 || height < 1 || width < 1)
        return am_error(AM_ERR_VALUE, "thumbnail: bad image %dx%dx%d", channels, height, width);
    if (size < 1 || size > 16384) return am_error(AM_ERR_VALUE, "thumbnail: bad size %d", size);
    am_thumb_opts def;
    am_thumb_opts_default(&def);
    const am_thumb_opts *o = opts ? opts : &def;
    if (o->stretch != AM_STRETCH_LINEAR && o->stretch != AM_STRETCH_ASINH && o->stretch != AM_STRETCH_LOG)
        return am_error(AM_ERR_VALUE, "thumbnail: unknown stretch %d", (int)o->stretch);

    /* Longer side to `size`, aspect kept, centred on a black square. */
    int ow = width >= height ? size : (int)lround((double)width * size / height);
    int oh = height >= width ? size : (int)lround((double)height * size / width);
    if (ow < 1) ow = 1;
    if (oh < 1) oh = 1;
    int x0 = (size - ow) / 2, y0 = (size - oh) / 2;
    int outc = channels == 3 ? 3 : 1;
    int64_t hw = (int64_t)height * width;
    float *plane = malloc((size_t)hw * sizeof *plane);
    float *canvas = calloc((size_t)size * (size_t)size * (size_t)outc, sizeof *canvas);
    float *small = malloc((size_t)ow * (size_t)oh * sizeof *small);
    out->pixels = calloc((size_t)size * (size_t)size * (size_t)outc, 1);
    am_status s = AM_OK;
    if (!plane || !canvas || !small || !out->pixels) {
        s = am_error(AM_ERR_NOMEM, "thumbnail: out of memory for %dx%d", width, height);
        goto done;
    }
    for (int c = 0; c < channels; c++) {
        memcpy(plane, image + (size_t)c * (size_t)hw, (size_t)hw * sizeof *plane);
        am_thumb_noise nz;
        s = am_thumb_noise_fit(plane, hw, o->mask_sigma, &nz);
        if (s != AM_OK) {
            am_error_prefix(s, "channel %d", c);
            goto done;
        }
        if (noise) noise[c] = nz;
        float lo = o->mask_sigma > 0 ? (float)nz.threshold : finite_min(plane, hw);
        stretch_plane(plane, hw, &nz, o, lo);
        s = resample(plane, height, width, small, oh, ow, ow);
        if (s != AM_OK) goto done;
        /* Gray from several channels: their mean. */
        int dc = outc == 3 ? c : 0;
        float share = outc == 3 ? 1.0f : 1.0f / (float)channels;
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
                canvas[((size_t)(y0 + y) * (size_t)size + (size_t)(x0 + x)) * (size_t)outc + (size_t)dc] +=
                    share * small[(size_t)y * (size_t)ow + (size_t)x];
    }
    for (size_t i = 0; i < (size_t)size * (size_t)size * (size_t)outc; i++) out->pixels[i] = to_byte(canvas[i]);
    out->size = size;
    out->channels = outc;
done:
    free(plane);
    free(canvas);
    free(small);
    if (s != AM_OK) am_thumbnail_free(out);
    return s;
}

am_status am_thumbnail_resize(const am_thumbnail *in, int size, am_thumbnail *out)
{
    memset(out, 0, sizeof *out);
    if (!in || !in->pixels || in->size < 1 || (in->channels != 1 && in->channels != 3))
        return am_error(AM_ERR_VALUE, "thumbnail: bad thumbnail to resize");
    if (size < 1 || size > 16384) return am_error(AM_ERR_VALUE, "thumbnail: bad size %d", size);
    int c = in->channels;
    size_t n = (size_t)in->size * (size_t)in->size, m = (size_t)size * (size_t)size;
    float *src = malloc(n * sizeof *src), *dst = malloc(m * sizeof *dst);
    out->pixels = malloc(m * (size_t)c);
    am_status s = AM_OK;
    if (!src || !dst || !out->pixels) {
        s = am_error(AM_ERR_NOMEM, "thumbnail: out of memory resizing to %d", size);
        goto done;
    }
    for (int k = 0; k < c; k++) {
        for (size_t i = 0; i < n; i++) src[i] = in->pixels[i * (size_t)c + (size_t)k] / 255.0f;
        s = resample(src, in->size, in->size, dst, size, size, size);
        if (s != AM_OK) goto done;
        for (size_t i = 0; i < m; i++) out->pixels[i * (size_t)c + (size_t)k] = to_byte(dst[i]);
    }
    out->size = size;
    out->channels = c;
done:
    free(src);
    free(dst);
    if (s != AM_OK) am_thumbnail_free(out);
    return s;
}

void am_thumbnail_free(am_thumbnail *t)
{
    if (!t) return;
    free(t->pixels);
    t->pixels = NULL;
    t->size = 0;
    t->channels = 0;
}
