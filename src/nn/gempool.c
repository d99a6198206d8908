/* Generalized-mean (GeM) pooling to 1×1 (Radenović, Tolias & Chum, "Fine-tuning CNN image
 * retrieval with no human annotation", 2018), p fixed at AM_GEM_P = 3:
 *   y_c = (mean_i max(x_ci, eps)^p)^(1/p)
 *   dL/dx_ci = dy_c (1/hw) y_c^(1-p) x_ci^(p-1)    where x_ci > eps, else 0.
 * Between the average (p = 1) and the maximum (p → ∞): large responses count more, the many
 * small ones of empty sky less. The clamp keeps the power defined: values at or below eps count
 * as eps (whose cube, 1e-18, is nothing) and pass no gradient, so on a map that can be negative
 * (amm ends with a BatchNorm) the pooling sees only its positive part. Sums in double; y_c is at
 * least eps, so y_c^(1-p) is finite. */
#include <math.h>

#include "nn/nn_internal.h"

_Static_assert((int)(AM_GEM_P * 8) == 24, "the powers below are written out for p = 3");
static inline double gem_pow(double v) { return v * v * v; } /* v^p */
static inline double gem_root(double v) { return cbrt(v); } /* v^(1/p) */
static inline double gem_pow1(double v) { return v * v; } /* v^(p-1) */

/* y_c of one channel, in double. */
static double gem_channel(const float *p, int64_t st, int64_t hw)
{
    double s = 0;
    for (int64_t i = 0; i < hw; i++) s += gem_pow(fmax((double)p[i * st], AM_GEM_EPS));
    return gem_root(s / (double)hw);
}

static am_status gem_forward(am_module *m, am_net *net, const am_act *x)
{
    am_shape ys;
    AM_TRY(am_global_pool_out_shape(m, &x->s, &ys));
    AM_TRY(am_out_alloc(m, net, &ys));
    const int64_t N = x->s.n, C = x->s.c, hw = x->s.h * x->s.w;
#pragma omp parallel for collapse(2) if (N * C * hw > 65536) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            int64_t st, dst_st;
            const float *p = am_act_chan(x, n, c, &st);
            *am_act_chan(&m->y, n, c, &dst_st) = (float)gem_channel(p, st, hw);
        }
    return AM_OK;
}

static am_status gem_backward(am_module *m, am_net *net, const am_act *dy, int need_dx)
{
    (void)need_dx;
    const am_act *x = m->in;
    AM_TRY(am_grad_alloc(m, net, &x->s));
    const int64_t N = x->s.n, C = x->s.c, hw = x->s.h * x->s.w;
#pragma omp parallel for collapse(2) if (N * C * hw > 65536) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            int64_t st, dst, dy_st;
            const float *p = am_act_chan(x, n, c, &st);
            float *dx = am_act_chan(&m->dx, n, c, &dst);
            /* y again in double rather than the float output: the same value, unrounded */
            const double y = gem_channel(p, st, hw);
            const double k = (double)*am_act_chan(dy, n, c, &dy_st) / ((double)hw * gem_pow1(y));
            for (int64_t i = 0; i < hw; i++) {
                double v = (double)p[i * st];
                dx[i * dst] = v > AM_GEM_EPS ? (float)(k * gem_pow1(v)) : 0.0f;
            }
        }
    return AM_OK;
}

const am_layer_ops am_gem_pool_ops = {am_global_pool_out_shape, NULL, gem_forward, gem_backward, NULL};
