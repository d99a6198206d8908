/* Conv2d on oneDNN: forward, backward-data and backward-weights primitives for the current input
 * shape, with the weights reordered into each primitive's preferred blocked layout (copies kept
 * in wcopies.c, shared by networks that share the values).
 * In BF16 precision the three convolutions read BF16 copies of their input, output gradient and
 * weights, and write FP32 (FP32 master weights and accumulation); a layer for which oneDNN has
 * only its reference kernel in BF16 stays in FP32. Where oneDNN has only its reference kernel for
 * the FP32 weight gradient in the network's layout (AVX2: a 1-channel input with an nChw8c output
 * gradient), the weight gradient reads a plain NCHW copy of the output gradient instead. */
#include <string.h>

#include "nn/dnn.h"

typedef struct conv_state {
    am_plan_key key; /* input shape and thread count the primitives are for */
    am_precision prec; /* precision asked for when they were made */
    int lowp; /* they run in BF16 */
    int dy_copy; /* the weight gradient reads the output gradient's copy in dy16_md (BF16 or plain) */
    am_prim fwd, bwd_data, bwd_w;
    am_prim to_fwd, to_bwd; /* weights into each primitive's layout */
    am_prim dw_add, dw_set; /* weight gradient added to (written into) PyTorch's OIHW one */
    am_prim to_src16, to_dy16; /* BF16: input and output gradient into BF16 copies */
    dnnl_memory_desc_t w_plain, b_md, w_fwd_md, w_bwd_md, dw_md, dsrc_md, src16_md, dy16_md;
    am_buf db, dsrc, src16, dy16; /* dsrc: data gradient in the primitive's layout */
} conv_state;

static void conv_state_free(void *p)
{
    conv_state *c = p;
    if (!c) return;
    am_prim *prims[] = {&c->fwd,    &c->bwd_data, &c->bwd_w,    &c->to_fwd, &c->to_bwd,
                        &c->dw_add, &c->dw_set,   &c->to_src16, &c->to_dy16};
    am_buf *bufs[] = {&c->db, &c->dsrc, &c->src16, &c->dy16};
    for (size_t i = 0; i < sizeof prims / sizeof *prims; i++) am_prim_free(prims[i]);
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) am_buf_free(bufs[i]);
    am_free(c);
}

static size_t floats_of(const dnnl_memory_desc_t *md) { return (dnnl_memory_desc_get_size(md) + 3) / 4; }

/* Makes the three convolution primitives with data type dt for the input, output gradient and
 * weights (outputs and gradients are always FP32). */
static am_status make_convs(am_module *m, conv_state *c, const am_act *x, const am_act *y, dnnl_data_type_t dt)
{
    const char *who = am_mod_who(m);
    dnnl_memory_desc_t src, dst, ddst, w_any, dw_any, b, dsrc_any;
    int64_t wd[4] = {m->out_ch, m->in_ch, m->kernel, m->kernel}, xd[4] = {x->s.n, x->s.c, x->s.h, x->s.w};
    dnnl_dims_t strides = {m->stride, m->stride}, pad_l = {m->padding, m->padding}, pad_r;
    /* PyTorch pads symmetrically and drops what does not fit a stride; oneDNN wants the right
     * padding that is actually used. */
    pad_r[0] = (y->s.h - 1) * m->stride + m->kernel - x->s.h - m->padding;
    pad_r[1] = (y->s.w - 1) * m->stride + m->kernel - x->s.w - m->padding;
    am_dnn_md_act_dt(&src, x, dt);
    am_dnn_md_act(&dst, y);
    am_dnn_md_act_dt(&ddst, y, dt);
    am_dnn_md_dt(&w_any, 4, wd, dnnl_format_tag_any, dt);
    am_dnn_md(&dw_any, 4, wd, dnnl_format_tag_any);
    /* The data gradient in a layout of oneDNN's choice: for a 3-channel plain input only the
     * reference kernel (1000× slower) writes NCHW, so it goes to a blocked buffer and back. In
     * NHWC it is named: given "any", oneDNN 2.6's kernels pick nChw16c, which they cannot pair
     * with an NHWC output gradient, and the reference kernel takes over. */
    if (x->layout == AM_LAYOUT_NHWC) am_dnn_md_act(&dsrc_any, x);
    else am_dnn_md(&dsrc_any, 4, xd, dnnl_format_tag_any);
    b = c->b_md;
    dnnl_convolution_desc_t d;
    AM_TRY(am_dnn_ok(dnnl_convolution_forward_desc_init(&d, dnnl_forward_training, dnnl_convolution_direct, &src,
                                                        &w_any, m->bias ? &b : NULL, &dst, strides, pad_l, pad_r),
                     who));
    AM_TRY(am_prim_make(&c->fwd, &d, NULL, who));
    AM_TRY(am_dnn_ok(dnnl_convolution_backward_data_desc_init(&d, dnnl_convolution_direct, &dsrc_any, &w_any, &ddst,
                                                              strides, pad_l, pad_r),
                     who));
    AM_TRY(am_prim_make(&c->bwd_data, &d, c->fwd.pd, who));
    /* The weight gradient reads the BF16 input and output gradient too and accumulates in FP32:
     * on an idle machine oneDNN 2.6's BF16 kernel for it is 1.3-1.9x faster than FP32 on every
     * ResNet18 layer (bench_layers). */
    AM_TRY(am_dnn_ok(dnnl_convolution_backward_weights_desc_init(&d, dnnl_convolution_direct, &src, &dw_any,
                                                                 m->bias ? &b : NULL, &ddst, strides, pad_l, pad_r),
                     who));
    AM_TRY(am_prim_make_deterministic(&c->bwd_w, &d, c->fwd.pd, who));
    c->src16_md = src;
    c->dy16_md = ddst;
    c->dy_copy = dt != dnnl_f32;
    if (dt == dnnl_f32 && am_prim_is_reference(&c->bwd_w)) {
        dnnl_memory_desc_t ddst_plain;
        int64_t yd[4] = {y->s.n, y->s.c, y->s.h, y->s.w};
        am_dnn_md(&ddst_plain, 4, yd, dnnl_nchw);
        am_prim plain = {0};
        if (am_dnn_ok(dnnl_convolution_backward_weights_desc_init(&d, dnnl_convolution_direct, &src, &dw_any,
                                                                  m->bias ? &b : NULL, &ddst_plain, strides, pad_l,
                                                                  pad_r),
                      who) == AM_OK &&
            am_prim_make_deterministic(&plain, &d, c->fwd.pd, who) == AM_OK && !am_prim_is_reference(&plain)) {
            am_prim_free(&c->bwd_w);
            c->bwd_w = plain;
            c->dy16_md = ddst_plain;
            c->dy_copy = 1;
        } else {
            am_prim_free(&plain);
        }
        am_clear_error();
    }
    return AM_OK;
}

static am_status plan(am_module *m, am_net *net, conv_state *c, const am_act *x, const am_act *y)
{
    const char *who = am_mod_who(m);
    int64_t wd[4] = {m->out_ch, m->in_ch, m->kernel, m->kernel}, bd[1] = {m->out_ch};
    dnnl_memory_desc_t src, dst;
    am_dnn_md_act(&src, x);
    am_dnn_md_act(&dst, y);
    am_dnn_md(&c->w_plain, 4, wd, dnnl_oihw);
    am_dnn_md(&c->b_md, 1, bd, dnnl_x);
    c->lowp = 0;
    if (net->precision == AM_PRECISION_BF16) {
        c->lowp = make_convs(m, c, x, y, dnnl_bf16) == AM_OK && !am_prim_is_reference(&c->fwd) &&
                  !am_prim_is_reference(&c->bwd_data) && !am_prim_is_reference(&c->bwd_w);
        am_clear_error();
    }
    if (!c->lowp) AM_TRY(make_convs(m, c, x, y, dnnl_f32));
    if (c->lowp) AM_TRY(am_prim_reorder(&c->to_src16, &src, &c->src16_md, 0, who));
    if (c->dy_copy) AM_TRY(am_prim_reorder(&c->to_dy16, &dst, &c->dy16_md, 0, who));

    dnnl_memory_desc_t wf = *am_prim_md(&c->fwd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t wb = *am_prim_md(&c->bwd_data, dnnl_query_weights_md, 0);
    c->dw_md = *am_prim_md(&c->bwd_w, dnnl_query_diff_weights_md, 0);
    c->dsrc_md = *am_prim_md(&c->bwd_data, dnnl_query_diff_src_md, 0);
    c->w_fwd_md = wf;
    c->w_bwd_md = wb;
    AM_TRY(am_prim_reorder(&c->to_fwd, &c->w_plain, &wf, 0, who));
    AM_TRY(am_prim_reorder(&c->to_bwd, &c->w_plain, &wb, 0, who));
    /* One pass adds the blocked weight gradient into PyTorch's OIHW gradient. */
    AM_TRY(am_prim_reorder(&c->dw_add, &c->dw_md, &c->w_plain, 1, who));
    AM_TRY(am_prim_reorder(&c->dw_set, &c->dw_md, &c->w_plain, 0, who));
    am_plan_key_set(&c->key, &x->s, net);
    c->prec = net->precision;
    return AM_OK;
}

/* The weights in a primitive's layout (md), from the copies shared with other networks. */
static am_status weights_to(am_module *m, am_net *net, am_prim *reorder, const dnnl_memory_desc_t *md, const float **w)
{
    conv_state *c = m->impl;
    if (!m->wc && !(m->wc = am_wcopies_new())) return am_error(AM_ERR_NOMEM, "%s: out of memory", am_mod_who(m));
    return am_wcopies_get(m->wc, md, reorder, net, &c->w_plain, m->p[AM_P_WEIGHT].value.data, am_mod_who(m), w);
}

/* BF16: the copy of an FP32 activation a that the primitives read. */
static am_status to_bf16(am_module *m, am_net *net, am_prim *r, const am_act *a, const dnnl_memory_desc_t *md16,
                         am_buf *dst)
{
    dnnl_memory_desc_t md;
    am_dnn_md_act(&md, a);
    am_dnn_arg arg[2] = {{DNNL_ARG_FROM, &md, a->data}, {DNNL_ARG_TO, md16, dst->data}};
    return am_prim_run(r, net, 2, arg, am_mod_who(m));
}

am_status am_conv_forward(am_module *m, am_net *net, const am_act *x)
{
    am_shape ys;
    const char *who = am_mod_who(m);
    AM_TRY(am_leaf_out_shape(m, &x->s, &ys));
    AM_TRY(am_out_alloc(m, net, &ys));
    conv_state *c = am_mod_state(m, sizeof *c, conv_state_free);
    if (!c) return AM_ERR_NOMEM;
    if (!am_plan_key_match(&c->key, &x->s, net) || c->prec != net->precision) AM_TRY(plan(m, net, c, x, &m->y));
    const float *w;
    AM_TRY(weights_to(m, net, &c->to_fwd, &c->w_fwd_md, &w));
    dnnl_memory_desc_t src, dst;
    am_dnn_md_act(&src, x);
    am_dnn_md_act(&dst, &m->y);
    /* BF16: the layer keeps its input's copy for the weight gradient; a forward-only network's
     * layers share one. */
    am_buf *src16 = net->frozen ? &am_net_bufs(net)->lowp_src : &c->src16;
    if (c->lowp) {
        AM_TRY(am_buf_reserve(src16, floats_of(&c->src16_md), who));
        AM_TRY(to_bf16(m, net, &c->to_src16, x, &c->src16_md, src16));
    }
    am_dnn_arg a[4] = {{DNNL_ARG_SRC, c->lowp ? &c->src16_md : &src, c->lowp ? src16->data : x->data},
                       {DNNL_ARG_WEIGHTS, &c->w_fwd_md, w},
                       {DNNL_ARG_DST, &dst, m->y.data},
                       {DNNL_ARG_BIAS, &c->b_md, m->bias ? m->p[AM_P_BIAS].value.data : NULL}};
    return am_prim_run(&c->fwd, net, m->bias ? 4 : 3, a, who);
}

am_status am_conv_backward_data(am_module *m, am_net *net, const am_act *dy)
{
    conv_state *c = m->impl;
    const char *who = am_mod_who(m);
    AM_TRY(am_grad_alloc(m, net, &m->in->s));
    const float *w;
    AM_TRY(weights_to(m, net, &c->to_bwd, &c->w_bwd_md, &w));
    dnnl_memory_desc_t dsrc, ddst;
    am_dnn_md_act(&dsrc, &m->dx);
    am_dnn_md_act(&ddst, dy);
    int direct = dnnl_memory_desc_equal(&c->dsrc_md, &dsrc);
    if (!direct) AM_TRY(am_buf_reserve(&c->dsrc, floats_of(&c->dsrc_md), who));
    am_dnn_arg a[3] = {{DNNL_ARG_DIFF_DST, c->lowp ? &c->dy16_md : &ddst, c->lowp ? c->dy16.data : dy->data},
                       {DNNL_ARG_WEIGHTS, &c->w_bwd_md, w},
                       {DNNL_ARG_DIFF_SRC, &c->dsrc_md, direct ? m->dx.data : c->dsrc.data}};
    AM_TRY(am_prim_run(&c->bwd_data, net, 3, a, who));
    if (direct) return AM_OK;
    return am_dnn_reorder(net, &c->dsrc_md, c->dsrc.data, &dsrc, m->dx.data, who);
}

am_status am_conv_backward(am_module *m, am_net *net, const am_act *dy, int need_dx)
{
    conv_state *c = m->impl;
    const char *who = am_mod_who(m);
    dnnl_memory_desc_t src, ddst;
    am_dnn_md_act(&src, m->in);
    am_dnn_md_act(&ddst, dy);
    if (c->dy_copy) {
        /* The BF16 (or plain) output gradient, kept for the data gradient (which may be
         * deferred); the BF16 input is the forward's copy. */
        AM_TRY(am_buf_reserve(&c->dy16, floats_of(&c->dy16_md), who));
        AM_TRY(to_bf16(m, net, &c->to_dy16, dy, &c->dy16_md, &c->dy16));
    }
    /* The weight gradient in the primitive's layout lives only until it is added into PyTorch's
     * layout, so one buffer per network serves every layer. */
    AM_TRY(am_buf_reserve(&net->wgrad, floats_of(&c->dw_md), who));
    AM_TRY(am_buf_reserve(&c->db, (size_t)m->out_ch, who));
    am_dnn_arg a[4] = {{DNNL_ARG_SRC, c->lowp ? &c->src16_md : &src, c->lowp ? c->src16.data : m->in->data},
                       {DNNL_ARG_DIFF_DST, c->dy_copy ? &c->dy16_md : &ddst, c->dy_copy ? c->dy16.data : dy->data},
                       {DNNL_ARG_DIFF_WEIGHTS, &c->dw_md, net->wgrad.data},
                       {DNNL_ARG_DIFF_BIAS, &c->b_md, c->db.data}};
    AM_TRY(am_prim_run(&c->bwd_w, net, m->bias ? 4 : 3, a, who));
    am_dnn_arg add[2] = {{DNNL_ARG_FROM, &c->dw_md, net->wgrad.data},
                         {DNNL_ARG_TO, &c->w_plain, m->p[AM_P_WEIGHT].grad.data}};
    /* Right after am_net_zero_grad there is nothing to add to: skip reading the zeros. */
    AM_TRY(am_prim_run(net->grads_zero ? &c->dw_set : &c->dw_add, net, 2, add, who));
    if (m->bias) am_accumulate(m->p[AM_P_BIAS].grad.data, c->db.data, m->out_ch);
    if (need_dx) return am_conv_backward_data(m, net, dy);
    m->dx.s = m->in->s; /* filled on demand by am_net_input_grad */
    m->pending_dy = dy;
    return AM_OK;
}

static am_status conv_shape(const am_module *m, const am_shape *in, am_shape *out)
{
    char b[64];
    if (in->ndim == 4 && in->c != m->in_ch)
        return am_error(AM_ERR_SHAPE, "%s: input %s has %lld channels, layer expects %d", am_mod_who(m),
                        am_shape_str(in, b, sizeof b), (long long)in->c, m->in_ch);
    AM_TRY(am_window_out_shape(m, in, out));
    out->c = m->out_ch;
    return AM_OK;
}

static double conv_flops(const am_module *m, const am_shape *in, const am_shape *out)
{
    return 2.0 * (double)am_shape_numel(out) * m->in_ch * m->kernel * m->kernel;
}

const am_layer_ops am_conv_ops = {conv_shape, conv_flops, am_conv_forward, am_conv_backward, NULL};
