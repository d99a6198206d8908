/* Output shapes and arithmetic cost of the leaf layers through their tables, the window ops' shape,
 * and the table of leaf kinds. */
#include "nn/nn_internal.h"

const char *am_mod_who(const am_module *m)
{
    if (m->full && m->full[0]) return m->full;
    return m->name[0] ? m->name : "network root";
}

/* PyTorch's output size of a window op (floor mode). */
static int64_t window_out(int64_t in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

am_status am_window_out_shape(const am_module *m, const am_shape *in, am_shape *out)
{
    char b[64];
    *out = *in;
    if (in->ndim != 4)
        return am_error(AM_ERR_SHAPE, "%s: input %s is not N×C×H×W", am_mod_who(m), am_shape_str(in, b, sizeof b));
    if (in->h + 2 * m->padding < m->kernel || in->w + 2 * m->padding < m->kernel)
        return am_error(AM_ERR_SHAPE, "%s: input %s smaller than the %dx%d window", am_mod_who(m),
                        am_shape_str(in, b, sizeof b), m->kernel, m->kernel);
    out->h = window_out(in->h, m->kernel, m->stride, m->padding);
    out->w = window_out(in->w, m->kernel, m->stride, m->padding);
    return AM_OK;
}

am_status am_leaf_out_shape(const am_module *m, const am_shape *in, am_shape *out)
{
    const am_layer_ops *ops = am_layer_ops_of(m->kind);
    if (!ops) return am_error(AM_ERR_VALUE, "%s: not a leaf module", am_mod_who(m));
    return ops->out_shape(m, in, out);
}

double am_leaf_flops(const am_module *m, const am_shape *in)
{
    const am_layer_ops *ops = am_layer_ops_of(m->kind);
    am_shape out;
    if (!ops || !ops->flops || ops->out_shape(m, in, &out) != AM_OK) return 0;
    return ops->flops(m, in, &out);
}

/* The table of leaf kinds. */
const am_layer_ops *am_layer_ops_of(am_module_kind kind)
{
    switch (kind) {
    case AM_MOD_CONV2D: return &am_conv_ops;
    case AM_MOD_BATCHNORM2D:
    case AM_MOD_BATCHNORM1D: return &am_batchnorm_ops;
    case AM_MOD_GROUPNORM: return &am_groupnorm_ops;
    case AM_MOD_RELU: return &am_relu_ops;
    case AM_MOD_MAXPOOL2D: return &am_maxpool_ops;
    case AM_MOD_ADAPTIVE_AVGPOOL2D: return &am_avgpool_ops;
    case AM_MOD_LINEAR: return &am_linear_ops;
    case AM_MOD_FLATTEN: return &am_flatten_ops;
    case AM_MOD_INTENSITY_POOL2D: return &am_intensity_pool_ops;
    case AM_MOD_GEM_POOL2D: return &am_gem_pool_ops;
    default: return NULL;
    }
}
