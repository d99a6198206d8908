/* torchvision's BasicBlock: out = relu(body(x) + shortcut(x)), where the body is every child
 * but the shortcut (the child made by am_shortcut, torchvision's "downsample"), and without one
 * the shortcut is the identity. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_internal.h"

typedef struct res_state {
    am_buf g; /* the gradient at the sum when the network's pool is not in use */
    am_module **body;
} res_state;

static void res_state_free(void *p)
{
    res_state *r = p;
    if (!r) return;
    am_buf_free(&r->g);
    free(r->body);
    am_free(r);
}

static int is_shortcut(const am_module *c) { return c->shortcut; }

static am_module *shortcut(am_module *m)
{
    for (int i = 0; i < m->nchild; i++)
        if (is_shortcut(m->child[i])) return m->child[i];
    return NULL;
}

am_status am_residual_forward(am_module *m, am_net *net, const am_act *x)
{
    const am_act *b = x, *s = x, *prev;
    char sb[64], ss[64];
    for (int i = 0; i < m->nchild; i++) {
        if (is_shortcut(m->child[i])) continue;
        am_fuse_mark(m->child, m->nchild, i, net);
        prev = b;
        AM_TRY(am_mod_forward(m->child[i], net, prev, &b));
        if (prev->data != x->data && prev->data != b->data) am_out_release(net, prev->data); /* forward-only */
    }
    am_module *ds = shortcut(m);
    if (ds) AM_TRY(am_mod_forward(ds, net, x, &s));
    if (!am_shape_equal(&b->s, &s->s))
        return am_error(AM_ERR_SHAPE, "%s: body gives %s but the shortcut %s (add a downsample?)", am_mod_who(m),
                        am_shape_str(&b->s, sb, sizeof sb), am_shape_str(&s->s, ss, sizeof ss));
    AM_TRY(am_out_alloc(m, net, &b->s));
    double t0 = net->profiling ? omp_get_wtime() : 0;
    int64_t n = am_shape_numel(&b->s);
    const float *pb = b->data, *ps = s->data;
    float *out = m->y.data;
#pragma omp parallel for if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = pb[i] + ps[i];
        out[i] = v > 0 ? v : 0;
    }
    if (pb != x->data) am_out_release(net, pb);
    if (ps != x->data && ps != pb) am_out_release(net, ps);
    if (net->profiling) { /* the block's own work: the add and the ReLU */
        net->profile.forward_s[AM_MOD_RESIDUAL] += omp_get_wtime() - t0;
        net->profile.forward_calls[AM_MOD_RESIDUAL]++;
    }
    return AM_OK;
}

am_status am_residual_backward(am_module *m, am_net *net, const am_act *dy)
{
    res_state *r = am_mod_state(m, sizeof *r, res_state_free);
    if (!r) return AM_ERR_NOMEM;
    if (!r->body && !(r->body = calloc((size_t)m->nchild + 1, sizeof *r->body)))
        return am_error(AM_ERR_NOMEM, "%s: out of memory", am_mod_who(m));
    /* The gradient at the sum (after the final ReLU) feeds both the body and the shortcut. */
    am_act ga;
    AM_TRY(am_grad_alloc_in(net, &ga, &r->g, &dy->s, am_mod_who(m)));
    int64_t n = am_shape_numel(&dy->s);
    double t0 = net->profiling ? omp_get_wtime() : 0, own;
    am_relu_mask(ga.data, m->y.data, dy->data, n);
    own = net->profiling ? omp_get_wtime() - t0 : 0;
    int nbody = 0;
    for (int i = 0; i < m->nchild; i++)
        if (!is_shortcut(m->child[i])) r->body[nbody++] = m->child[i];
    const am_act *gb = &ga, *gs = &ga;
    if (nbody > 0) AM_TRY(am_chain_backward(r->body, 0, nbody - 1, net, &ga, 1, &gb));
    am_module *ds = shortcut(m);
    if (ds) AM_TRY(am_mod_backward(ds, net, &ga, 1, &gs));
    const float *a = gb->data, *b = gs->data;
    AM_TRY(am_grad_alloc(m, net, &m->in->s));
    double t1 = net->profiling ? omp_get_wtime() : 0;
    float *out = m->dx.data;
    int64_t nx = am_shape_numel(&m->in->s);
#pragma omp parallel for if (nx > 65536) schedule(static)
    for (int64_t i = 0; i < nx; i++) out[i] = a[i] + b[i];
    if (a != ga.data) am_grad_release(net, a);
    if (b != ga.data && b != a) am_grad_release(net, b);
    am_grad_release(net, ga.data);
    if (net->profiling) {
        net->profile.backward_s[AM_MOD_RESIDUAL] += own + omp_get_wtime() - t1;
        net->profile.backward_calls[AM_MOD_RESIDUAL]++;
    }
    return AM_OK;
}
