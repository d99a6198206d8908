/* Flatten N×C×H×W to N×(C·H·W) in PyTorch's (NCHW) order: a view of plain activations, a
 * reorder of blocked and channels-last ones. */
#include "nn/dnn.h"

am_status am_flatten_forward(am_module *m, am_net *net, const am_act *x)
{
    am_shape ys;
    AM_TRY(am_leaf_out_shape(m, &x->s, &ys));
    if (x->layout == AM_LAYOUT_PLAIN) {
        m->y.s = ys;
        m->y.layout = AM_LAYOUT_PLAIN;
        m->y.data = x->data;
        return AM_OK;
    }
    AM_TRY(am_out_alloc(m, net, &ys));
    return am_act_to_plain(net, x, m->y.data, am_mod_who(m));
}

am_status am_flatten_backward(am_module *m, am_net *net, const am_act *dy, int need_dx)
{
    const am_act *x = m->in;
    if (x->layout == AM_LAYOUT_PLAIN) {
        m->dx.s = x->s;
        m->dx.layout = AM_LAYOUT_PLAIN;
        m->dx.data = dy->data;
        return AM_OK;
    }
    AM_TRY(am_grad_alloc(m, net, &x->s));
    return am_act_from_plain(net, &m->dx, dy->data, am_mod_who(m));
}

static am_status flatten_shape(const am_module *m, const am_shape *in, am_shape *out)
{
    *out = *in;
    out->ndim = 2;
    out->c = in->c * in->h * in->w;
    out->h = out->w = 1;
    return AM_OK;
}

const am_layer_ops am_flatten_ops = {flatten_shape, NULL, am_flatten_forward, am_flatten_backward, NULL};
