/* Intensity-weighted pooling to 1×1: each channel's pixels averaged with weights taken from the
 * network's own input, so that the source counts more than the empty sky around it.
 *
 * For image n, with X the network input (Cin × H × W) and f the pooled map (C × h × w):
 *   a = A(mean_c X)        the input's channel mean, area-averaged to h × w (A: each cell the
 *                          mean of the input area it covers, partial pixels by their overlap)
 *   r = max(a, 0), S = Σ r, w = r / S        (w = 1 / hw when S = 0: the plain average)
 *   y_c = Σ_i w_i f_ci
 * Backward: dL/df_ci = dy_c w_i. The weights depend on X too: with g_i = Σ_c dy_c f_ci,
 *   dL/da_i = [a_i > 0] (g_i − Σ_j w_j g_j) / S     (0 when S = 0, where no a_i is > 0)
 *   dL/dX_c' = A^T(dL/da) / Cin,
 * added to the network's input gradient by am_net_input_grad (intensity_input_grad). */
#include <math.h>
#include <stdlib.h>

#include "nn/nn_internal.h"

/* The area average along one axis, in → out cells: cell o covers input [o·s, (o+1)·s), s = in/out,
 * and input pixel first[o] + t gets the weight wt[o·stride + t] (its overlap / s). */
typedef struct axis {
    int64_t in, out, stride;
    int64_t *first, *count;
    double *wt;
} axis;

typedef struct ipool_state {
    axis ay, ax;
    double *rows; /* per image: the channel mean averaged along the rows, H × w */
    double *a, *wts, *ga; /* per image h × w: before the clip, the weights, dL/da */
    double *sum; /* per image: S */
    size_t rows_cap, map_cap, n_cap;
    int64_t n, h, w, H, W; /* of the last forward */
} ipool_state;

static void axis_free(axis *a)
{
    free(a->first), free(a->count), free(a->wt);
    *a = (axis){0};
}

static am_status axis_make(axis *a, int64_t in, int64_t out, const char *who)
{
    if (a->in == in && a->out == out && a->wt) return AM_OK;
    axis_free(a);
    double s = (double)in / (double)out;
    a->stride = (int64_t)ceil(s) + 2; /* a cell touches at most ceil(s) + 1 pixels; one more for rounding */
    a->first = malloc((size_t)out * sizeof *a->first);
    a->count = malloc((size_t)out * sizeof *a->count);
    a->wt = calloc((size_t)(out * a->stride), sizeof *a->wt);
    if (!a->first || !a->count || !a->wt) {
        axis_free(a);
        return am_error(AM_ERR_NOMEM, "%s: out of memory", who);
    }
    for (int64_t o = 0; o < out; o++) {
        double x0 = (double)o * s, x1 = (double)(o + 1) * s;
        int64_t i0 = (int64_t)floor(x0), i1 = (int64_t)ceil(x1);
        if (i1 > in) i1 = in;
        a->first[o] = i0, a->count[o] = i1 - i0;
        for (int64_t i = i0; i < i1; i++) {
            double ov = fmin(x1, (double)i + 1.0) - fmax(x0, (double)i);
            a->wt[o * a->stride + i - i0] = ov > 0 ? ov / s : 0;
        }
    }
    a->in = in, a->out = out;
    return AM_OK;
}

static void ipool_free(void *p)
{
    ipool_state *s = p;
    if (!s) return;
    axis_free(&s->ay), axis_free(&s->ax);
    free(s->rows), free(s->a), free(s->wts), free(s->ga), free(s->sum);
    am_free(s);
}

static am_status grow(double **p, size_t *cap, size_t n, const char *who)
{
    if (n <= *cap) return AM_OK;
    double *q = realloc(*p, n * sizeof *q);
    if (!q) return am_error(AM_ERR_NOMEM, "%s: out of memory", who);
    *p = q, *cap = n;
    return AM_OK;
}

/* a, wts and ga for n images of hw cells, sum for n images. */
static am_status grow_maps(ipool_state *s, int64_t n, int64_t hw, const char *who)
{
    size_t need = (size_t)(n * hw);
    if (need > s->map_cap) {
        free(s->a), free(s->wts), free(s->ga);
        s->a = malloc(need * sizeof *s->a), s->wts = malloc(need * sizeof *s->wts),
        s->ga = malloc(need * sizeof *s->ga);
        s->map_cap = s->a && s->wts && s->ga ? need : 0;
        if (!s->map_cap) return am_error(AM_ERR_NOMEM, "%s: out of memory", who);
    }
    return grow(&s->sum, &s->n_cap, (size_t)n, who);
}

/* The weights of image n from the network input X: s->a, s->wts and s->sum for that image. */
static void image_weights(ipool_state *s, const am_act *X, int64_t n)
{
    const int64_t H = s->H, W = s->W, h = s->h, w = s->w, cin = X->s.c;
    const axis *ax = &s->ax, *ay = &s->ay;
    double *rows = s->rows + n * H * w;
    for (int64_t i = 0; i < H * w; i++) rows[i] = 0;
    for (int64_t c = 0; c < cin; c++) {
        int64_t st;
        const float *p = am_act_chan(X, n, c, &st);
        for (int64_t yy = 0; yy < H; yy++)
            for (int64_t o = 0; o < w; o++) {
                const double *wt = ax->wt + o * ax->stride;
                const float *row = p + (yy * W + ax->first[o]) * st;
                double acc = 0;
                for (int64_t t = 0; t < ax->count[o]; t++) acc += wt[t] * row[t * st];
                rows[yy * w + o] += acc;
            }
    }
    double *a = s->a + n * h * w, *wgt = s->wts + n * h * w, sum = 0;
    for (int64_t o = 0; o < h; o++)
        for (int64_t q = 0; q < w; q++) {
            const double *wt = ay->wt + o * ay->stride;
            double acc = 0;
            for (int64_t t = 0; t < ay->count[o]; t++) acc += wt[t] * rows[(ay->first[o] + t) * w + q];
            a[o * w + q] = acc / (double)cin;
            sum += fmax(a[o * w + q], 0.0);
        }
    s->sum[n] = sum;
    for (int64_t i = 0; i < h * w; i++) wgt[i] = sum > 0 ? fmax(a[i], 0.0) / sum : 1.0 / (double)(h * w);
}

static am_status intensity_forward(am_module *m, am_net *net, const am_act *x)
{
    const char *who = am_mod_who(m);
    const am_act *X = am_net_input(net);
    char b1[64], b2[64];
    am_shape ys;
    AM_TRY(am_global_pool_out_shape(m, &x->s, &ys));
    if (X->s.ndim != 4 || X->s.n != x->s.n)
        return am_error(AM_ERR_SHAPE, "%s: the network input %s does not match the pooled map %s", who,
                        am_shape_str(&X->s, b1, sizeof b1), am_shape_str(&x->s, b2, sizeof b2));
    AM_TRY(am_net_reads_input(net, m));
    ipool_state *s = am_mod_state(m, sizeof *s, ipool_free);
    if (!s) return AM_ERR_NOMEM;
    const int64_t N = x->s.n, C = x->s.c, h = x->s.h, w = x->s.w, hw = h * w;
    s->n = N, s->h = h, s->w = w, s->H = X->s.h, s->W = X->s.w;
    AM_TRY(axis_make(&s->ay, s->H, h, who));
    AM_TRY(axis_make(&s->ax, s->W, w, who));
    AM_TRY(grow(&s->rows, &s->rows_cap, (size_t)(N * s->H * w), who));
    AM_TRY(grow_maps(s, N, hw, who));
    AM_TRY(am_out_alloc(m, net, &ys));
#pragma omp parallel for if (N * X->s.c * s->H * s->W > 65536) schedule(static)
    for (int64_t n = 0; n < N; n++) image_weights(s, X, n);
#pragma omp parallel for collapse(2) if (N * C * hw > 65536) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            int64_t st, dst_st;
            const float *p = am_act_chan(x, n, c, &st);
            const double *wgt = s->wts + n * hw;
            double acc = 0;
            for (int64_t i = 0; i < hw; i++) acc += wgt[i] * p[i * st];
            *am_act_chan(&m->y, n, c, &dst_st) = (float)acc;
        }
    return AM_OK;
}

static am_status intensity_backward(am_module *m, am_net *net, const am_act *dy, int need_dx)
{
    (void)need_dx; /* the weights' gradient below needs the same pass; the map's costs no more */
    const am_act *x = m->in;
    ipool_state *s = m->impl;
    AM_TRY(am_grad_alloc(m, net, &x->s));
    const int64_t N = x->s.n, C = x->s.c, hw = x->s.h * x->s.w;
#pragma omp parallel for if (N * C * hw > 65536) schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const double *wgt = s->wts + n * hw, *a = s->a + n * hw;
        double *g = s->ga + n * hw, wg = 0;
        for (int64_t i = 0; i < hw; i++) g[i] = 0;
        for (int64_t c = 0; c < C; c++) {
            int64_t st, dst, dy_st;
            const float d = *am_act_chan(dy, n, c, &dy_st);
            const float *f = am_act_chan(x, n, c, &st);
            float *dx = am_act_chan(&m->dx, n, c, &dst);
            for (int64_t i = 0; i < hw; i++) {
                dx[i * dst] = (float)(d * wgt[i]);
                g[i] += (double)d * f[i * st];
            }
        }
        for (int64_t i = 0; i < hw; i++) wg += wgt[i] * g[i];
        /* g becomes dL/da */
        for (int64_t i = 0; i < hw; i++) g[i] = s->sum[n] > 0 && a[i] > 0 ? (g[i] - wg) / s->sum[n] : 0;
    }
    return AM_OK;
}

/* dx (the network input's gradient, NCHW) += A^T(dL/da) / Cin on every input channel. */
static am_status intensity_input_grad(am_module *m, am_net *net, float *dx)
{
    ipool_state *s = m->impl;
    const am_act *X = am_net_input(net);
    const int64_t N = s->n, H = s->H, W = s->W, h = s->h, w = s->w, cin = X->s.c;
    const axis *ax = &s->ax, *ay = &s->ay;
    double *u = malloc((size_t)(H * w) * sizeof *u); /* A_y^T(dL/da): H × w */
    double *plane = malloc((size_t)(H * W) * sizeof *plane);
    if (!u || !plane) {
        free(u), free(plane);
        return am_error(AM_ERR_NOMEM, "%s: out of memory", am_mod_who(m));
    }
    for (int64_t n = 0; n < N; n++) {
        const double *g = s->ga + n * h * w;
        for (int64_t i = 0; i < H * w; i++) u[i] = 0;
        for (int64_t i = 0; i < H * W; i++) plane[i] = 0;
        for (int64_t o = 0; o < h; o++)
            for (int64_t t = 0; t < ay->count[o]; t++)
                for (int64_t q = 0; q < w; q++)
                    u[(ay->first[o] + t) * w + q] += ay->wt[o * ay->stride + t] * g[o * w + q];
        for (int64_t yy = 0; yy < H; yy++)
            for (int64_t q = 0; q < w; q++)
                for (int64_t t = 0; t < ax->count[q]; t++)
                    plane[yy * W + ax->first[q] + t] += ax->wt[q * ax->stride + t] * u[yy * w + q];
        for (int64_t c = 0; c < cin; c++) {
            float *d = dx + (n * cin + c) * H * W;
            for (int64_t i = 0; i < H * W; i++) d[i] += (float)(plane[i] / (double)cin);
        }
    }
    free(u), free(plane);
    return AM_OK;
}

const am_layer_ops am_intensity_pool_ops = {am_global_pool_out_shape, NULL, intensity_forward, intensity_backward,
                                            intensity_input_grad};
