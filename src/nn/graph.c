/* Running the module tree: dispatch to the layers, sequential chaining, where to stop. */
#include "nn/nn_internal.h"

static am_status seq_forward(am_module *m, am_net *net, const am_act *x, const am_act **y)
{
    const am_act *cur = x;
    m->ran = 0;
    for (int i = 0; i < m->nchild && !net->stopped; i++) {
        AM_TRY(am_mod_forward(m->child[i], net, cur, &cur));
        m->ran = i + 1;
    }
    *y = cur;
    return AM_OK;
}

static am_status seq_backward(am_module *m, am_net *net, const am_act *dy, int need_dx, const am_act **dx)
{
    const am_act *g = dy;
    for (int i = m->ran - 1; i >= 0; i--) AM_TRY(am_mod_backward(m->child[i], net, g, i > 0 || need_dx, &g));
    *dx = g;
    return AM_OK;
}

am_status am_mod_forward(am_module *m, am_net *net, const am_act *x, const am_act **y)
{
    m->in = x;
    m->pending_dy = NULL;
    m->yp = NULL; /* a layer that passes its input through sets it */
    switch (m->kind) {
    case AM_MOD_SEQUENTIAL: AM_TRY(seq_forward(m, net, x, y)); break;
    case AM_MOD_RESIDUAL: AM_TRY(am_residual_forward(m, net, x)); break;
    case AM_MOD_CONV2D: AM_TRY(am_conv_forward(m, net, x)); break;
    case AM_MOD_BATCHNORM2D:
    case AM_MOD_BATCHNORM1D: AM_TRY(am_bn_forward(m, net, x)); break;
    case AM_MOD_GROUPNORM: AM_TRY(am_gn_forward(m, net, x)); break;
    case AM_MOD_RELU: AM_TRY(am_relu_forward(m, net, x)); break;
    case AM_MOD_MAXPOOL2D: AM_TRY(am_maxpool_forward(m, net, x)); break;
    case AM_MOD_ADAPTIVE_AVGPOOL2D: AM_TRY(am_avgpool_forward(m, net, x)); break;
    case AM_MOD_LINEAR: AM_TRY(am_linear_forward(m, net, x)); break;
    case AM_MOD_FLATTEN: AM_TRY(am_flatten_forward(m, net, x)); break;
    }
    if (m->kind != AM_MOD_SEQUENTIAL) *y = m->yp ? m->yp : &m->y;
    m->yp = *y;
    if (m == net->stop) net->stopped = 1;
    return AM_OK;
}

am_status am_mod_backward(am_module *m, am_net *net, const am_act *dy, int need_dx, const am_act **dx)
{
    m->dxp = NULL;
    switch (m->kind) {
    case AM_MOD_SEQUENTIAL: AM_TRY(seq_backward(m, net, dy, need_dx, dx)); m->dxp = *dx; return AM_OK;
    case AM_MOD_RESIDUAL: AM_TRY(am_residual_backward(m, net, dy)); break;
    case AM_MOD_CONV2D: AM_TRY(am_conv_backward(m, net, dy, need_dx)); break;
    case AM_MOD_BATCHNORM2D:
    case AM_MOD_BATCHNORM1D: AM_TRY(am_bn_backward(m, net, dy)); break;
    case AM_MOD_GROUPNORM: AM_TRY(am_gn_backward(m, net, dy)); break;
    case AM_MOD_RELU: AM_TRY(am_relu_backward(m, net, dy)); break;
    case AM_MOD_MAXPOOL2D: AM_TRY(am_maxpool_backward(m, net, dy)); break;
    case AM_MOD_ADAPTIVE_AVGPOOL2D: AM_TRY(am_avgpool_backward(m, net, dy)); break;
    case AM_MOD_LINEAR: AM_TRY(am_linear_backward(m, net, dy, need_dx)); break;
    case AM_MOD_FLATTEN: AM_TRY(am_flatten_backward(m, net, dy)); break;
    }
    if (!need_dx && m->pending_dy) net->pending = m;
    *dx = m->dxp ? m->dxp : &m->dx;
    m->dxp = *dx;
    return AM_OK;
}
