/* Running the module tree: dispatch to the layers, sequential chaining, where to stop, and the
 * optional per-kind profile. */
#include <omp.h>
#include <string.h>

#include "nn/nn_internal.h"

void am_fuse_mark(am_module **children, int n, int i, const am_net *net)
{
    am_module *c = children[i];
    if (c->kind == AM_MOD_RELU) return; /* marked together with its BatchNorm */
    c->fuse_relu = 0;
    if (c->kind != AM_MOD_BATCHNORM2D && c->kind != AM_MOD_BATCHNORM1D) return;
    if (i + 1 < n && children[i + 1]->kind == AM_MOD_RELU) {
        c->fuse_relu = net->stop != c;
        children[i + 1]->fuse_relu = c->fuse_relu;
    }
}

static am_status seq_forward(am_module *m, am_net *net, const am_act *x, const am_act **y)
{
    const am_act *cur = x, *prev;
    m->ran = 0;
    for (int i = 0; i < m->nchild && !net->stopped; i++) {
        am_fuse_mark(m->child, m->nchild, i, net);
        prev = cur;
        AM_TRY(am_mod_forward(m->child[i], net, prev, &cur));
        /* In a forward-only pass an output made here is done with once the next child has read
         * it (x itself belongs to the caller; a child may pass its input through). */
        if (prev->data != x->data && prev->data != cur->data) am_out_release(net, prev->data);
        m->ran = i + 1;
    }
    *y = cur;
    return AM_OK;
}

/* Backward through children[first..last] in reverse from dy; each gradient made in between is
 * handed back once the child before has used it (unless that child passed it through or keeps it
 * for a deferred input gradient). dy itself belongs to the caller. */
am_status am_chain_backward(am_module **child, int first, int last, am_net *net, const am_act *dy, int need_dx,
                            const am_act **dx)
{
    const am_act *g = dy, *prev;
    for (int i = last; i >= first; i--) {
        prev = g;
        AM_TRY(am_mod_backward(child[i], net, prev, i > first || need_dx, &g));
        const am_act *kept = net->pending ? net->pending->pending_dy : NULL;
        if (prev->data != dy->data && prev->data != g->data && !(kept && kept->data == prev->data))
            am_grad_release(net, prev->data);
    }
    *dx = g;
    return AM_OK;
}

static am_status seq_backward(am_module *m, am_net *net, const am_act *dy, int need_dx, const am_act **dx)
{
    return am_chain_backward(m->child, 0, m->ran - 1, net, dy, need_dx, dx);
}

static am_status leaf_forward(am_module *m, am_net *net, const am_act *x)
{
    const am_layer_ops *ops = am_layer_ops_of(m->kind);
    if (!ops) return am_error(AM_ERR_VALUE, "%s: not a leaf module", am_mod_who(m));
    return ops->forward(m, net, x);
}

static am_status leaf_backward(am_module *m, am_net *net, const am_act *dy, int need_dx)
{
    const am_layer_ops *ops = am_layer_ops_of(m->kind);
    if (!ops) return am_error(AM_ERR_VALUE, "%s: not a leaf module", am_mod_who(m));
    return ops->backward(m, net, dy, need_dx);
}

am_status am_mod_forward(am_module *m, am_net *net, const am_act *x, const am_act **y)
{
    m->in = x;
    m->pending_dy = NULL;
    m->yp = NULL; /* a layer that passes its input through sets it */
    if (m->kind == AM_MOD_SEQUENTIAL) {
        AM_TRY(seq_forward(m, net, x, y));
    } else if (m->kind == AM_MOD_RESIDUAL) {
        AM_TRY(am_residual_forward(m, net, x));
        *y = &m->y;
    } else {
        double t0 = net->profiling ? omp_get_wtime() : 0;
        AM_TRY(leaf_forward(m, net, x));
        if (net->profiling) {
            net->profile.forward_s[m->kind] += omp_get_wtime() - t0;
            net->profile.forward_calls[m->kind]++;
        }
        *y = m->yp ? m->yp : &m->y;
    }
    m->yp = *y;
    if (m == net->stop) net->stopped = 1;
    return AM_OK;
}

am_status am_mod_backward(am_module *m, am_net *net, const am_act *dy, int need_dx, const am_act **dx)
{
    m->dxp = NULL;
    if (m->kind == AM_MOD_SEQUENTIAL) {
        AM_TRY(seq_backward(m, net, dy, need_dx, dx));
    } else if (m->kind == AM_MOD_RESIDUAL) {
        AM_TRY(am_residual_backward(m, net, dy));
        *dx = &m->dx;
    } else {
        double t0 = net->profiling ? omp_get_wtime() : 0;
        AM_TRY(leaf_backward(m, net, dy, need_dx));
        if (net->profiling) {
            net->profile.backward_s[m->kind] += omp_get_wtime() - t0;
            net->profile.backward_calls[m->kind]++;
        }
        if (!need_dx && m->pending_dy) net->pending = m;
        *dx = m->dxp ? m->dxp : &m->dx;
    }
    m->dxp = *dx;
    return AM_OK;
}

void am_net_set_profiling(am_net *net, int on)
{
    net->profiling = on != 0;
    if (on) memset(&net->profile, 0, sizeof net->profile);
}

const am_net_profile *am_net_get_profile(const am_net *net) { return &net->profile; }

const char *am_module_kind_name(am_module_kind kind)
{
    static const char *names[] = {
        "Sequential", "Residual",          "Conv2d", "BatchNorm2d", "BatchNorm1d",     "GroupNorm", "ReLU",
        "MaxPool2d",  "AdaptiveAvgPool2d", "Linear", "Flatten",     "IntensityPool2d", "GeMPool2d"};
    _Static_assert(sizeof names / sizeof *names == AM_MOD_KINDS, "a name for every module kind");
    return (unsigned)kind < sizeof names / sizeof *names ? names[kind] : "?";
}
