/* ReLU, elementwise, so it runs in whatever layout its input has. Backward uses the output,
 * as PyTorch does (gradient passes where y > 0). */
#include "nn/nn_internal.h"

am_status am_relu_forward(am_module *m, am_net *net, const am_act *x)
{
    if (m->fuse_relu) { /* the BatchNorm before already applied it */
        m->yp = x;
        return AM_OK;
    }
    AM_TRY(am_out_alloc(m, net, &x->s));
    int64_t n = am_shape_numel(&x->s);
    const float *in = x->data;
    float *out = m->y.data;
#pragma omp parallel for if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) out[i] = in[i] > 0 ? in[i] : 0;
    return AM_OK;
}

am_status am_relu_backward(am_module *m, am_net *net, const am_act *dy, int need_dx)
{
    if (m->fuse_relu) {
        m->dxp = dy;
        return AM_OK;
    }
    AM_TRY(am_grad_alloc(m, net, &dy->s));
    am_relu_mask(m->dx.data, m->y.data, dy->data, am_shape_numel(&dy->s));
    return AM_OK;
}

void am_relu_mask(float *g, const float *y, const float *dy, int64_t n)
{
#pragma omp parallel for if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) g[i] = y[i] > 0 ? dy[i] : 0;
}

static am_status same_shape(const am_module *m, const am_shape *in, am_shape *out)
{
    *out = *in;
    return AM_OK;
}

const am_layer_ops am_relu_ops = {same_shape, NULL, am_relu_forward, am_relu_backward, NULL};
