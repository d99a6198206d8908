/* BatchNorm1d/2d on oneDNN. TRAIN: batch statistics (biased variance normalises), running
 * statistics updated with momentum 0.1 and the unbiased variance, num_batches_tracked counted.
 * EVAL: running statistics. Backward works in both; in EVAL the statistics are constants. */
#include <stdlib.h>

#include "nn/dnn.h"

#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1f

typedef struct bn_state {
    am_plan_key key; /* input shape and thread count the primitives are for */
    int key_eval; /* mode the primitives were made for */
    int eval;     /* mode of the last forward */
    am_prim fwd, bwd;
    am_buf mean, var, dscale, dshift;
} bn_state;

static void bn_state_free(void *p)
{
    bn_state *b = p;
    if (!b) return;
    am_prim_free(&b->fwd);
    am_prim_free(&b->bwd);
    am_buf_free(&b->mean);
    am_buf_free(&b->var);
    am_buf_free(&b->dscale);
    am_buf_free(&b->dshift);
    am_free(b);
}

static unsigned bn_flags(int eval) { return dnnl_use_scale | dnnl_use_shift | (eval ? dnnl_use_global_stats : 0); }

static am_status plan(am_module *m, am_net *net, bn_state *b, const am_act *x, int eval)
{
    dnnl_memory_desc_t md;
    dnnl_batch_normalization_desc_t d;
    am_dnn_md_act(&md, x);
    AM_TRY(am_dnn_ok(dnnl_batch_normalization_forward_desc_init(&d, dnnl_forward_training, &md, BN_EPS, bn_flags(eval)),
                     am_mod_who(m)));
    AM_TRY(am_prim_make(&b->fwd, &d, NULL, am_mod_who(m)));
    AM_TRY(am_dnn_ok(dnnl_batch_normalization_backward_desc_init(&d, dnnl_backward, &md, &md, BN_EPS, bn_flags(eval)),
                     am_mod_who(m)));
    AM_TRY(am_prim_make(&b->bwd, &d, b->fwd.pd, am_mod_who(m)));
    size_t c = (size_t)x->s.c;
    AM_TRY(am_buf_reserve(&b->mean, c, am_mod_who(m)));
    AM_TRY(am_buf_reserve(&b->var, c, am_mod_who(m)));
    AM_TRY(am_buf_reserve(&b->dscale, c, am_mod_who(m)));
    AM_TRY(am_buf_reserve(&b->dshift, c, am_mod_who(m)));
    am_plan_key_set(&b->key, &x->s, net);
    b->key_eval = eval;
    return AM_OK;
}

am_status am_bn_forward(am_module *m, am_net *net, const am_act *x)
{
    am_shape ys;
    AM_TRY(am_leaf_out_shape(m, &x->s, &ys));
    int eval = net->mode == AM_MODE_EVAL;
    int64_t per_channel = x->s.n * x->s.h * x->s.w;
    if (!eval && per_channel < 2)
        return am_error(AM_ERR_SHAPE, "%s: training needs more than 1 value per channel (batch of %lld)", am_mod_who(m),
                        (long long)x->s.n);
    AM_TRY(am_act_alloc(&m->y, &m->ybuf, &ys, am_mod_who(m)));
    bn_state *b = am_mod_state(m, sizeof *b, bn_state_free);
    if (!b) return AM_ERR_NOMEM;
    if (!am_plan_key_match(&b->key, &x->s, net) || b->key_eval != eval) AM_TRY(plan(m, net, b, x, eval));
    b->eval = eval;
    float *rmean = m->p[2].value.data, *rvar = m->p[3].value.data;
    dnnl_memory_desc_t md, cmd;
    int64_t c = x->s.c;
    am_dnn_md_act(&md, x);
    am_dnn_md(&cmd, 1, &c, dnnl_x);
    am_dnn_arg a[6] = {{DNNL_ARG_SRC, &md, x->data},
                       {DNNL_ARG_DST, &md, m->y.data},
                       {DNNL_ARG_SCALE, &cmd, m->p[0].value.data},
                       {DNNL_ARG_SHIFT, &cmd, m->p[1].value.data},
                       {DNNL_ARG_MEAN, &cmd, eval ? rmean : b->mean.data},
                       {DNNL_ARG_VARIANCE, &cmd, eval ? rvar : b->var.data}};
    AM_TRY(am_prim_run(&b->fwd, net, 6, a, am_mod_who(m)));
    if (!eval) {
        float unbias = (float)per_channel / (float)(per_channel - 1);
        for (int64_t i = 0; i < c; i++) {
            rmean[i] = (1 - BN_MOMENTUM) * rmean[i] + BN_MOMENTUM * b->mean.data[i];
            rvar[i] = (1 - BN_MOMENTUM) * rvar[i] + BN_MOMENTUM * b->var.data[i] * unbias;
        }
        m->p[4].value.data[0] += 1;
    }
    return AM_OK;
}

am_status am_bn_backward(am_module *m, am_net *net, const am_act *dy)
{
    bn_state *b = m->impl;
    const am_act *x = m->in;
    AM_TRY(am_act_alloc(&m->dx, &m->dxbuf, &x->s, am_mod_who(m)));
    dnnl_memory_desc_t md, cmd;
    int64_t c = x->s.c;
    am_dnn_md_act(&md, x);
    am_dnn_md(&cmd, 1, &c, dnnl_x);
    /* In EVAL the forward normalised with the running statistics, which it did not change.
     * oneDNN 2.6 rejects the backward without SHIFT although it does not use it. */
    am_dnn_arg a[9] = {{DNNL_ARG_SRC, &md, x->data},
                       {DNNL_ARG_MEAN, &cmd, b->eval ? m->p[2].value.data : b->mean.data},
                       {DNNL_ARG_VARIANCE, &cmd, b->eval ? m->p[3].value.data : b->var.data},
                       {DNNL_ARG_DIFF_DST, &md, dy->data},
                       {DNNL_ARG_SCALE, &cmd, m->p[0].value.data},
                       {DNNL_ARG_DIFF_SRC, &md, m->dx.data},
                       {DNNL_ARG_DIFF_SCALE, &cmd, b->dscale.data},
                       {DNNL_ARG_DIFF_SHIFT, &cmd, b->dshift.data},
                       {DNNL_ARG_SHIFT, &cmd, m->p[1].value.data}};
    AM_TRY(am_prim_run(&b->bwd, net, 9, a, am_mod_who(m)));
    am_accumulate(m->p[0].grad.data, b->dscale.data, c);
    am_accumulate(m->p[1].grad.data, b->dshift.data, c);
    return AM_OK;
}
