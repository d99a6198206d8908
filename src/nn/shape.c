/* Output shapes and arithmetic cost of the leaf layers, for a given input shape. */
#include "nn/nn_internal.h"

const char *am_mod_who(const am_module *m)
{
    if (m->full && m->full[0]) return m->full;
    return m->name[0] ? m->name : "network root";
}


/* PyTorch's output size of a window op (floor mode). */
static int64_t window_out(int64_t in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

am_status am_leaf_out_shape(const am_module *m, const am_shape *in, am_shape *out)
{
    char b[64];
    *out = *in;
    switch (m->kind) {
    case AM_MOD_CONV2D:
    case AM_MOD_MAXPOOL2D:
        if (in->ndim != 4) return am_error(AM_ERR_SHAPE, "%s: input %s is not N×C×H×W", am_mod_who(m), am_shape_str(in, b, sizeof b));
        if (m->kind == AM_MOD_CONV2D && in->c != m->in_ch)
            return am_error(AM_ERR_SHAPE, "%s: input %s has %lld channels, layer expects %d", am_mod_who(m),
                            am_shape_str(in, b, sizeof b), (long long)in->c, m->in_ch);
        if (in->h + 2 * m->padding < m->kernel || in->w + 2 * m->padding < m->kernel)
            return am_error(AM_ERR_SHAPE, "%s: input %s smaller than the %dx%d window", am_mod_who(m),
                            am_shape_str(in, b, sizeof b), m->kernel, m->kernel);
        out->h = window_out(in->h, m->kernel, m->stride, m->padding);
        out->w = window_out(in->w, m->kernel, m->stride, m->padding);
        if (m->kind == AM_MOD_CONV2D) out->c = m->out_ch;
        return AM_OK;
    case AM_MOD_BATCHNORM2D:
    case AM_MOD_BATCHNORM1D:
    case AM_MOD_GROUPNORM: {
        int want = m->kind == AM_MOD_BATCHNORM1D ? 2 : 4;
        if (in->ndim != want || in->c != m->in_ch)
            return am_error(AM_ERR_SHAPE, "%s: input %s, expected %s with %d channels", am_mod_who(m),
                            am_shape_str(in, b, sizeof b), want == 2 ? "N×C" : "N×C×H×W", m->in_ch);
        return AM_OK;
    }
    case AM_MOD_ADAPTIVE_AVGPOOL2D:
        if (in->ndim != 4) return am_error(AM_ERR_SHAPE, "%s: input %s is not N×C×H×W", am_mod_who(m), am_shape_str(in, b, sizeof b));
        out->h = out->w = 1;
        return AM_OK;
    case AM_MOD_LINEAR:
        if (in->ndim != 2 || in->c != m->in_ch)
            return am_error(AM_ERR_SHAPE, "%s: input %s, expected N×%d (flatten first)", am_mod_who(m),
                            am_shape_str(in, b, sizeof b), m->in_ch);
        out->c = m->out_ch;
        return AM_OK;
    case AM_MOD_FLATTEN:
        out->ndim = 2;
        out->c = in->c * in->h * in->w;
        out->h = out->w = 1;
        return AM_OK;
    case AM_MOD_RELU:
        return AM_OK;
    default:
        return am_error(AM_ERR_VALUE, "%s: not a leaf module", am_mod_who(m));
    }
}

double am_leaf_flops(const am_module *m, const am_shape *in)
{
    am_shape out;
    if (am_leaf_out_shape(m, in, &out) != AM_OK) return 0;
    if (m->kind == AM_MOD_CONV2D)
        return 2.0 * (double)am_shape_numel(&out) * m->in_ch * m->kernel * m->kernel;
    if (m->kind == AM_MOD_LINEAR) return 2.0 * (double)in->n * m->in_ch * m->out_ch;
    return 0;
}
