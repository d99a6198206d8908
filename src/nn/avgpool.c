/* AdaptiveAvgPool2d(1): the mean of each channel over the image, in either layout. */
#include "nn/nn_internal.h"

am_status am_avgpool_forward(am_module *m, am_net *net, const am_act *x)
{
    am_shape ys;
    AM_TRY(am_leaf_out_shape(m, &x->s, &ys));
    AM_TRY(am_out_alloc(m, net, &ys));
    int64_t N = x->s.n, C = x->s.c, hw = x->s.h * x->s.w;
#pragma omp parallel for collapse(2) if (N * C * hw > 65536) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            int64_t st, dst_st;
            const float *p = am_act_chan(x, n, c, &st);
            double s = 0;
            for (int64_t i = 0; i < hw; i++) s += p[i * st];
            *am_act_chan(&m->y, n, c, &dst_st) = (float)(s / (double)hw);
        }
    return AM_OK;
}

am_status am_avgpool_backward(am_module *m, am_net *net, const am_act *dy, int need_dx)
{
    const am_act *x = m->in;
    AM_TRY(am_grad_alloc(m, net, &x->s));
    int64_t N = x->s.n, C = x->s.c, hw = x->s.h * x->s.w;
#pragma omp parallel for collapse(2) if (N * C * hw > 65536) schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            int64_t st, dy_st;
            float g = *am_act_chan(dy, n, c, &dy_st) / (float)hw;
            float *p = am_act_chan(&m->dx, n, c, &st);
            for (int64_t i = 0; i < hw; i++) p[i * st] = g;
        }
    return AM_OK;
}

am_status am_global_pool_out_shape(const am_module *m, const am_shape *in, am_shape *out)
{
    char b[64];
    if (in->ndim != 4)
        return am_error(AM_ERR_SHAPE, "%s: input %s is not N×C×H×W", am_mod_who(m), am_shape_str(in, b, sizeof b));
    *out = *in;
    out->h = out->w = 1;
    return AM_OK;
}

const am_layer_ops am_avgpool_ops = {am_global_pool_out_shape, NULL, am_avgpool_forward, am_avgpool_backward, NULL};
