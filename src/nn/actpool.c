/* Pools of activation buffers for values that live only until the next layer has used them.
 * During am_net_backward every input gradient comes from the network's gradient pool and is
 * handed back by the module that consumed it; in a forward-only network's forward every output
 * comes from its output pool likewise (nothing is kept for a backward). A few buffers the size of
 * the largest activation then serve a whole network, instead of one buffer per layer (for a
 * 1000×1000 image ResNet18's early layers alone would keep over a gigabyte). Outside those passes
 * modules use their own buffers. */
#include "nn/nn_internal.h"

void am_pool_reset(am_pool *p)
{
    for (int i = 0; i < AM_POOL; i++) p->busy[i] = 0;
}

void am_pool_free(am_pool *p)
{
    for (int i = 0; i < AM_POOL; i++) am_buf_free(&p->buf[i]), p->busy[i] = 0;
}

am_status am_pool_take(am_pool *p, am_act *a, am_buf *own, const am_shape *s, am_layout layout, const char *who)
{
    /* The free buffer that fits most tightly, else the largest free one, grown. */
    const size_t need = (size_t)am_shape_numel(s);
    int best = -1;
    for (int i = 0; i < AM_POOL; i++) {
        if (p->busy[i]) continue;
        size_t cap = p->buf[i].cap, bcap = best < 0 ? 0 : p->buf[best].cap;
        int fits = cap >= need, bfits = best >= 0 && bcap >= need;
        if (best < 0 || (fits && (!bfits || cap < bcap)) || (!fits && !bfits && cap > bcap)) best = i;
    }
    if (best < 0) return am_act_alloc(a, own, s, layout, who); /* all in use: deep nesting */
    AM_TRY(am_act_alloc(a, &p->buf[best], s, layout, who));
    p->busy[best] = 1;
    return AM_OK;
}

void am_pool_give(am_pool *p, const float *data)
{
    for (int i = 0; data && i < AM_POOL; i++)
        if (p->busy[i] && p->buf[i].data == data) p->busy[i] = 0;
}

am_status am_grad_alloc_in(am_net *net, am_act *a, am_buf *own, const am_shape *s, const char *who)
{
    if (!net->in_backward) return am_act_alloc(a, own, s, net->layout, who);
    return am_pool_take(&net->gpool, a, own, s, net->layout, who);
}

am_status am_grad_alloc(am_module *m, am_net *net, const am_shape *s)
{
    return am_grad_alloc_in(net, &m->dx, &m->dxbuf, s, am_mod_who(m));
}

void am_grad_release(am_net *net, const float *data) { am_pool_give(&net->gpool, data); }

am_status am_out_alloc(am_module *m, am_net *net, const am_shape *s)
{
    if (!am_net_pools_outputs(net)) return am_act_alloc(&m->y, am_mod_ybuf(m), s, net->layout, am_mod_who(m));
    return am_pool_take(&net->ypool, &m->y, am_mod_ybuf(m), s, net->layout, am_mod_who(m));
}

void am_out_release(am_net *net, const float *data)
{
    if (am_net_pools_outputs(net)) am_pool_give(&net->ypool, data);
}
