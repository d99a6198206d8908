/* FFT-accelerated t-SNE repulsion (interpolation on an equispaced grid, FIt-SNE's scheme).
 * Double precision FFTW: the forces come out of differences such as (y_i - c) Σ q² - Σ q² (y_j - c),
 * which lose digits in proportion to the map's extent; single precision would leave ~1e-4 of
 * relative error on a 100-unit map, more than the interpolation's own. */
#include "tsne_fft.h"

#include "astromorph/tsne.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef AM_HAVE_FFTW
#include <fftw3.h>
#endif

enum { NREAL = 5, NSPEC = 6 };

int am_tsne_have_fft(void)
{
#ifdef AM_HAVE_FFTW
    return 1;
#else
    return 0;
#endif
}

void tsne_fft_init(tsne_fft *f)
{
    memset(f, 0, sizeof *f);
    /* openTSNE's defaults: 3 nodes per box, boxes at most one unit wide, at least 50 per axis. */
    f->p = 3;
    f->box_width = 1.0;
    f->min_boxes = 50;
    f->max_boxes = 256;
}

int tsne_fft_smooth_up(int b)
{
    for (;; b++) {
        int r = b;
        while (r % 2 == 0) r /= 2;
        while (r % 3 == 0) r /= 3;
        while (r % 5 == 0) r /= 5;
        if (r == 1) return b;
    }
}

#ifdef AM_HAVE_FFTW

static void free_grid(tsne_fft *f)
{
    for (int t = 0; t < NREAL; t++) fftw_free(f->real[t]), f->real[t] = NULL;
    for (int t = 0; t < NSPEC; t++) fftw_free(f->spec[t]), f->spec[t] = NULL;
        /* The planner is not thread-safe: plans are made and destroyed one at a time. */
#pragma omp critical(am_fftw_planner)
    {
        if (f->fwd) fftw_destroy_plan(f->fwd);
        if (f->inv) fftw_destroy_plan(f->inv);
    }
    f->fwd = f->inv = NULL;
    free(f->start);
    f->start = NULL;
    f->boxes = 0;
}

void tsne_fft_free(tsne_fft *f)
{
    free_grid(f);
    free(f->box);
    free(f->w);
    free(f->order);
    free(f->zpart);
    tsne_fft_init(f);
}

static int choose_boxes(const tsne_fft *f, double extent)
{
    double want = ceil(extent / f->box_width);
    int b = want > f->max_boxes ? f->max_boxes : (int)want;
    if (b < f->min_boxes) b = f->min_boxes;
    b = tsne_fft_smooth_up(b);
    return b > f->max_boxes ? f->max_boxes : b;
}

/* Buffers and plans for `boxes` per axis; kept while the count stays the same. FFTW_ESTIMATE
 * picks its algorithm by rule, not by timing, so the plan (and its rounding) is the same in every
 * run; FFTW_MEASURE could choose differently run to run. */
static am_status ensure_grid(tsne_fft *f, int boxes)
{
    if (f->boxes == boxes) return AM_OK;
    free_grid(f);
    int m = 2 * boxes * f->p;
    size_t nr = (size_t)m * (size_t)m, nc = (size_t)m * (size_t)(m / 2 + 1);
    int ok = 1;
    for (int t = 0; t < NREAL; t++) ok &= (f->real[t] = fftw_alloc_real(nr)) != NULL;
    for (int t = 0; t < NSPEC; t++) ok &= (f->spec[t] = fftw_alloc_complex(nc)) != NULL;
    f->start = malloc(((size_t)boxes * (size_t)boxes + 1) * sizeof *f->start);
    if (ok && f->start) {
#pragma omp critical(am_fftw_planner)
        {
            f->fwd = fftw_plan_dft_r2c_2d(m, m, f->real[0], f->spec[0], FFTW_ESTIMATE);
            f->inv = fftw_plan_dft_c2r_2d(m, m, f->spec[0], f->real[0], FFTW_ESTIMATE);
        }
    }
    if (!ok || !f->start || !f->fwd || !f->inv) {
        free_grid(f);
        return am_error(AM_ERR_NOMEM, "t-SNE: out of memory for a %d × %d FFT grid", m, m);
    }
    f->boxes = boxes;
    return AM_OK;
}

static am_status ensure_points(tsne_fft *f, int64_t n)
{
    if (n <= f->cap) return AM_OK;
    free(f->box);
    free(f->w);
    free(f->order);
    free(f->zpart);
    f->box = malloc((size_t)n * sizeof *f->box);
    f->w = malloc((size_t)n * 2 * (size_t)f->p * sizeof *f->w);
    f->order = malloc((size_t)n * sizeof *f->order);
    f->zpart = malloc((size_t)n * sizeof *f->zpart);
    if (!f->box || !f->w || !f->order || !f->zpart) {
        f->cap = 0;
        return am_error(AM_ERR_NOMEM, "t-SNE: out of memory for the FFT weights of %lld points", (long long)n);
    }
    f->cap = n;
    return AM_OK;
}

/* Lagrange weights at t in [0, p] for nodes at 0.5, 1.5, ..., p - 0.5 (a box in node units). */
static void lagrange(int p, double t, double *w)
{
    for (int m = 0; m < p; m++) {
        double v = 1;
        for (int l = 0; l < p; l++)
            if (l != m) v *= (t - (l + 0.5)) / (double)(m - l);
        w[m] = v;
    }
}

/* Each point's box and weights, then the points bucketed by box (a counting sort, stable, so
 * index order within a box). */
static void locate(tsne_fft *f, const double *y, int64_t n, const double *lo, double delta)
{
    const int p = f->p, b = f->boxes;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        int bb[2];
        for (int d = 0; d < 2; d++) {
            double t = (y[2 * i + d] - lo[d]) / delta;
            int k = (int)(t / p);
            if (k >= b) k = b - 1; /* the top edge */
            if (k < 0) k = 0;
            bb[d] = k;
            lagrange(p, t - (double)k * p, f->w + (i * 2 + d) * p);
        }
        f->box[i] = bb[0] * b + bb[1];
    }
    int64_t nb = (int64_t)b * b, *s = f->start;
    memset(s, 0, (size_t)(nb + 1) * sizeof *s);
    for (int64_t i = 0; i < n; i++) s[f->box[i] + 1]++;
    for (int64_t k = 0; k < nb; k++) s[k + 1] += s[k];
    for (int64_t i = 0; i < n; i++) f->order[s[f->box[i]]++] = i;
    /* s[k] now ends box k: shift back to starts. */
    for (int64_t k = nb; k > 0; k--) s[k] = s[k - 1];
    s[0] = 0;
}

/* Charges 1, y_x - c_x, y_y - c_y onto real[0..2]. A box's nodes are its own, so each box is one
 * thread's, its points added in index order. */
static void spread(tsne_fft *f, const double *y, const double *c)
{
    const int p = f->p, b = f->boxes, m = 2 * b * p;
    double *c0 = f->real[0], *c1 = f->real[1], *c2 = f->real[2];
    size_t nr = (size_t)m * (size_t)m;
    memset(c0, 0, nr * sizeof *c0);
    memset(c1, 0, nr * sizeof *c1);
    memset(c2, 0, nr * sizeof *c2);
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t k = 0; k < (int64_t)b * b; k++) {
        int64_t bx = k / b, by = k % b;
        for (int64_t e = f->start[k]; e < f->start[k + 1]; e++) {
            int64_t i = f->order[e];
            const double *wx = f->w + i * 2 * p, *wy = wx + p;
            double qx = y[2 * i] - c[0], qy = y[2 * i + 1] - c[1];
            for (int a = 0; a < p; a++)
                for (int q = 0; q < p; q++) {
                    size_t at = (size_t)(bx * p + a) * (size_t)m + (size_t)(by * p + q);
                    double ww = wx[a] * wy[q];
                    c0[at] += ww;
                    c1[at] += ww * qx;
                    c2[at] += ww * qy;
                }
        }
    }
}

/* The kernels on node offsets, laid out circularly for a linear convolution: offset u at index u,
 * offset -u at m - u (index m/2 is never reached by offsets below m/2). */
static void kernels(tsne_fft *f, double delta)
{
    const int m = 2 * f->boxes * f->p;
    double *k1 = f->real[3], *k2 = f->real[4];
#pragma omp parallel for schedule(static)
    for (int a = 0; a < m; a++) {
        double da = (a <= m / 2 ? a : a - m) * delta;
        for (int q = 0; q < m; q++) {
            double dq = (q <= m / 2 ? q : q - m) * delta;
            double v = 1.0 / (1.0 + da * da + dq * dq);
            k1[(size_t)a * m + q] = v;
            k2[(size_t)a * m + q] = v * v;
        }
    }
}

/* Five forward transforms, the products in the spectrum, four inverse transforms: each transform
 * is serial (the same rounding at any thread count); the threads share out whole transforms. */
static void convolve(tsne_fft *f)
{
    const int m = 2 * f->boxes * f->p;
    fftw_complex **sp = (fftw_complex **)f->spec;
#pragma omp parallel for schedule(dynamic, 1)
    for (int t = 0; t < NREAL; t++) fftw_execute_dft_r2c(f->fwd, f->real[t], sp[t]);
    int64_t nc = (int64_t)m * (m / 2 + 1);
    /* sp[5] = K1·C0 (for Z); sp[0..2] *= K2 (for the forces). */
#pragma omp parallel for schedule(static)
    for (int64_t e = 0; e < nc; e++) {
        const double *a = sp[3][e], *k = sp[4][e];
        sp[5][e][0] = a[0] * sp[0][e][0] - a[1] * sp[0][e][1];
        sp[5][e][1] = a[0] * sp[0][e][1] + a[1] * sp[0][e][0];
        for (int t = 0; t < 3; t++) {
            double re = k[0] * sp[t][e][0] - k[1] * sp[t][e][1], im = k[0] * sp[t][e][1] + k[1] * sp[t][e][0];
            sp[t][e][0] = re;
            sp[t][e][1] = im;
        }
    }
    /* Z potential into real[3], force potentials into real[0..2]. */
    static const int from[4] = {5, 0, 1, 2}, to[4] = {3, 0, 1, 2};
#pragma omp parallel for schedule(dynamic, 1)
    for (int t = 0; t < 4; t++) fftw_execute_dft_c2r(f->inv, sp[from[t]], f->real[to[t]]);
}

/* Potentials back at each point with its weights; no shared sums. */
static void gather(tsne_fft *f, const double *y, int64_t n, const double *c, double *neg)
{
    const int p = f->p, b = f->boxes, m = 2 * b * p;
    const double scale = 1.0 / ((double)m * (double)m); /* FFTW's transforms are unnormalised */
    const double *pz = f->real[3], *p0 = f->real[0], *p1 = f->real[1], *p2 = f->real[2];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        int64_t bx = f->box[i] / b, by = f->box[i] % b;
        const double *wx = f->w + i * 2 * p, *wy = wx + p;
        double sz = 0, s0 = 0, s1 = 0, s2 = 0;
        for (int a = 0; a < p; a++)
            for (int q = 0; q < p; q++) {
                size_t at = (size_t)(bx * p + a) * (size_t)m + (size_t)(by * p + q);
                double ww = wx[a] * wy[q];
                sz += ww * pz[at];
                s0 += ww * p0[at];
                s1 += ww * p1[at];
                s2 += ww * p2[at];
            }
        double qx = y[2 * i] - c[0], qy = y[2 * i + 1] - c[1];
        neg[2 * i] = (qx * s0 - s1) * scale;
        neg[2 * i + 1] = (qy * s0 - s2) * scale;
        f->zpart[i] = sz * scale;
    }
}

am_status tsne_fft_repulsion(tsne_fft *f, const double *y, int64_t n, double *neg, double *z)
{
    if (f->p < 1 || f->p > 8 || !(f->box_width > 0) || f->min_boxes < 1 || f->max_boxes < f->min_boxes)
        return am_error(AM_ERR_VALUE, "t-SNE FFT: bad grid settings (p %d, box width %g, boxes %d..%d)", f->p,
                        f->box_width, f->min_boxes, f->max_boxes);
    double lo0 = INFINITY, lo1 = INFINITY, hi0 = -INFINITY, hi1 = -INFINITY;
    /* min and max are exact: any reduction order gives the same bounds */
    int bad = 0; /* fmin and fmax pass over NaN: looked for separately */
#pragma omp parallel for schedule(static) reduction(min : lo0, lo1) reduction(max : hi0, hi1) reduction(| : bad)
    for (int64_t i = 0; i < n; i++) {
        lo0 = fmin(lo0, y[2 * i]), hi0 = fmax(hi0, y[2 * i]);
        lo1 = fmin(lo1, y[2 * i + 1]), hi1 = fmax(hi1, y[2 * i + 1]);
        bad |= !isfinite(y[2 * i]) || !isfinite(y[2 * i + 1]);
    }
    if (bad) return am_error(AM_ERR_NUMERIC, "t-SNE: the map has a non-finite coordinate (the optimisation diverged)");
    /* One square box size for both axes, so that grid offsets map to distances isotropically. */
    double extent = fmax(fmax(hi0 - lo0, hi1 - lo1), 1e-12);
    AM_TRY(ensure_grid(f, choose_boxes(f, extent)));
    AM_TRY(ensure_points(f, n));
    double lo[2] = {lo0, lo1}, c[2] = {lo0 + 0.5 * extent, lo1 + 0.5 * extent};
    double delta = extent / f->boxes / f->p;
    locate(f, y, n, lo, delta);
    spread(f, y, c);
    kernels(f, delta);
    convolve(f);
    gather(f, y, n, c, neg);
    double s = 0; /* in point order: the same for any thread count */
    for (int64_t i = 0; i < n; i++) s += f->zpart[i];
    *z = s - (double)n; /* each point's own q_ii = 1 */
    return AM_OK;
}

#else

void tsne_fft_free(tsne_fft *f) { tsne_fft_init(f); }

am_status tsne_fft_repulsion(tsne_fft *f, const double *y, int64_t n, double *neg, double *z)
{
    return am_error(AM_ERR_VALUE, "t-SNE: the FFT method needs FFTW, and this build has none (install "
                                  "libfftw3-dev and reconfigure)");
}

#endif
