/* MaxPool2d on oneDNN (padding never wins, as PyTorch pads with -inf); the forward keeps a
 * workspace of argmax positions for the backward. */
#include <stdlib.h>

#include "nn/dnn.h"

typedef struct pool_state {
    am_plan_key key; /* input shape and thread count the primitives are for */
    am_prim fwd, bwd;
    am_buf ws;
    const dnnl_memory_desc_t *ws_md;
} pool_state;

static void pool_state_free(void *p)
{
    pool_state *s = p;
    if (!s) return;
    am_prim_free(&s->fwd);
    am_prim_free(&s->bwd);
    am_buf_free(&s->ws);
    am_free(s);
}

static am_status plan(am_module *m, am_net *net, pool_state *s, const am_act *x, const am_act *y)
{
    dnnl_memory_desc_t src, dst;
    dnnl_dims_t k = {m->kernel, m->kernel}, st = {m->stride, m->stride}, dil = {0, 0};
    dnnl_dims_t pl = {m->padding, m->padding}, pr;
    pr[0] = (y->s.h - 1) * m->stride + m->kernel - x->s.h - m->padding;
    pr[1] = (y->s.w - 1) * m->stride + m->kernel - x->s.w - m->padding;
    am_dnn_md_act(&src, x);
    am_dnn_md_act(&dst, y);
    dnnl_pooling_v2_desc_t d;
    AM_TRY(am_dnn_ok(
        dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_training, dnnl_pooling_max, &src, &dst, st, k, dil, pl, pr),
        am_mod_who(m)));
    AM_TRY(am_prim_make(&s->fwd, &d, NULL, am_mod_who(m)));
    AM_TRY(am_dnn_ok(dnnl_pooling_v2_backward_desc_init(&d, dnnl_pooling_max, &src, &dst, st, k, dil, pl, pr),
                     am_mod_who(m)));
    /* On NHWC oneDNN 2.6's backward adds up overlapping windows in an order that depends on the
     * thread count (the trained model did): one thread there. */
    if (x->layout == AM_LAYOUT_NHWC) AM_TRY(am_prim_make_single(&s->bwd, &d, s->fwd.pd, am_mod_who(m)));
    else AM_TRY(am_prim_make(&s->bwd, &d, s->fwd.pd, am_mod_who(m)));
    s->ws_md = am_prim_md(&s->fwd, dnnl_query_workspace_md, 0);
    AM_TRY(am_buf_reserve(&s->ws, (dnnl_memory_desc_get_size(s->ws_md) + 3) / 4, am_mod_who(m)));
    am_plan_key_set(&s->key, &x->s, net);
    return AM_OK;
}

am_status am_maxpool_forward(am_module *m, am_net *net, const am_act *x)
{
    am_shape ys;
    AM_TRY(am_leaf_out_shape(m, &x->s, &ys));
    AM_TRY(am_out_alloc(m, net, &ys));
    pool_state *s = am_mod_state(m, sizeof *s, pool_state_free);
    if (!s) return AM_ERR_NOMEM;
    if (!am_plan_key_match(&s->key, &x->s, net)) AM_TRY(plan(m, net, s, x, &m->y));
    dnnl_memory_desc_t src, dst;
    am_dnn_md_act(&src, x);
    am_dnn_md_act(&dst, &m->y);
    am_dnn_arg a[3] = {
        {DNNL_ARG_SRC, &src, x->data}, {DNNL_ARG_DST, &dst, m->y.data}, {DNNL_ARG_WORKSPACE, s->ws_md, s->ws.data}};
    return am_prim_run(&s->fwd, net, 3, a, am_mod_who(m));
}

am_status am_maxpool_backward(am_module *m, am_net *net, const am_act *dy, int need_dx)
{
    pool_state *s = m->impl;
    AM_TRY(am_grad_alloc(m, net, &m->in->s));
    dnnl_memory_desc_t dsrc, ddst;
    am_dnn_md_act(&dsrc, &m->dx);
    am_dnn_md_act(&ddst, dy);
    am_dnn_arg a[3] = {{DNNL_ARG_DIFF_DST, &ddst, dy->data},
                       {DNNL_ARG_DIFF_SRC, &dsrc, m->dx.data},
                       {DNNL_ARG_WORKSPACE, s->ws_md, s->ws.data}};
    return am_prim_run(&s->bwd, net, 3, a, am_mod_who(m));
}

const am_layer_ops am_maxpool_ops = {am_window_out_shape, NULL, am_maxpool_forward, am_maxpool_backward, NULL};
