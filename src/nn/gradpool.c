/* Buffers for the gradients that flow backward through a network. A layer's input gradient
 * lives only until the layer before it has used it, so during am_net_backward they come from a
 * small pool of the network's, each handed back by the module that consumed it: a few buffers
 * the size of the largest gradient instead of one per layer. Outside a backward pass (an input
 * gradient computed on demand) a module uses its own buffer. */
#include "nn/nn_internal.h"

void am_gradpool_reset(am_net *net)
{
    for (int i = 0; i < AM_GRADPOOL; i++) net->gpool_busy[i] = 0;
}

void am_gradpool_free(am_net *net)
{
    for (int i = 0; i < AM_GRADPOOL; i++) am_buf_free(&net->gpool[i]);
}

am_status am_grad_alloc_in(am_net *net, am_act *a, am_buf *own, const am_shape *s, const char *who)
{
    if (!net->in_backward) return am_act_alloc(a, own, s, who);
    /* The free buffer that fits most tightly, else the largest free one, grown. */
    const size_t need = (size_t)am_shape_numel(s);
    int best = -1;
    for (int i = 0; i < AM_GRADPOOL; i++) {
        if (net->gpool_busy[i]) continue;
        size_t cap = net->gpool[i].cap, bcap = best < 0 ? 0 : net->gpool[best].cap;
        int fits = cap >= need, bfits = best >= 0 && bcap >= need;
        if (best < 0 || (fits && (!bfits || cap < bcap)) || (!fits && !bfits && cap > bcap)) best = i;
    }
    if (best < 0) return am_act_alloc(a, own, s, who); /* all in use: deep nesting */
    AM_TRY(am_act_alloc(a, &net->gpool[best], s, who));
    net->gpool_busy[best] = 1;
    return AM_OK;
}

am_status am_grad_alloc(am_module *m, am_net *net, const am_shape *s)
{
    return am_grad_alloc_in(net, &m->dx, &m->dxbuf, s, am_mod_who(m));
}

void am_grad_release(am_net *net, const float *data)
{
    for (int i = 0; data && i < AM_GRADPOOL; i++)
        if (net->gpool_busy[i] && net->gpool[i].data == data) net->gpool_busy[i] = 0;
}
