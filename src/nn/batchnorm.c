/* BatchNorm1d/2d. TRAIN: batch statistics (biased variance normalises), running statistics
 * updated with momentum 0.1 and the unbiased variance, num_batches_tracked counted. EVAL: running
 * statistics. Backward works in both; in EVAL the statistics are constants.
 * Written by hand rather than with oneDNN's bnorm_jit: that kernel synchronises its threads with
 * spin barriers, and on a loaded 2-core machine a ResNet18 step spent 70 % of its time in them
 * (346 ms of BatchNorm against 130 ms of convolutions). Channels are independent here, so threads
 * never wait for each other. */
#include <math.h>

#include "nn/nn_internal.h"

#define BN_EPS 1e-5
#define BN_MOMENTUM 0.1f

typedef struct bn_state {
    int eval; /* mode of the last forward */
    int relu; /* the last forward applied the following ReLU */
    am_buf mean, rstd; /* statistics the last forward normalised with */
} bn_state;

static void bn_state_free(void *p)
{
    bn_state *b = p;
    if (!b) return;
    am_buf_free(&b->mean);
    am_buf_free(&b->rstd);
    am_free(b);
}

/* The activation as groups of L channels (am_act_lanes() in the blocked layout, and in the
 * channels-last one when it divides C; else 1): the values of group g in image n are `hw` rows of
 * L consecutive floats, one row every `stride` floats (the layout's block: L, C or 1), starting at
 * base(n, g). */
typedef struct groups {
    int64_t n, count, hw, lanes, stride, c;
} groups;

static groups groups_of(const am_act *a)
{
    const int64_t L = am_act_lanes();
    groups g = {a->s.n,          0,     a->s.h * a->s.w, a->layout != AM_LAYOUT_PLAIN && a->s.c % L == 0 ? L : 1,
                am_act_block(a), a->s.c};
    g.count = a->s.c / g.lanes;
    return g;
}

static float *base(const groups *g, const float *data, int64_t n, int64_t k)
{
    const int64_t c0 = k * g->lanes, B = g->stride;
    return (float *)data + (n * (g->c / B) + c0 / B) * g->hw * B + c0 % B;
}

/* Row kernels over one group: hw rows of L lanes, st floats apart (L = 16, 8 or 1; 16 has its
 * own loop, unrolled for AVX-512). Cloned for AVX-512 (the library's generic flags stop at SSE4.2)
 * and picked at load time; partial sums stay in float for 64 rows, then go to double. Each lane
 * adds its rows in the same order whatever L and st are, so the layout does not change the sums. */
#define AM_HOT __attribute__((target_clones("avx512f", "default")))
#define ROWS 64

/* s += Σ (x - k), s2 += Σ (x - k)² per lane (k near the mean keeps the shifted form exact). */
AM_HOT static void rows_moments(const float *p, int64_t hw, int64_t L, int64_t st, const float *k, double *s,
                                double *s2)
{
    for (int64_t i0 = 0; i0 < hw; i0 += ROWS) {
        int64_t i1 = i0 + ROWS < hw ? i0 + ROWS : hw;
        float a[16] = {0}, b[16] = {0};
        if (L == 16) {
            for (int64_t i = i0; i < i1; i++)
#pragma omp simd
                for (int l = 0; l < 16; l++) {
                    float d = p[i * st + l] - k[l];
                    a[l] += d;
                    b[l] += d * d;
                }
        } else {
            for (int64_t i = i0; i < i1; i++)
                for (int64_t l = 0; l < L; l++) {
                    float d = p[i * st + l] - k[l];
                    a[l] += d;
                    b[l] += d * d;
                }
        }
        for (int64_t l = 0; l < L; l++) s[l] += a[l], s2[l] += b[l];
    }
}

/* max(x, lo) that vectorises: fmaxf is a libm call through the PLT at -O2 (its NaN rule is the same). */
static inline float max_lo(float x, float lo) { return x > lo ? x : lo; }

/* q = max((x - mu)·a + b, lo) per lane (subtracting first: x·a + (b - mu·a) would cancel when
 * the mean is large against the spread). */
AM_HOT static void rows_affine(const float *p, float *q, int64_t hw, int64_t L, int64_t st, const float *mu,
                               const float *a, const float *b, float lo)
{
    if (L == 16) {
        for (int64_t i = 0; i < hw; i++)
#pragma omp simd
            for (int l = 0; l < 16; l++) q[i * st + l] = max_lo((p[i * st + l] - mu[l]) * a[l] + b[l], lo);
    } else {
        for (int64_t i = 0; i < hw; i++)
            for (int64_t l = 0; l < L; l++) q[i * st + l] = max_lo((p[i * st + l] - mu[l]) * a[l] + b[l], lo);
    }
}

/* sd += Σ dy', sdx += Σ dy'·(x - mu), with dy' = dy masked by y > 0 when relu is set. */
AM_HOT static void rows_bwd_sums(const float *p, const float *d, const float *o, int64_t hw, int64_t L, int64_t st,
                                 const float *mu, int relu, double *sd, double *sdx)
{
    float lo = relu ? 0.0f : -INFINITY;
    for (int64_t i0 = 0; i0 < hw; i0 += ROWS) {
        int64_t i1 = i0 + ROWS < hw ? i0 + ROWS : hw;
        float a[16] = {0}, b[16] = {0};
        if (L == 16) {
            for (int64_t i = i0; i < i1; i++)
#pragma omp simd
                for (int l = 0; l < 16; l++) {
                    float dd = o[i * st + l] > lo ? d[i * st + l] : 0.0f;
                    a[l] += dd;
                    b[l] += dd * (p[i * st + l] - mu[l]);
                }
        } else {
            for (int64_t i = i0; i < i1; i++)
                for (int64_t l = 0; l < L; l++) {
                    float dd = o[i * st + l] > lo ? d[i * st + l] : 0.0f;
                    a[l] += dd;
                    b[l] += dd * (p[i * st + l] - mu[l]);
                }
        }
        for (int64_t l = 0; l < L; l++) sd[l] += a[l], sdx[l] += b[l];
    }
}

/* dx = ca·((dy' - m1) - (x - mu)·k2) per lane: the differences first, as PyTorch does, since
 * dy' and its mean m1 often nearly cancel and scaling each before subtracting loses digits. */
AM_HOT static void rows_bwd_apply(const float *p, const float *d, const float *o, float *q, int64_t hw, int64_t L,
                                  int64_t st, const float *mu, const float *ca, const float *m1, const float *k2,
                                  int relu)
{
    float lo = relu ? 0.0f : -INFINITY;
    if (L == 16) {
        for (int64_t i = 0; i < hw; i++)
#pragma omp simd
            for (int l = 0; l < 16; l++) {
                float dd = o[i * st + l] > lo ? d[i * st + l] : 0.0f;
                q[i * st + l] = ca[l] * ((dd - m1[l]) - (p[i * st + l] - mu[l]) * k2[l]);
            }
    } else {
        for (int64_t i = 0; i < hw; i++)
            for (int64_t l = 0; l < L; l++) {
                float dd = o[i * st + l] > lo ? d[i * st + l] : 0.0f;
                q[i * st + l] = ca[l] * ((dd - m1[l]) - (p[i * st + l] - mu[l]) * k2[l]);
            }
    }
}

am_status am_bn_forward(am_module *m, am_net *net, const am_act *x)
{
    am_shape ys;
    AM_TRY(am_leaf_out_shape(m, &x->s, &ys));
    int eval = net->mode == AM_MODE_EVAL;
    int64_t per_channel = x->s.n * x->s.h * x->s.w;
    if (!eval && per_channel < 2)
        return am_error(AM_ERR_SHAPE, "%s: training needs more than 1 value per channel (batch of %lld)", am_mod_who(m),
                        (long long)x->s.n);
    AM_TRY(am_out_alloc(m, net, &ys));
    bn_state *b = am_mod_state(m, sizeof *b, bn_state_free);
    if (!b) return AM_ERR_NOMEM;
    int64_t C = x->s.c;
    AM_TRY(am_buf_reserve(&b->mean, (size_t)C, am_mod_who(m)));
    AM_TRY(am_buf_reserve(&b->rstd, (size_t)C, am_mod_who(m)));
    b->eval = eval;
    b->relu = m->fuse_relu;
    float lo = b->relu ? 0.0f : -INFINITY;
    const float *gamma = m->p[AM_P_WEIGHT].value.data, *beta = m->p[AM_P_BIAS].value.data;
    float *rmean = m->p[AM_P_RUNNING_MEAN].value.data, *rvar = m->p[AM_P_RUNNING_VAR].value.data;
    float *mean = b->mean.data, *rstd = b->rstd.data;
    groups g = groups_of(x);
    double inv_count = 1.0 / (double)per_channel, unbias = (double)per_channel / (double)(per_channel - 1);
#pragma omp parallel for schedule(static) if (per_channel * C > 32768)
    for (int64_t k = 0; k < g.count; k++) {
        const int64_t L = g.lanes;
        double s[16] = {0}, s2[16] = {0};
        float a[16], sh[16], mu[16];
        int64_t c0 = k * L;
        if (eval) {
            for (int64_t l = 0; l < L; l++) {
                mean[c0 + l] = rmean[c0 + l];
                rstd[c0 + l] = (float)(1.0 / sqrt((double)rvar[c0 + l] + BN_EPS));
            }
        } else {
            /* One pass over (x - k) with k the channel's first value, so that a large common
             * offset does not cancel in E[(x-k)²] - E[x-k]². */
            float shift[16];
            const float *p0 = base(&g, x->data, 0, k);
            for (int64_t l = 0; l < L; l++) shift[l] = p0[l];
            for (int64_t n = 0; n < g.n; n++) rows_moments(base(&g, x->data, n, k), g.hw, L, g.stride, shift, s, s2);
            for (int64_t l = 0; l < L; l++) {
                double dm = s[l] * inv_count, var = fmax(s2[l] * inv_count - dm * dm, 0.0);
                s[l] = shift[l] + dm;
                mean[c0 + l] = (float)s[l];
                rstd[c0 + l] = (float)(1.0 / sqrt(var + BN_EPS));
                rmean[c0 + l] = (1 - BN_MOMENTUM) * rmean[c0 + l] + BN_MOMENTUM * (float)s[l];
                rvar[c0 + l] = (1 - BN_MOMENTUM) * rvar[c0 + l] + BN_MOMENTUM * (float)(var * unbias);
            }
        }
        for (int64_t l = 0; l < L; l++) {
            a[l] = rstd[c0 + l] * gamma[c0 + l];
            sh[l] = beta[c0 + l];
            mu[l] = mean[c0 + l];
        }
        for (int64_t n = 0; n < g.n; n++)
            rows_affine(base(&g, x->data, n, k), base(&g, m->y.data, n, k), g.hw, L, g.stride, mu, a, sh, lo);
    }
    if (!eval) m->p[AM_P_BATCHES_TRACKED].value.data[0] += 1;
    return AM_OK;
}

/* With xhat = (x - mean)·rstd over M values per channel (dy masked by y > 0 when the ReLU is fused):
 * dbeta = Σ dy, dgamma = Σ dy·xhat, and
 * TRAIN: dx = gamma·rstd·(dy - dbeta/M - xhat·dgamma/M);  EVAL: dx = gamma·rstd·dy. */
am_status am_bn_backward(am_module *m, am_net *net, const am_act *dy, int need_dx)
{
    bn_state *b = m->impl;
    const am_act *x = m->in;
    AM_TRY(am_grad_alloc(m, net, &x->s));
    const float *gamma = m->p[AM_P_WEIGHT].value.data, *mean = b->mean.data, *rstd = b->rstd.data;
    float *dgamma = m->p[AM_P_WEIGHT].grad.data, *dbeta = m->p[AM_P_BIAS].grad.data;
    groups g = groups_of(x);
    int64_t per_channel = x->s.n * x->s.h * x->s.w;
    double inv_count = 1.0 / (double)per_channel;
    int eval = b->eval, relu = b->relu;
    const float *y = m->y.data;
#pragma omp parallel for schedule(static) if (per_channel * x->s.c > 32768)
    for (int64_t k = 0; k < g.count; k++) {
        const int64_t L = g.lanes;
        double sd[16] = {0}, sdx[16] = {0};
        float mu[16], rs[16], ca[16], m1[16], k2[16];
        int64_t c0 = k * L;
        for (int64_t l = 0; l < L; l++) mu[l] = mean[c0 + l], rs[l] = rstd[c0 + l];
        for (int64_t n = 0; n < g.n; n++)
            rows_bwd_sums(base(&g, x->data, n, k), base(&g, dy->data, n, k), base(&g, y, n, k), g.hw, L, g.stride, mu,
                          relu, sd, sdx);
        for (int64_t l = 0; l < L; l++) {
            double dg = sdx[l] * rs[l]; /* Σ dy'·xhat */
            dgamma[c0 + l] += (float)dg;
            dbeta[c0 + l] += (float)sd[l];
            ca[l] = (float)((double)gamma[c0 + l] * rs[l]);
            m1[l] = eval ? 0.0f : (float)(sd[l] * inv_count);
            k2[l] = eval ? 0.0f : (float)(dg * inv_count * rs[l]);
        }
        for (int64_t n = 0; n < g.n; n++)
            rows_bwd_apply(base(&g, x->data, n, k), base(&g, dy->data, n, k), base(&g, y, n, k),
                           base(&g, m->dx.data, n, k), g.hw, L, g.stride, mu, ca, m1, k2, relu);
    }
    return AM_OK;
}

am_status am_norm_out_shape(const am_module *m, const am_shape *in, am_shape *out)
{
    char b[64];
    int want = m->kind == AM_MOD_BATCHNORM1D ? 2 : 4;
    if (in->ndim != want || in->c != m->in_ch)
        return am_error(AM_ERR_SHAPE, "%s: input %s, expected %s with %d channels", am_mod_who(m),
                        am_shape_str(in, b, sizeof b), want == 2 ? "N×C" : "N×C×H×W", m->in_ch);
    *out = *in;
    return AM_OK;
}

const am_layer_ops am_batchnorm_ops = {am_norm_out_shape, NULL, am_bn_forward, am_bn_backward, NULL};
