/* Conv2d on oneDNN: forward, backward-data and backward-weights primitives for the current input
 * shape, with the weights reordered into each primitive's preferred blocked layout. */
#include <stdlib.h>
#include <string.h>

#include "nn/dnn.h"

typedef struct conv_state {
    am_plan_key key; /* input shape and thread count the primitives are for */
    am_prim fwd, bwd_data, bwd_w;
    am_prim to_fwd, to_bwd;  /* weights into each primitive's layout */
    am_prim dw_add, dw_set;  /* weight gradient added to (written into) PyTorch's OIHW one */
    dnnl_memory_desc_t w_plain, b_md, w_fwd_md, w_bwd_md, dw_md, dsrc_md;
    am_buf w_fwd, w_bwd, dw, db, dsrc; /* dsrc: data gradient in the primitive's layout */
    uint64_t fwd_version, bwd_version; /* parameter version the reordered copies hold (0: none) */
} conv_state;

static void conv_state_free(void *p)
{
    conv_state *c = p;
    if (!c) return;
    am_prim_free(&c->fwd);
    am_prim_free(&c->bwd_data);
    am_prim_free(&c->bwd_w);
    am_prim_free(&c->to_fwd);
    am_prim_free(&c->to_bwd);
    am_prim_free(&c->dw_add);
    am_prim_free(&c->dw_set);
    am_buf_free(&c->w_fwd);
    am_buf_free(&c->w_bwd);
    am_buf_free(&c->dw);
    am_buf_free(&c->db);
    am_buf_free(&c->dsrc);
    am_free(c);
}

static am_status plan(am_module *m, am_net *net, conv_state *c, const am_act *x, const am_act *y)
{
    const char *who = am_mod_who(m);
    dnnl_memory_desc_t src, dst, w_any, b, src_any;
    int64_t wd[4] = {m->out_ch, m->in_ch, m->kernel, m->kernel}, bd[1] = {m->out_ch};
    dnnl_dims_t strides = {m->stride, m->stride}, pad_l = {m->padding, m->padding}, pad_r;
    /* PyTorch pads symmetrically and drops what does not fit a stride; oneDNN wants the right
     * padding that is actually used. */
    pad_r[0] = (y->s.h - 1) * m->stride + m->kernel - x->s.h - m->padding;
    pad_r[1] = (y->s.w - 1) * m->stride + m->kernel - x->s.w - m->padding;
    am_dnn_md_act(&src, x);
    am_dnn_md_act(&dst, y);
    am_dnn_md(&w_any, 4, wd, dnnl_format_tag_any);
    int64_t xd[4] = {x->s.n, x->s.c, x->s.h, x->s.w};
    am_dnn_md(&src_any, 4, xd, dnnl_format_tag_any);
    am_dnn_md(&c->w_plain, 4, wd, dnnl_oihw);
    am_dnn_md(&b, 1, bd, dnnl_x);
    c->b_md = b;

    dnnl_convolution_desc_t d;
    AM_TRY(am_dnn_ok(dnnl_convolution_forward_desc_init(&d, dnnl_forward_training, dnnl_convolution_direct, &src,
                                                        &w_any, m->bias ? &b : NULL, &dst, strides, pad_l, pad_r),
                     who));
    AM_TRY(am_prim_make(&c->fwd, &d, NULL, who));
    /* The data gradient in a layout of oneDNN's choice: for a 3-channel plain input only the
     * reference kernel (1000× slower) writes NCHW, so it goes to a blocked buffer and back. */
    AM_TRY(am_dnn_ok(dnnl_convolution_backward_data_desc_init(&d, dnnl_convolution_direct, &src_any, &w_any, &dst,
                                                              strides, pad_l, pad_r),
                     who));
    AM_TRY(am_prim_make(&c->bwd_data, &d, c->fwd.pd, who));
    AM_TRY(am_dnn_ok(dnnl_convolution_backward_weights_desc_init(&d, dnnl_convolution_direct, &src, &w_any,
                                                                 m->bias ? &b : NULL, &dst, strides, pad_l, pad_r),
                     who));
    AM_TRY(am_prim_make(&c->bwd_w, &d, c->fwd.pd, who));

    dnnl_memory_desc_t wf = *am_prim_md(&c->fwd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t wb = *am_prim_md(&c->bwd_data, dnnl_query_weights_md, 0);
    c->dw_md = *am_prim_md(&c->bwd_w, dnnl_query_diff_weights_md, 0);
    c->dsrc_md = *am_prim_md(&c->bwd_data, dnnl_query_diff_src_md, 0);
    if (!dnnl_memory_desc_equal(&c->dsrc_md, &src))
        AM_TRY(am_buf_reserve(&c->dsrc, dnnl_memory_desc_get_size(&c->dsrc_md) / 4, am_mod_who(m)));
    /* A new shape may pick other weight layouts; the reordered copies are then stale. */
    if (!dnnl_memory_desc_equal(&wf, &c->w_fwd_md)) c->fwd_version = 0;
    if (!dnnl_memory_desc_equal(&wb, &c->w_bwd_md)) c->bwd_version = 0;
    c->w_fwd_md = wf;
    c->w_bwd_md = wb;
    AM_TRY(am_buf_reserve(&c->w_fwd, dnnl_memory_desc_get_size(&wf) / 4, who));
    AM_TRY(am_buf_reserve(&c->w_bwd, dnnl_memory_desc_get_size(&wb) / 4, who));
    AM_TRY(am_buf_reserve(&c->dw, dnnl_memory_desc_get_size(&c->dw_md) / 4, who));
    AM_TRY(am_prim_reorder(&c->to_fwd, &c->w_plain, &wf, 0, who));
    AM_TRY(am_prim_reorder(&c->to_bwd, &c->w_plain, &wb, 0, who));
    /* One pass adds the blocked weight gradient into PyTorch's OIHW gradient. */
    AM_TRY(am_prim_reorder(&c->dw_add, &c->dw_md, &c->w_plain, 1, who));
    AM_TRY(am_prim_reorder(&c->dw_set, &c->dw_md, &c->w_plain, 0, who));
    AM_TRY(am_buf_reserve(&c->db, (size_t)m->out_ch, who));
    am_plan_key_set(&c->key, &x->s, net);
    return AM_OK;
}

static am_status weights_to(am_module *m, am_net *net, am_prim *reorder, const dnnl_memory_desc_t *md, am_buf *buf,
                           uint64_t *version)
{
    if (*version == net->version) return AM_OK;
    conv_state *c = m->impl;
    am_dnn_arg a[2] = {{DNNL_ARG_FROM, &c->w_plain, m->p[0].value.data}, {DNNL_ARG_TO, md, buf->data}};
    AM_TRY(am_prim_run(reorder, net, 2, a, am_mod_who(m)));
    *version = net->version;
    return AM_OK;
}

am_status am_conv_forward(am_module *m, am_net *net, const am_act *x)
{
    am_shape ys;
    AM_TRY(am_leaf_out_shape(m, &x->s, &ys));
    AM_TRY(am_act_alloc(&m->y, &m->ybuf, &ys, am_mod_who(m)));
    conv_state *c = am_mod_state(m, sizeof *c, conv_state_free);
    if (!c) return AM_ERR_NOMEM;
    if (!am_plan_key_match(&c->key, &x->s, net)) AM_TRY(plan(m, net, c, x, &m->y));
    AM_TRY(weights_to(m, net, &c->to_fwd, &c->w_fwd_md, &c->w_fwd, &c->fwd_version));
    dnnl_memory_desc_t src, dst;
    am_dnn_md_act(&src, x);
    am_dnn_md_act(&dst, &m->y);
    am_dnn_arg a[4] = {{DNNL_ARG_SRC, &src, x->data},
                       {DNNL_ARG_WEIGHTS, &c->w_fwd_md, c->w_fwd.data},
                       {DNNL_ARG_DST, &dst, m->y.data},
                       {DNNL_ARG_BIAS, &c->b_md, m->bias ? m->p[1].value.data : NULL}};
    return am_prim_run(&c->fwd, net, m->bias ? 4 : 3, a, am_mod_who(m));
}

am_status am_conv_backward_data(am_module *m, am_net *net, const am_act *dy)
{
    conv_state *c = m->impl;
    AM_TRY(am_act_alloc(&m->dx, &m->dxbuf, &m->in->s, am_mod_who(m)));
    AM_TRY(weights_to(m, net, &c->to_bwd, &c->w_bwd_md, &c->w_bwd, &c->bwd_version));
    dnnl_memory_desc_t dsrc, ddst;
    am_dnn_md_act(&dsrc, &m->dx);
    am_dnn_md_act(&ddst, dy);
    int direct = dnnl_memory_desc_equal(&c->dsrc_md, &dsrc);
    am_dnn_arg a[3] = {{DNNL_ARG_DIFF_DST, &ddst, dy->data},
                       {DNNL_ARG_WEIGHTS, &c->w_bwd_md, c->w_bwd.data},
                       {DNNL_ARG_DIFF_SRC, &c->dsrc_md, direct ? m->dx.data : c->dsrc.data}};
    AM_TRY(am_prim_run(&c->bwd_data, net, 3, a, am_mod_who(m)));
    if (direct) return AM_OK;
    return am_dnn_reorder(net, &c->dsrc_md, c->dsrc.data, &dsrc, m->dx.data, am_mod_who(m));
}

am_status am_conv_backward(am_module *m, am_net *net, const am_act *dy, int need_dx)
{
    conv_state *c = m->impl;
    dnnl_memory_desc_t src, ddst;
    am_dnn_md_act(&src, m->in);
    am_dnn_md_act(&ddst, dy);
    am_dnn_arg a[4] = {{DNNL_ARG_SRC, &src, m->in->data},
                       {DNNL_ARG_DIFF_DST, &ddst, dy->data},
                       {DNNL_ARG_DIFF_WEIGHTS, &c->dw_md, c->dw.data},
                       {DNNL_ARG_DIFF_BIAS, &c->b_md, c->db.data}};
    AM_TRY(am_prim_run(&c->bwd_w, net, m->bias ? 4 : 3, a, am_mod_who(m)));
    am_dnn_arg add[2] = {{DNNL_ARG_FROM, &c->dw_md, c->dw.data}, {DNNL_ARG_TO, &c->w_plain, m->p[0].grad.data}};
    /* Right after am_net_zero_grad there is nothing to add to: skip reading the zeros. */
    AM_TRY(am_prim_run(net->grads_zero ? &c->dw_set : &c->dw_add, net, 2, add, am_mod_who(m)));
    if (m->bias) am_accumulate(m->p[1].grad.data, c->db.data, m->out_ch);
    if (need_dx) return am_conv_backward_data(m, net, dy);
    m->dx.s = m->in->s; /* filled on demand by am_net_input_grad */
    m->pending_dy = dy;
    return AM_OK;
}
