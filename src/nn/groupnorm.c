/* GroupNorm (PyTorch semantics, eps 1e-5, per-channel affine), written by hand because oneDNN
 * 2.6 has none. Statistics per (image, group) in double; works in either layout. */
#include <math.h>
#include <stdlib.h>

#include "nn/nn_internal.h"

#define GN_EPS 1e-5

typedef struct gn_state {
    am_buf mean, rstd; /* per (image, group) */
} gn_state;

static void gn_state_free(void *p)
{
    gn_state *g = p;
    if (!g) return;
    am_buf_free(&g->mean);
    am_buf_free(&g->rstd);
    am_free(g);
}

am_status am_gn_forward(am_module *m, am_net *net, const am_act *x)
{
    am_shape ys;
    AM_TRY(am_leaf_out_shape(m, &x->s, &ys));
    AM_TRY(am_out_alloc(m, net, &ys));
    gn_state *g = am_mod_state(m, sizeof *g, gn_state_free);
    if (!g) return AM_ERR_NOMEM;
    int64_t N = x->s.n, C = x->s.c, G = m->groups, cg = C / G, hw = x->s.h * x->s.w;
    AM_TRY(am_buf_reserve(&g->mean, (size_t)(N * G), am_mod_who(m)));
    AM_TRY(am_buf_reserve(&g->rstd, (size_t)(N * G), am_mod_who(m)));
    const float *gamma = m->p[AM_P_WEIGHT].value.data, *beta = m->p[AM_P_BIAS].value.data;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < G; k++) {
            double s = 0, s2 = 0;
            for (int64_t c = k * cg; c < (k + 1) * cg; c++) {
                int64_t st;
                const float *p = am_act_chan(x, n, c, &st);
                for (int64_t i = 0; i < hw; i++) s += p[i * st];
            }
            double mean = s / (double)(cg * hw);
            for (int64_t c = k * cg; c < (k + 1) * cg; c++) {
                int64_t st;
                const float *p = am_act_chan(x, n, c, &st);
                for (int64_t i = 0; i < hw; i++) s2 += (p[i * st] - mean) * (p[i * st] - mean);
            }
            double rstd = 1.0 / sqrt(s2 / (double)(cg * hw) + GN_EPS);
            g->mean.data[n * G + k] = (float)mean;
            g->rstd.data[n * G + k] = (float)rstd;
            for (int64_t c = k * cg; c < (k + 1) * cg; c++) {
                int64_t st;
                const float *p = am_act_chan(x, n, c, &st);
                float *q = am_act_chan(&m->y, n, c, &st);
                float a = (float)rstd * gamma[c], b = beta[c] - (float)(mean * rstd) * gamma[c];
                for (int64_t i = 0; i < hw; i++) q[i * st] = p[i * st] * a + b;
            }
        }
    return AM_OK;
}

/* With xhat = (x - mean)·rstd and h = dy·gamma over a group of M values:
 * dx = rstd·(h - mean(h) - xhat·mean(h·xhat)); dgamma = Σ dy·xhat; dbeta = Σ dy. */
am_status am_gn_backward(am_module *m, am_net *net, const am_act *dy, int need_dx)
{
    gn_state *g = m->impl;
    const am_act *x = m->in;
    AM_TRY(am_grad_alloc(m, net, &x->s));
    int64_t N = x->s.n, C = x->s.c, G = m->groups, cg = C / G, hw = x->s.h * x->s.w;
    const float *gamma = m->p[AM_P_WEIGHT].value.data;
    float *dgamma = m->p[AM_P_WEIGHT].grad.data, *dbeta = m->p[AM_P_BIAS].grad.data;
    /* Parameter gradients per channel, summed over images; one thread per channel. */
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < C; c++) {
        double sg = 0, sb = 0;
        for (int64_t n = 0; n < N; n++) {
            int64_t st;
            const float *p = am_act_chan(x, n, c, &st), *d = am_act_chan(dy, n, c, &st);
            double mean = g->mean.data[n * G + c / cg], rstd = g->rstd.data[n * G + c / cg];
            for (int64_t i = 0; i < hw; i++) {
                sg += d[i * st] * (p[i * st] - mean) * rstd;
                sb += d[i * st];
            }
        }
        dgamma[c] += (float)sg;
        dbeta[c] += (float)sb;
    }
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < G; k++) {
            double mean = g->mean.data[n * G + k], rstd = g->rstd.data[n * G + k];
            double sh = 0, shx = 0, M = (double)(cg * hw);
            for (int64_t c = k * cg; c < (k + 1) * cg; c++) {
                int64_t st;
                const float *p = am_act_chan(x, n, c, &st), *d = am_act_chan(dy, n, c, &st);
                for (int64_t i = 0; i < hw; i++) {
                    double h = d[i * st] * gamma[c];
                    sh += h;
                    shx += h * (p[i * st] - mean) * rstd;
                }
            }
            double mh = sh / M, mhx = shx / M;
            for (int64_t c = k * cg; c < (k + 1) * cg; c++) {
                int64_t st;
                const float *p = am_act_chan(x, n, c, &st), *d = am_act_chan(dy, n, c, &st);
                float *q = am_act_chan(&m->dx, n, c, &st);
                for (int64_t i = 0; i < hw; i++) {
                    double xhat = (p[i * st] - mean) * rstd;
                    q[i * st] = (float)(rstd * (d[i * st] * gamma[c] - mh - xhat * mhx));
                }
            }
        }
    return AM_OK;
}

const am_layer_ops am_groupnorm_ops = {am_norm_out_shape, NULL, am_gn_forward, am_gn_backward, NULL};
