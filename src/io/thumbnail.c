/* Thumbnails as in the astromorph paper. The noise is found by fitting a Gaussian to the core
 * of the pixel histogram around its mode (weighted least squares on log counts, iterated so the
 * window follows the fit); sources only add to the upper tail, so the core stays clean.
 * Quantised data get bins on whole levels, and a sky clipped to black (the mode at the bottom of
 * the data) a one-sided fit from the clip level. */
#include "astromorph/tensor.h"
#include "astromorph/thumbnail.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { FIT_ITERATIONS = 20 };
static const double CORE_HALF_WIDTH = 1.5; /* fit window: mode ± 1.5σ */

void am_thumb_options_default(am_thumb_options *o)
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

/* Quantised data (8-bit stamps, integer counts) only take values r0 + k·q: histogram bins must
 * span whole levels with edges between them, or empty bins break the fit. q = 0 for float data. */
typedef struct {
    double q, r0;
} levels;

/* Histogram of v over [lo, lo + nb·width). */
static void histogram(const float *v, int64_t n, double lo, double width, int nb, double *h)
{
    memset(h, 0, (size_t)nb * sizeof *h);
    for (int64_t i = 0; i < n; i++) {
        double k = floor((v[i] - lo) / width);
        if (k >= 0 && k < nb) h[(int)k] += 1;
    }
}

/* Bin width and start fitted to the levels of quantised data. */
static void snap_bins(const levels *lv, double *lo, double *width)
{
    if (lv->q <= 0) return;
    *width = lv->q * ceil(*width / lv->q - 1e-9);
    *lo = lv->r0 + (floor((*lo - lv->r0) / lv->q) + 0.5) * lv->q;
}

/* Weighted least-squares fit of a Gaussian to the log counts of the histogram bins over
 * [centre - half, centre + half], x measured from centre in units of sigma to keep the system
 * well scaled, weights = counts (var of ln h ≈ 1/h). Two-sided: ln h = a + b·x + c·x². One-sided
 * (the mode at the bottom of the data, e.g. a sky clipped at zero): the centre stays fixed and
 * only bins above it count, ln h = a + c·x². Returns 0 when the bins do not describe a downward
 * parabola. */
static int fit_core(const float *v, int64_t n, const levels *lv, int one_sided, double centre, double sigma,
                    double *mean, double *sd)
{
    enum { MAX_BINS = 64 };
    /* Few pixels: wider bins so each holds enough counts for a stable logarithm. */
    double width = sigma / (n < 20000 ? 4 : 8);
    double half = CORE_HALF_WIDTH * sigma;
    if (2 * half / width > MAX_BINS - 2) width = 2 * half / (MAX_BINS - 2);
    double lo = one_sided ? centre - width / 2 : centre - half;
    snap_bins(lv, &lo, &width);
    int nb = (int)ceil((centre + half - lo) / width);
    if (nb > MAX_BINS) nb = MAX_BINS;
    double h[MAX_BINS];
    histogram(v, n, lo, width, nb, h);
    double s[5] = {0}, t[3] = {0};
    int used = 0;
    if (one_sided) {
        /* The first bin also holds everything clipped below it. With the mean at the clip level,
         * it holds Φ(a) of the Gaussian where an unclipped central bin holds 2Φ(a) - 1. */
        double a = width / (2 * sigma), phi = 0.5 * erfc(-a / sqrt(2.0));
        h[0] *= (2 * phi - 1) / phi;
    }
    for (int k = 0; k < nb; k++) {
        if (h[k] < 1) continue;
        double x = (lo + (k + 0.5) * width - centre) / sigma, y = log(h[k]), p = h[k];
        for (int e = 0; e < 5; e++) {
            s[e] += p;
            if (e < 3) t[e] += p * y;
            p *= x;
        }
        used++;
    }
    double b = 0, c;
    if (one_sided) {
        /* Basis (1, x²): [s0 s2; s2 s4]·(a c) = (t0, t2). */
        double det = s[0] * s[4] - s[2] * s[2];
        if (used < 3 || !(fabs(det) > 0)) return 0;
        c = (s[0] * t[2] - s[2] * t[0]) / det;
    } else {
        /* [s0 s1 s2; s1 s2 s3; s2 s3 s4]·(a b c) = t by Cramer's rule. */
        double m[3][3] = {{s[0], s[1], s[2]}, {s[1], s[2], s[3]}, {s[2], s[3], s[4]}};
        double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                     m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                     m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
        if (used < 5 || !(fabs(det) > 0)) return 0;
        double db = m[0][0] * (t[1] * m[2][2] - m[1][2] * t[2]) - t[0] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                    m[0][2] * (m[1][0] * t[2] - t[1] * m[2][0]);
        double dc = m[0][0] * (m[1][1] * t[2] - t[1] * m[2][1]) - m[0][1] * (m[1][0] * t[2] - t[1] * m[2][0]) +
                    t[0] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
        b = db / det;
        c = dc / det;
    }
    if (!(c < 0)) return 0;
    /* Back from units of sigma around centre. */
    *sd = sigma * sqrt(-1 / (2 * c));
    *mean = centre + sigma * (-b / (2 * c));
    return isfinite(*sd) && isfinite(*mean);
}

/* Centre of the most populated of 101 bins of about `width` around `around`: the mode. */
static double histogram_mode(const float *v, int64_t n, const levels *lv, double around, double width)
{
    enum { NB = 101 };
    double lo = around - NB / 2 * width - width / 2, h[NB];
    snap_bins(lv, &lo, &width);
    histogram(v, n, lo, width, NB, h);
    int best = NB / 2;
    for (int k = 0; k < NB; k++)
        if (h[k] > h[best]) best = k;
    return lo + (best + 0.5) * width;
}

/* Value at quantile f of a sorted sample. */
static double quantile(const float *s, int64_t n, double f)
{
    int64_t i = (int64_t)(f * (double)(n - 1));
    return s[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* Drops every value equal to x; returns the new count. */
static int64_t drop_value(float *v, int64_t m, float x)
{
    int64_t k = 0;
    for (int64_t i = 0; i < m; i++)
        if (v[i] != x) v[k++] = v[i];
    return k;
}

/* Smallest gap between distinct values of a sorted sample, if the data look quantised: the
 * sample then holds few distinct values, each many times. */
static levels find_levels(const float *s, int64_t n)
{
    levels lv = {0, 0};
    int64_t distinct = 1;
    double q = INFINITY;
    for (int64_t i = 1; i < n; i++)
        if (s[i] != s[i - 1]) {
            distinct++;
            if (s[i] - s[i - 1] < q) q = (double)s[i] - (double)s[i - 1];
        }
    if (distinct < 2 || (double)distinct > 0.1 * (double)n || !isfinite(q)) return lv;
    lv.q = q;
    lv.r0 = s[n / 2];
    return lv;
}

/* A value repeated over a large area (blanked pixels set to 0, the outside of a primary beam) is
 * not noise: it is left out of the sorted sample s and the values v. Quantised data repeat every
 * value, so there the spike must also stand far above its neighbouring levels, and a spike at
 * their minimum is a sky clipped to black (8-bit stamps): the background itself, kept. */
static void drop_spike(float *s, int64_t *ns, float *v, int64_t *m, const levels *lv)
{
    int64_t n = *ns, run = 1, best_run = 1, best_at = 0;
    for (int64_t i = 1; i < n; i++) {
        run = s[i] == s[i - 1] ? run + 1 : 1;
        if (run > best_run) best_run = run, best_at = i - run + 1;
    }
    int64_t next_run = 0; /* the longest run of a neighbouring level */
    for (int64_t i = best_at - 1, r = 0; i >= 0 && s[i] == s[best_at - 1]; i--) next_run = ++r;
    for (int64_t i = best_at + best_run, r = 0; i < n && s[i] == s[best_at + best_run]; i++)
        if (++r > next_run) next_run = r;
    if (best_run <= n / 20 || n - best_run < 16) return;
    if (lv->q > 0 && (best_run <= 4 * next_run || best_at == 0)) return;
    float spike = s[best_at];
    *ns = drop_value(s, n, spike);
    *m = drop_value(v, *m, spike);
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

    levels lv = find_levels(smp, ns);
    drop_spike(smp, &ns, v, &m, &lv);

    double median = 0.5 * ((double)smp[(ns - 1) / 2] + (double)smp[ns / 2]);
    /* Robust start: σ from the 16th–84th percentile spread (too wide when sources fill much of
     * the image), then from below the mode alone, where there is only noise: in a Gaussian,
     * 31.74 % of the pixels below the mode lie below mode - σ. */
    double sigma0 = 0.5 * (quantile(smp, ns, 0.8413) - quantile(smp, ns, 0.1587));
    out->mean = median;
    out->sigma = sigma0;
    out->fitted = 0;
    if (sigma0 > 0) {
        double mode = histogram_mode(v, m, &lv, median, sigma0 / 10);
        int64_t below = 0;
        while (below < ns && smp[below] < mode) below++;
        double low = mode - quantile(smp, ns, 0.3174 * (double)below / (double)ns);
        if (low > 0 && low < sigma0) {
            sigma0 = low;
            mode = histogram_mode(v, m, &lv, mode, sigma0 / 10);
        }
        /* Hardly any data below the mode: a clipped background, fitted from above. */
        int one_sided = mode - smp[0] < 0.5 * sigma0;
        if (one_sided) mode = smp[0];
        double centre = mode, sigma = sigma0, mean = centre, sd = sigma0;
        /* Iterate until the window stops moving. A fit that fails after good ones (quantised data
         * whose noise shrank to a level or two, too few bins left) keeps the last good one. */
        int good = 0;
        for (int it = 0; it < FIT_ITERATIONS; it++) {
            if (!fit_core(v, m, &lv, one_sided, centre, sigma, &mean, &sd) || sd > 10 * sigma0 || sd < 1e-3 * sigma0 ||
                fabs(mean - centre) > 2 * sigma)
                break;
            good++;
            double dm = fabs(mean - centre), ds = fabs(sd - sigma);
            centre = mean;
            sigma = sd;
            if (dm < 1e-4 * sd && ds < 1e-4 * sd) break;
        }
        out->mean = good ? centre : mode;
        out->sigma = good ? sigma : sigma0;
        out->fitted = good > 0;
    }
    free(smp);
    out->threshold = out->mean + (mask_sigma > 0 ? mask_sigma : 0) * out->sigma;
    free(v);
    return AM_OK;
}

static uint8_t to_byte(float v)
{
    if (!(v > 0)) return 0;
    if (v >= 1) return 255;
    return (uint8_t)lrintf(v * 255.0f);
}

/* Masks and stretches one channel in place to [0, 1]. */
static void stretch_plane(float *p, int64_t n, const am_thumb_noise *nz, const am_thumb_options *o, float lo)
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
                            const am_thumb_options *opts, am_thumbnail *out, am_thumb_noise *noise)
{
    memset(out, 0, sizeof *out);
    if (!image || channels < 1 || height < 1 || width < 1)
        return am_error(AM_ERR_VALUE, "thumbnail: bad image %dx%dx%d", channels, height, width);
    if (size < 1 || size > 16384) return am_error(AM_ERR_VALUE, "thumbnail: bad size %d", size);
    am_thumb_options def;
    am_thumb_options_default(&def);
    const am_thumb_options *o = opts ? opts : &def;
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
        s = am_resample(plane, 1, height, width, small, oh, ow);
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
        s = am_resample(src, 1, in->size, in->size, dst, size, size);
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
