/* torchvision's BasicBlock: out = relu(body(x) + shortcut(x)), where the body is every child
 * but the one named "downsample", which (when present) is the shortcut; otherwise the shortcut
 * is the identity. */
#include <omp.h>
#include <string.h>

#include "nn/nn_internal.h"


typedef struct res_state {
    am_buf g; /* gradient at the sum, after the final ReLU */
    am_act ga;
} res_state;

static void res_state_free(void *p)
{
    res_state *r = p;
    if (!r) return;
    am_buf_free(&r->g);
    am_free(r);
}

static int is_shortcut(const am_module *c) { return strcmp(c->name, "downsample") == 0; }

static am_module *shortcut(am_module *m)
{
    for (int i = 0; i < m->nchild; i++)
        if (is_shortcut(m->child[i])) return m->child[i];
    return NULL;
}

am_status am_residual_forward(am_module *m, am_net *net, const am_act *x)
{
    const am_act *b = x, *s = x;
    char sb[64], ss[64];
    for (int i = 0; i < m->nchild; i++) {
        if (is_shortcut(m->child[i])) continue;
        am_fuse_mark(m->child, m->nchild, i, net);
        AM_TRY(am_mod_forward(m->child[i], net, b, &b));
    }
    am_module *ds = shortcut(m);
    if (ds) AM_TRY(am_mod_forward(ds, net, x, &s));
    if (!am_shape_equal(&b->s, &s->s))
        return am_error(AM_ERR_SHAPE, "%s: body gives %s but the shortcut %s (add a downsample?)", am_mod_who(m),
                        am_shape_str(&b->s, sb, sizeof sb), am_shape_str(&s->s, ss, sizeof ss));
    AM_TRY(am_act_alloc(&m->y, am_mod_ybuf(m), &b->s, am_mod_who(m)));
    double t0 = net->profiling ? omp_get_wtime() : 0;
    int64_t n = am_shape_numel(&b->s);
    const float *pb = b->data, *ps = s->data;
    float *out = m->y.data;
#pragma omp parallel for if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = pb[i] + ps[i];
        out[i] = v > 0 ? v : 0;
    }
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
    AM_TRY(am_act_alloc(&r->ga, &r->g, &dy->s, am_mod_who(m)));
    int64_t n = am_shape_numel(&dy->s);
    double t0 = net->profiling ? omp_get_wtime() : 0, own;
    am_relu_mask(r->ga.data, m->y.data, dy->data, n);
    own = net->profiling ? omp_get_wtime() - t0 : 0;
    const am_act *gb = &r->ga, *gs = &r->ga;
    for (int i = m->nchild - 1; i >= 0; i--)
        if (!is_shortcut(m->child[i])) AM_TRY(am_mod_backward(m->child[i], net, gb, 1, &gb));
    am_module *ds = shortcut(m);
    if (ds) AM_TRY(am_mod_backward(ds, net, &r->ga, 1, &gs));
    AM_TRY(am_act_alloc(&m->dx, &m->dxbuf, &m->in->s, am_mod_who(m)));
    double t1 = net->profiling ? omp_get_wtime() : 0;
    const float *a = gb->data, *b = gs->data;
    float *out = m->dx.data;
    int64_t nx = am_shape_numel(&m->in->s);
#pragma omp parallel for if (nx > 65536) schedule(static)
    for (int64_t i = 0; i < nx; i++) out[i] = a[i] + b[i];
    if (net->profiling) {
        net->profile.backward_s[AM_MOD_RESIDUAL] += own + omp_get_wtime() - t1;
        net->profile.backward_calls[AM_MOD_RESIDUAL]++;
    }
    return AM_OK;
}
