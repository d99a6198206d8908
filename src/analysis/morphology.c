/* Non-parametric morphology of the central source of an image (include/astromorph/morphology.h). */
#include "astromorph/morphology.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/tensor.h"
#include "astromorph/thumbnail.h"

static const double PROFILE_EDGES[AM_MORPH_PROFILE_BINS + 1] = {0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4};

const char *const am_morphology_columns[] = {
    "concentration", "asymmetry",  "smoothness",    "gini",         "m20",         "ellipticity", "orientation",
    "r20",           "r50",        "r80",           "area",         "flux",        "xc",          "yc",
    "profile_0",     "profile_1",  "profile_2",     "profile_3",    "profile_4",   "profile_5",   "profile_6",
    "profile_7",     "components", "main_fraction", "las",          "fr_ratio",    "peak_offset", "bend",
    "fourier_1",     "fourier_2",  "fourier_3",     "sn_per_pixel", "morph_flags", NULL};

void am_morph_options_default(am_morph_options *o)
{
    o->threshold_sigma = 3.0;
    o->min_pixels = 5;
    o->background = NAN;
    o->sigma = NAN;
}

int am_morphology_row(const am_morphology *m, double *out)
{
    double v[] = {m->concentration, m->asymmetry, m->smoothness, m->gini, m->m20,  m->ellipticity, m->orientation,
                  m->r20,           m->r50,       m->r80,        m->area, m->flux, m->xc,          m->yc};
    int n = (int)(sizeof v / sizeof v[0]);
    memcpy(out, v, sizeof v);
    for (int b = 0; b < AM_MORPH_PROFILE_BINS; b++) out[n++] = m->profile[b];
    double st[] = {m->components, m->main_fraction, m->las, m->fr_ratio, m->peak_offset, m->bend};
    memcpy(out + n, st, sizeof st);
    n += (int)(sizeof st / sizeof st[0]);
    for (int k = 0; k < 3; k++) out[n++] = m->fourier[k];
    out[n++] = m->sn_per_pixel;
    out[n++] = m->flags;
    return n;
}

void am_morphology_features(const am_morphology *m, float *out)
{
    double v[8] = {m->concentration,
                   m->asymmetry,
                   m->smoothness,
                   m->gini,
                   m->m20,
                   m->ellipticity,
                   m->area > 0 ? log10(m->area) : NAN,
                   m->r50 > 0 ? log10(m->r50) : NAN};
    for (int i = 0; i < 8; i++) out[i] = (float)v[i];
    for (int b = 0; b < AM_MORPH_PROFILE_BINS; b++) out[8 + b] = (float)m->profile[b];
    double st[9] = {m->components > 0 ? log2(m->components) : NAN,
                    m->main_fraction,
                    m->las > 0 ? log10(m->las) : NAN,
                    m->fr_ratio,
                    m->peak_offset,
                    m->bend,
                    m->fourier[0],
                    m->fourier[1],
                    m->fourier[2]};
    for (int i = 0; i < 9; i++) out[AM_MORPH_FEATURES_V1 + i] = (float)st[i];
}

int am_morphology_colour_count(int64_t channels)
{
    return channels >= 2 && channels <= AM_MORPH_MAX_BANDS ? 2 * (int)(channels - 1) : 0;
}

int am_morphology_feature_count(int64_t channels) { return AM_MORPH_FEATURES + am_morphology_colour_count(channels); }

void am_morphology_features_all(const am_morphology *m, float *out)
{
    am_morphology_features(m, out);
    for (int k = 0; k < m->ncolours; k++) out[AM_MORPH_FEATURES + k] = (float)m->colour[k];
}

void am_morphology_colour_name(int64_t channels, int k, char *buf, size_t size)
{
    const int pairs = (int)channels - 1, j = k % (pairs > 0 ? pairs : 1);
    snprintf(buf, size, "colour_%s%d_%d", k < pairs ? "" : "gradient_", j, j + 1);
}

static void set_nan(am_morphology *m)
{
    double *fields[] = {
        &m->concentration, &m->asymmetry,  &m->smoothness,    &m->gini,      &m->m20,      &m->ellipticity,
        &m->orientation,   &m->r20,        &m->r50,           &m->r80,       &m->xc,       &m->yc,
        &m->sn_per_pixel,  &m->components, &m->main_fraction, &m->las,       &m->fr_ratio, &m->peak_offset,
        &m->bend,          &m->fourier[0], &m->fourier[1],    &m->fourier[2]};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) *fields[i] = NAN;
    for (int b = 0; b < AM_MORPH_PROFILE_BINS; b++) m->profile[b] = NAN;
    for (int k = 0; k < AM_MORPH_MAX_COLOURS; k++) m->colour[k] = NAN;
}

/* Labels the 8-connected regions of mask (1 = above threshold) from 1 up; returns their count
 * or -1 when out of memory. lab is h·w ints. */
static int label_regions(const uint8_t *mask, int64_t h, int64_t w, int *lab)
{
    int64_t n = h * w, *stack = malloc((size_t)n * sizeof *stack);
    if (!stack) return -1;
    memset(lab, 0, (size_t)n * sizeof *lab);
    int next = 0;
    for (int64_t p = 0; p < n; p++) {
        if (!mask[p] || lab[p]) continue;
        lab[p] = ++next;
        int64_t top = 0;
        stack[top++] = p;
        while (top) {
            int64_t q = stack[--top], y = q / w, x = q % w;
            for (int64_t dy = -1; dy <= 1; dy++)
                for (int64_t dx = -1; dx <= 1; dx++) {
                    int64_t yy = y + dy, xx = x + dx;
                    if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                    int64_t r = yy * w + xx;
                    if (mask[r] && !lab[r]) lab[r] = next, stack[top++] = r;
                }
        }
    }
    free(stack);
    return next;
}

typedef struct pix {
    double v, x, y, r;
} pix;

static int by_value(const void *a, const void *b)
{
    double x = ((const pix *)a)->v, y = ((const pix *)b)->v;
    return (x > y) - (x < y);
}

static int by_radius(const void *a, const void *b)
{
    double x = ((const pix *)a)->r, y = ((const pix *)b)->r;
    return (x > y) - (x < y);
}

/* Radius where the curve of growth (pixels sorted by radius) reaches frac of total, linear
 * between pixel radii. */
static double radius_at(const pix *p, int64_t n, double total, double frac)
{
    double want = frac * total, cum = 0, prev_r = 0, prev_c = 0;
    for (int64_t i = 0; i < n; i++) {
        cum += p[i].v;
        if (cum >= want) {
            double span = cum - prev_c;
            return span > 0 ? prev_r + (p[i].r - prev_r) * (want - prev_c) / span : p[i].r;
        }
        prev_r = p[i].r, prev_c = cum;
    }
    return p[n - 1].r;
}

/* Per-region sums over the labelled pixels (index 1..nlab): flux, flux-weighted x and y, pixels. */
typedef struct regions {
    double *f, *sx, *sy;
    int64_t *area;
} regions;

static void regions_free(regions *R) { free(R->f), free(R->sx), free(R->sy), free(R->area); }

static am_status regions_sum(regions *R, const float *I, const int *lab, int nlab, int64_t n, int64_t w)
{
    R->f = calloc((size_t)nlab + 1, sizeof *R->f), R->sx = calloc((size_t)nlab + 1, sizeof *R->sx);
    R->sy = calloc((size_t)nlab + 1, sizeof *R->sy), R->area = calloc((size_t)nlab + 1, sizeof *R->area);
    if (!R->f || !R->sx || !R->sy || !R->area) return am_error(AM_ERR_NOMEM, "morphology: out of memory");
    for (int64_t i = 0; i < n; i++)
        if (lab[i]) {
            int k = lab[i];
            R->f[k] += I[i], R->sx[k] += I[i] * (double)(i % w), R->sy[k] += I[i] * (double)(i / w), R->area[k]++;
        }
    return AM_OK;
}

/* Mean of the 3×3 pixels about p (those inside the image): the brightest pixel by it is not a
 * single noise spike. */
static double mean3(const float *I, int64_t h, int64_t w, int64_t p)
{
    int64_t y = p / w, x = p % w, k = 0;
    double s = 0;
    for (int64_t yy = y - 1; yy <= y + 1; yy++)
        for (int64_t xx = x - 1; xx <= x + 1; xx++)
            if (yy >= 0 && yy < h && xx >= 0 && xx < w) s += I[yy * w + xx], k++;
    return s / (double)k;
}

/* The structure statistics over the source's components (include/astromorph/morphology.h);
 * lab holds nlab regions summed in R, best is the main one. */
static am_status measure_structure(const float *I, const int *lab, const regions *R, int nlab, int64_t h, int64_t w,
                                   int best, int min_pixels, am_morphology *m)
{
    int64_t n = h * w;
    const double *f = R->f, *sx = R->sx, *sy = R->sy;
    uint8_t *in = calloc((size_t)nlab + 1, 1);
    if (!in) return am_error(AM_ERR_NOMEM, "morphology: out of memory");
    double reach = 0.35 * (double)(h < w ? h : w), Ft = 0, cx = 0, cy = 0;
    int ncomp = 0;
    for (int k = 1; k <= nlab; k++) {
        double dx = sx[k] / f[k] - 0.5 * (double)(w - 1), dy = sy[k] / f[k] - 0.5 * (double)(h - 1);
        in[k] = k == best || (R->area[k] >= min_pixels && f[k] >= 0.02 * f[best] && dx * dx + dy * dy <= reach * reach);
        if (in[k]) ncomp++, Ft += f[k], cx += sx[k], cy += sy[k];
    }
    cx /= Ft, cy /= Ft;
    m->components = ncomp;
    m->main_fraction = f[best] / Ft;
    /* the widest projection, the brightest pixel, the Fourier sums */
    enum { NDIR = 32 };
    double lo[NDIR], hi[NDIR], cs[NDIR][2], re[3] = {0}, im[3] = {0}, top = -INFINITY;
    for (int d = 0; d < NDIR; d++)
        lo[d] = INFINITY, hi[d] = -INFINITY, cs[d][0] = cos(M_PI * d / NDIR), cs[d][1] = sin(M_PI * d / NDIR);
    int64_t p1 = -1;
    for (int64_t i = 0; i < n; i++) {
        if (!lab[i] || !in[lab[i]]) continue;
        double x = (double)(i % w), y = (double)(i / w), dx = x - cx, dy = y - cy;
        for (int d = 0; d < NDIR; d++) {
            double t = x * cs[d][0] + y * cs[d][1];
            lo[d] = t < lo[d] ? t : lo[d], hi[d] = t > hi[d] ? t : hi[d];
        }
        double r = sqrt(dx * dx + dy * dy);
        if (r > 0)
            for (int k = 0; k < 3; k++) {
                double phi = (double)(k + 1) * atan2(dy, dx);
                re[k] += I[i] * cos(phi), im[k] += I[i] * sin(phi);
            }
        double v = mean3(I, h, w, i);
        if (v > top) top = v, p1 = i;
    }
    double las = 0;
    for (int d = 0; d < NDIR; d++) las = hi[d] - lo[d] > las ? hi[d] - lo[d] : las;
    m->las = las;
    for (int k = 0; k < 3; k++) m->fourier[k] = sqrt(re[k] * re[k] + im[k] * im[k]) / Ft;
    /* the brightest pixel on the other side of the host from the brightest; the cutout is
     * centred on its target, so the host is the image centre (the flux centroid is not: bent
     * lobes pull it towards themselves and hide the bend) */
    const double ox = 0.5 * (double)(w - 1), oy = 0.5 * (double)(h - 1);
    double ux = (double)(p1 % w) - ox, uy = (double)(p1 / w) - oy, top2 = -INFINITY;
    int64_t p2 = -1;
    for (int64_t i = 0; i < n; i++) {
        if (!lab[i] || !in[lab[i]]) continue;
        double dx = (double)(i % w) - ox, dy = (double)(i / w) - oy;
        if (dx * ux + dy * uy >= 0) continue;
        double v = mean3(I, h, w, i);
        if (v > top2) top2 = v, p2 = i;
    }
    double r1 = sqrt(ux * ux + uy * uy);
    m->peak_offset = las > 0 ? fmin(1.0, 2 * r1 / las) : 0;
    if (p2 >= 0 && las > 0) {
        double vx = (double)(p2 % w) - ox, vy = (double)(p2 / w) - oy, r2 = sqrt(vx * vx + vy * vy);
        double ex = (double)(p2 % w) - (double)(p1 % w), ey = (double)(p2 / w) - (double)(p1 / w);
        m->fr_ratio = fmin(1.0, sqrt(ex * ex + ey * ey) / las);
        /* the angle between two spots close together (a single peaked source) is noise */
        m->bend = m->fr_ratio > 0.2 && r1 > 0 && r2 > 0 ? 1 + (ux * vx + uy * vy) / (r1 * r2) : 0;
    } else {
        m->fr_ratio = 0, m->bend = 0; /* nothing on the other side: one-sided or a single pixel */
    }
    free(in);
    return AM_OK;
}

/* am_morphology_measure; region (h·w bytes, or NULL): 1 on the main region's pixels, left all 0
 * when there is no usable source (the colours are measured there). */
static am_status measure_plane(const float *img, int64_t h, int64_t w, const am_morph_options *o, am_morphology *m,
                               uint8_t *region)
{
    am_morph_options def;
    if (!o) am_morph_options_default(&def), o = &def;
    memset(m, 0, sizeof *m);
    set_nan(m);
    if (h < 1 || w < 1) return am_error(AM_ERR_SHAPE, "morphology: empty image");
    int64_t n = h * w;
    am_thumb_noise nz = {0};
    if (isnan(o->background) || isnan(o->sigma)) AM_TRY(am_thumb_noise_fit(img, n, 5.0, &nz));
    if (!isnan(o->background)) nz.mean = o->background;
    if (!isnan(o->sigma)) nz.sigma = o->sigma;
    float *I = malloc((size_t)n * sizeof *I);
    uint8_t *mask = malloc((size_t)n);
    int *lab = malloc((size_t)n * sizeof *lab);
    pix *p = malloc((size_t)n * sizeof *p);
    float *sm = malloc((size_t)n * sizeof *sm);
    double *rflux = NULL;
    if (!I || !mask || !lab || !p || !sm) {
        free(I), free(mask), free(lab), free(p), free(sm);
        return am_error(AM_ERR_NOMEM, "morphology: out of memory for %lld pixels", (long long)n);
    }
    double peak = 0;
    for (int64_t i = 0; i < n; i++) {
        I[i] = isfinite(img[i]) ? (float)(img[i] - nz.mean) : 0.0f;
        peak = I[i] > peak ? I[i] : peak;
    }
    m->sigma = nz.sigma;
    double thr = o->threshold_sigma * nz.sigma;
    if (!(nz.sigma > 0)) m->flags |= AM_MORPH_NO_NOISE, thr = 1e-4 * peak;
    for (int64_t i = 0; i < n; i++) mask[i] = I[i] > thr && I[i] > 0;
    int nlab = label_regions(mask, h, w, lab);
    am_status st = nlab < 0 ? am_error(AM_ERR_NOMEM, "morphology: out of memory") : AM_OK;
    /* the region with the most flux, discounted by its distance from the centre (cutouts are
     * centred on their target; a bright neighbour near the edge should not win) */
    int best = 0;
    regions R = {0};
    if (st == AM_OK && nlab > 0) st = regions_sum(&R, I, lab, nlab, n, w);
    if (st == AM_OK && nlab > 0) {
        double top = -1, scale = 0.25 * (double)(h < w ? h : w);
        for (int k = 1; k <= nlab; k++) {
            double dx = R.sx[k] / R.f[k] - 0.5 * (double)(w - 1), dy = R.sy[k] / R.f[k] - 0.5 * (double)(h - 1);
            double score = R.f[k] / (1 + (dx * dx + dy * dy) / (scale * scale));
            if (score > top) top = score, best = k;
        }
    }
    int64_t np = 0;
    double F = 0, xc = 0, yc = 0;
    int edge = 0;
    for (int64_t i = 0; st == AM_OK && best && i < n; i++)
        if (lab[i] == best) {
            double x = (double)(i % w), y = (double)(i / w);
            p[np++] = (pix){I[i], x, y, 0};
            F += I[i], xc += I[i] * x, yc += I[i] * y;
            edge |= x == 0 || y == 0 || x == (double)(w - 1) || y == (double)(h - 1);
        }
    m->area = (double)np;
    m->flux = F;
    if (st != AM_OK || !best) {
        if (st == AM_OK) m->flags |= AM_MORPH_NO_SOURCE;
        goto done;
    }
    if (np < o->min_pixels || !(F > 0)) {
        m->flags |= AM_MORPH_FEW_PIXELS;
        goto done;
    }
    if (edge) m->flags |= AM_MORPH_EDGE;
    for (int64_t i = 0; region && i < n; i++) region[i] = lab[i] == best;
    if ((st = measure_structure(I, lab, &R, nlab, h, w, best, o->min_pixels, m)) != AM_OK) goto done;
    xc /= F, yc /= F;
    m->xc = xc, m->yc = yc;
    m->sn_per_pixel = nz.sigma > 0 ? F / (double)np / nz.sigma : NAN;

    /* second moments: ellipticity and orientation */
    double mxx = 0, myy = 0, mxy = 0;
    for (int64_t i = 0; i < np; i++) {
        double dx = p[i].x - xc, dy = p[i].y - yc;
        mxx += p[i].v * dx * dx, myy += p[i].v * dy * dy, mxy += p[i].v * dx * dy;
        p[i].r = sqrt(dx * dx + dy * dy);
    }
    mxx /= F, myy /= F, mxy /= F;
    double mid = 0.5 * (mxx + myy), dif = sqrt(0.25 * (mxx - myy) * (mxx - myy) + mxy * mxy);
    double l1 = mid + dif, l2 = mid - dif > 0 ? mid - dif : 0;
    m->ellipticity = l1 > 0 ? 1 - sqrt(l2 / l1) : NAN;
    m->orientation = 0.5 * atan2(2 * mxy, mxx - myy) * 180.0 / M_PI;
    if (m->orientation <= -90) m->orientation += 180;

    /* M20: total second moment, and that of the brightest pixels holding 20 % of the flux */
    double mtot = 0;
    for (int64_t i = 0; i < np; i++) mtot += p[i].v * p[i].r * p[i].r;
    qsort(p, (size_t)np, sizeof *p, by_value); /* ascending: Gini's order; M20 walks it from the top */
    double cum = 0, m20 = 0;
    for (int64_t i = np - 1; i >= 0 && cum < 0.2 * F; i--) cum += p[i].v, m20 += p[i].v * p[i].r * p[i].r;
    m->m20 = mtot > 0 && m20 > 0 ? log10(m20 / mtot) : NAN;
    /* Gini of the pixel values (all positive: above the threshold) */
    double g = 0;
    for (int64_t i = 0; i < np; i++) g += (2.0 * (double)(i + 1) - (double)np - 1.0) * p[i].v;
    m->gini = np > 1 ? g / ((F / (double)np) * (double)np * (double)(np - 1)) : NAN;

    /* curve of growth */
    qsort(p, (size_t)np, sizeof *p, by_radius);
    m->r20 = radius_at(p, np, F, 0.2);
    m->r50 = radius_at(p, np, F, 0.5);
    m->r80 = radius_at(p, np, F, 0.8);
    m->concentration = m->r20 > 0 && m->r80 > 0 ? 5 * log10(m->r80 / m->r20) : NAN;

    /* asymmetry about the centroid, over the source; pure noise in both would add 2σ/sqrt(pi)
     * per pixel on average, which is taken off */
    double num = 0, den = 0;
    for (int64_t i = 0; i < np; i++) {
        double v = p[i].v, r = am_bilinear_at(I, h, w, 2 * xc - p[i].x, 2 * yc - p[i].y);
        num += fabs(v - r), den += fabs(v);
    }
    m->asymmetry = den > 0 ? (num - (double)np * 2.0 * nz.sigma / sqrt(M_PI)) / den : NAN;

    /* smoothness: residual from a boxcar of width about r50/2 */
    int k = (int)floor(0.5 * m->r50);
    k = k < 3 ? 3 : k | 1;
    int hk = k / 2;
    {
        /* box sums along rows, then columns (zero outside) */
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                double s = 0;
                for (int64_t t = x - hk; t <= x + hk; t++)
                    if (t >= 0 && t < w) s += I[y * w + t];
                sm[y * w + x] = (float)s;
            }
        double snum = 0, sden = 0;
        for (int64_t i = 0; i < np; i++) {
            int64_t x = (int64_t)p[i].x, y = (int64_t)p[i].y;
            double s = 0;
            for (int64_t t = y - hk; t <= y + hk; t++)
                if (t >= 0 && t < h) s += sm[t * w + x];
            double resid = p[i].v - s / (double)(k * k);
            snum += resid > 0 ? resid : 0, sden += p[i].v;
        }
        m->smoothness = sden > 0 ? snum / sden : NAN;
    }

    /* radial profile over the whole image, in units of the mean intensity within r50 */
    rflux = calloc(2 * AM_MORPH_PROFILE_BINS, sizeof *rflux);
    if (!rflux) {
        st = am_error(AM_ERR_NOMEM, "morphology: out of memory");
        goto done;
    }
    if (m->r50 > 0) {
        double inner = 0.5 * F / (M_PI * m->r50 * m->r50);
        for (int64_t i = 0; i < n; i++) {
            double dx = (double)(i % w) - xc, dy = (double)(i / w) - yc, rr = sqrt(dx * dx + dy * dy) / m->r50;
            for (int b = 0; b < AM_MORPH_PROFILE_BINS; b++)
                if (rr >= PROFILE_EDGES[b] && rr < PROFILE_EDGES[b + 1]) {
                    rflux[b] += I[i], rflux[AM_MORPH_PROFILE_BINS + b] += 1;
                    break;
                }
        }
        for (int b = 0; b < AM_MORPH_PROFILE_BINS; b++)
            m->profile[b] =
                rflux[AM_MORPH_PROFILE_BINS + b] > 0 ? rflux[b] / rflux[AM_MORPH_PROFILE_BINS + b] / inner : NAN;
    }
done:
    regions_free(&R);
    free(I), free(mask), free(lab), free(p), free(sm), free(rflux);
    return st;
}

am_status am_morphology_measure(const float *img, int64_t h, int64_t w, const am_morph_options *o, am_morphology *m)
{
    return measure_plane(img, h, w, o, m, NULL);
}

/* -2.5 log10 of a flux ratio: a colour in magnitudes; NaN unless both fluxes are positive. */
static double colour_of(double fa, double fb) { return fa > 0 && fb > 0 ? -2.5 * log10(fa / fb) : NAN; }

/* The colours of m (morphology.h) from the bands of image over the main region of their sum.
 * Each band's background is its own (the bands' sky levels differ), fitted as the sum's is;
 * non-finite pixels count as background, as in the sum. */
static am_status measure_colours(const am_tensor *image, const uint8_t *region, am_morphology *m)
{
    const int64_t c = image->shape[0], h = image->shape[1], w = image->shape[2], hw = h * w;
    m->ncolours = am_morphology_colour_count(c);
    if (!m->ncolours || !(m->r50 > 0)) return AM_OK; /* no source: the colours stay NaN */
    double inner[AM_MORPH_MAX_BANDS] = {0}, outer[AM_MORPH_MAX_BANDS] = {0};
    for (int64_t k = 0; k < c; k++) {
        const float *band = image->data + k * hw;
        am_thumb_noise nz;
        AM_TRY(am_thumb_noise_fit(band, hw, 5.0, &nz));
        for (int64_t i = 0; i < hw; i++) {
            if (!region[i] || !isfinite(band[i])) continue;
            double dx = (double)(i % w) - m->xc, dy = (double)(i / w) - m->yc, v = band[i] - nz.mean;
            if (dx * dx + dy * dy < m->r50 * m->r50) inner[k] += v;
            else outer[k] += v;
        }
    }
    for (int64_t k = 0; k + 1 < c; k++) {
        m->colour[k] = colour_of(inner[k] + outer[k], inner[k + 1] + outer[k + 1]);
        m->colour[c - 1 + k] = colour_of(inner[k], inner[k + 1]) - colour_of(outer[k], outer[k + 1]);
    }
    return AM_OK;
}

am_status am_morphology_measure_image(const am_tensor *image, const am_morph_options *o, am_morphology *m)
{
    if (image->ndim != 3) return am_error(AM_ERR_SHAPE, "morphology: image must be C×H×W");
    int64_t c = image->shape[0], hw = image->shape[1] * image->shape[2];
    if (c == 1) return am_morphology_measure(image->data, image->shape[1], image->shape[2], o, m);
    float *sum = malloc((size_t)(hw ? hw : 1) * sizeof *sum);
    uint8_t *region = calloc((size_t)(hw ? hw : 1), 1);
    if (!sum || !region) {
        free(sum), free(region);
        return am_error(AM_ERR_NOMEM, "morphology: out of memory");
    }
    am_sum_planes(image->data, c, hw, sum);
    am_status s = measure_plane(sum, image->shape[1], image->shape[2], o, m, region);
    if (s == AM_OK) s = measure_colours(image, region, m);
    free(sum), free(region);
    return s;
}
