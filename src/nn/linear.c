/* Linear (y = x Wᵀ + b) on oneDNN's inner product, with PyTorch's out×in weights used as they
 * are (plain layouts: these layers are small and a reorder would cost more than it saves). */
#include <stdlib.h>

#include "nn/dnn.h"

typedef struct lin_state {
    am_plan_key key; /* input shape and thread count the primitives are for */
    am_prim fwd, bwd_data, bwd_w;
    dnnl_memory_desc_t w_md, b_md;
    am_buf db;
} lin_state;

static void lin_state_free(void *p)
{
    lin_state *l = p;
    if (!l) return;
    am_prim_free(&l->fwd);
    am_prim_free(&l->bwd_data);
    am_prim_free(&l->bwd_w);
    am_buf_free(&l->db);
    am_free(l);
}

static am_status plan(am_module *m, am_net *net, lin_state *l, const am_act *x, const am_act *y)
{
    dnnl_memory_desc_t src, dst;
    int64_t wd[2] = {m->out_ch, m->in_ch}, bd[1] = {m->out_ch};
    am_dnn_md_act(&src, x);
    am_dnn_md_act(&dst, y);
    am_dnn_md(&l->w_md, 2, wd, dnnl_oi);
    am_dnn_md(&l->b_md, 1, bd, dnnl_x);
    const dnnl_memory_desc_t *b = m->bias ? &l->b_md : NULL;
    dnnl_inner_product_desc_t d;
    AM_TRY(am_dnn_ok(dnnl_inner_product_forward_desc_init(&d, dnnl_forward_training, &src, &l->w_md, b, &dst),
                     am_mod_who(m)));
    AM_TRY(am_prim_make(&l->fwd, &d, NULL, am_mod_who(m)));
    AM_TRY(am_dnn_ok(dnnl_inner_product_backward_data_desc_init(&d, &src, &l->w_md, &dst), am_mod_who(m)));
    AM_TRY(am_prim_make(&l->bwd_data, &d, l->fwd.pd, am_mod_who(m)));
    AM_TRY(am_dnn_ok(dnnl_inner_product_backward_weights_desc_init(&d, &src, &l->w_md, b, &dst), am_mod_who(m)));
    AM_TRY(am_prim_make_deterministic(&l->bwd_w, &d, l->fwd.pd, am_mod_who(m)));
    AM_TRY(am_buf_reserve(&l->db, (size_t)m->out_ch, am_mod_who(m)));
    am_plan_key_set(&l->key, &x->s, net);
    return AM_OK;
}

am_status am_linear_forward(am_module *m, am_net *net, const am_act *x)
{
    am_shape ys;
    AM_TRY(am_leaf_out_shape(m, &x->s, &ys));
    AM_TRY(am_out_alloc(m, net, &ys));
    lin_state *l = am_mod_state(m, sizeof *l, lin_state_free);
    if (!l) return AM_ERR_NOMEM;
    if (!am_plan_key_match(&l->key, &x->s, net)) AM_TRY(plan(m, net, l, x, &m->y));
    dnnl_memory_desc_t src, dst;
    am_dnn_md_act(&src, x);
    am_dnn_md_act(&dst, &m->y);
    am_dnn_arg a[4] = {{DNNL_ARG_SRC, &src, x->data},
                       {DNNL_ARG_WEIGHTS, &l->w_md, m->p[AM_P_WEIGHT].value.data},
                       {DNNL_ARG_DST, &dst, m->y.data},
                       {DNNL_ARG_BIAS, &l->b_md, m->bias ? m->p[AM_P_BIAS].value.data : NULL}};
    return am_prim_run(&l->fwd, net, m->bias ? 4 : 3, a, am_mod_who(m));
}

am_status am_linear_backward_data(am_module *m, am_net *net, const am_act *dy)
{
    lin_state *l = m->impl;
    AM_TRY(am_grad_alloc(m, net, &m->in->s));
    dnnl_memory_desc_t dsrc, ddst;
    am_dnn_md_act(&dsrc, &m->dx);
    am_dnn_md_act(&ddst, dy);
    am_dnn_arg a[3] = {{DNNL_ARG_DIFF_DST, &ddst, dy->data},
                       {DNNL_ARG_WEIGHTS, &l->w_md, m->p[AM_P_WEIGHT].value.data},
                       {DNNL_ARG_DIFF_SRC, &dsrc, m->dx.data}};
    return am_prim_run(&l->bwd_data, net, 3, a, am_mod_who(m));
}

am_status am_linear_backward(am_module *m, am_net *net, const am_act *dy, int need_dx)
{
    lin_state *l = m->impl;
    dnnl_memory_desc_t src, ddst;
    am_dnn_md_act(&src, m->in);
    am_dnn_md_act(&ddst, dy);
    /* The weight gradient before it is added: the network's scratch (one layer at a time). */
    AM_TRY(am_buf_reserve(&net->wgrad, (size_t)m->out_ch * (size_t)m->in_ch, am_mod_who(m)));
    am_dnn_arg a[4] = {{DNNL_ARG_SRC, &src, m->in->data},
                       {DNNL_ARG_DIFF_DST, &ddst, dy->data},
                       {DNNL_ARG_DIFF_WEIGHTS, &l->w_md, net->wgrad.data},
                       {DNNL_ARG_DIFF_BIAS, &l->b_md, l->db.data}};
    AM_TRY(am_prim_run(&l->bwd_w, net, m->bias ? 4 : 3, a, am_mod_who(m)));
    am_accumulate(m->p[AM_P_WEIGHT].grad.data, net->wgrad.data, (int64_t)m->out_ch * m->in_ch);
    if (m->bias) am_accumulate(m->p[AM_P_BIAS].grad.data, l->db.data, m->out_ch);
    if (need_dx) return am_linear_backward_data(m, net, dy);
    m->dx.s = m->in->s;
    m->pending_dy = dy;
    return AM_OK;
}

static am_status linear_shape(const am_module *m, const am_shape *in, am_shape *out)
{
    char b[64];
    if (in->ndim != 2 || in->c != m->in_ch)
        return am_error(AM_ERR_SHAPE, "%s: input %s, expected N×%d (flatten first)", am_mod_who(m),
                        am_shape_str(in, b, sizeof b), m->in_ch);
    *out = *in;
    out->c = m->out_ch;
    return AM_OK;
}

static double linear_flops(const am_module *m, const am_shape *in, const am_shape *out)
{
    return 2.0 * (double)in->n * m->in_ch * m->out_ch;
}

const am_layer_ops am_linear_ops = {linear_shape, linear_flops, am_linear_forward, am_linear_backward, NULL};
