/* A network: the module tree with full names, its parameters in state-dict order, PyTorch's
 * default initialisation, and the forward / backward entry points. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/rng.h"
#include "nn/dnn.h"
#include "nn/nn_internal.h"

static char *join(const char *prefix, const char *name)
{
    size_t a = strlen(prefix), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (!s) return NULL;
    if (a) {
        memcpy(s, prefix, a);
        s[a] = '.';
        memcpy(s + a + 1, name, b + 1);
    } else {
        memcpy(s, name, b + 1);
    }
    return s;
}

/* Shapes of the parameters, as in PyTorch's state dict. */
static void param_shape(const am_module *m, int i, int *ndim, int64_t *shape)
{
    const char *pn = m->pname[i];
    if (strcmp(pn, "num_batches_tracked") == 0) {
        *ndim = 0;
    } else if (strcmp(pn, "weight") == 0 && m->kind == AM_MOD_CONV2D) {
        *ndim = 4;
        shape[0] = m->out_ch, shape[1] = m->in_ch, shape[2] = shape[3] = m->kernel;
    } else if (strcmp(pn, "weight") == 0 && m->kind == AM_MOD_LINEAR) {
        *ndim = 2;
        shape[0] = m->out_ch, shape[1] = m->in_ch;
    } else {
        *ndim = 1;
        shape[0] = m->out_ch;
    }
}

/* Names the tree's modules and parameters and allocates what is not there yet (values, and
 * gradients where wanted). */
static am_status name_tree(am_module *m, const char *prefix, size_t *count, int grads)
{
    free(m->full);
    m->full = malloc(strlen(prefix) + 1);
    if (!m->full) return am_error(AM_ERR_NOMEM, "naming modules");
    strcpy(m->full, prefix);
    for (int i = 0; i < m->np; i++) {
        am_param *p = &m->p[i];
        free((char *)p->name);
        p->name = join(m->full, m->pname[i]);
        if (!p->name) return am_error(AM_ERR_NOMEM, "naming parameters");
        int ndim;
        int64_t shape[4];
        param_shape(m, i, &ndim, shape);
        if (!p->value.data) AM_TRY(am_tensor_alloc(&p->value, ndim, shape));
        if (grads && !p->is_buffer && !p->grad.data) AM_TRY(am_tensor_alloc(&p->grad, ndim, shape));
        (*count)++;
    }
    for (int i = 0; i < m->nchild; i++) {
        char *sub = join(m->full, m->child[i]->name);
        if (!sub) return am_error(AM_ERR_NOMEM, "naming modules");
        am_status st = name_tree(m->child[i], sub, count, grads);
        free(sub);
        AM_TRY(st);
    }
    return AM_OK;
}

static void list_params(am_module *m, am_param **out, size_t *k)
{
    for (int i = 0; i < m->np; i++) out[(*k)++] = &m->p[i];
    for (int i = 0; i < m->nchild; i++) list_params(m->child[i], out, k);
}

static void fill_uniform(am_tensor *t, double bound, uint64_t seed, uint64_t index)
{
    am_rng r;
    am_rng_init(&r, seed, am_rng_stream(index, 0, 0));
    am_rng_fill_symmetric(&r, 0, t->data, am_tensor_numel(t), bound);
}

static void fill_const(am_tensor *t, float v)
{
    int64_t n = am_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) t->data[i] = v;
}

/* PyTorch's reset_parameters: Conv2d/Linear weights kaiming_uniform_(a=sqrt(5)), which is
 * U(±1/sqrt(fan_in)), and biases U(±1/sqrt(fan_in)); norms weight 1, bias 0, stats 0/1. Each
 * parameter draws from its own stream (its state-dict index), so the values do not depend on
 * the order of the drawing. */
static void init_params(am_module *m, uint64_t seed, size_t *index)
{
    for (int i = 0; i < m->np; i++, (*index)++) {
        am_tensor *v = &m->p[i].value;
        const char *pn = m->pname[i];
        if (m->kind == AM_MOD_CONV2D || m->kind == AM_MOD_LINEAR) {
            double fan_in = (double)m->in_ch * (m->kind == AM_MOD_CONV2D ? m->kernel * m->kernel : 1);
            fill_uniform(v, 1.0 / sqrt(fan_in), seed, *index);
        } else {
            fill_const(v, strcmp(pn, "weight") == 0 || strcmp(pn, "running_var") == 0 ? 1.0f : 0.0f);
        }
    }
    for (int i = 0; i < m->nchild; i++) init_params(m->child[i], seed, index);
}

/* A network around root reading the values version vals (NULL: its own); gradients allocated
 * when asked. */
static am_status make_net(am_net **out, am_module *root, int grads, am_values *vals)
{
    *out = NULL;
    if (!root) return am_error(AM_ERR_VALUE, "am_net_create: NULL root module");
    if (root->parent) return am_error(AM_ERR_VALUE, "%s: a child module cannot be a network's root", root->name);
    am_net *net = calloc(1, sizeof *net);
    if (!net) {
        am_module_free(root);
        return am_error(AM_ERR_NOMEM, "am_net_create: out of memory");
    }
    net->root = root;
    net->layout = am_act_layout(net->precision);
    net->vals = vals ? vals : calloc(1, sizeof *net->vals);
    am_status st = net->vals ? AM_OK : am_error(AM_ERR_NOMEM, "am_net_create: out of memory");
    if (vals) vals->refs++;
    else if (net->vals) net->vals->refs = 1, net->vals->version = 1;
    size_t count = 0;
    if (st == AM_OK) st = name_tree(root, "", &count, grads);
    if (st == AM_OK) {
        net->params = calloc(count ? count : 1, sizeof *net->params);
        if (!net->params) st = am_error(AM_ERR_NOMEM, "am_net_create: out of memory");
    }
    if (st == AM_OK) {
        list_params(root, net->params, &net->nparams);
        st = am_dnn_stream_create(net);
    }
    if (st != AM_OK) {
        am_net_free(net);
        return st;
    }
    *out = net;
    return AM_OK;
}

am_status am_net_create(am_net **net, am_module *root, uint64_t seed)
{
    size_t index = 0;
    AM_TRY(make_net(net, root, 1, NULL));
    init_params(root, seed, &index);
    return AM_OK;
}

void am_net_free(am_net *net)
{
    if (!net) return;
    am_module_free(net->root);
    free(net->params);
    am_buf_free(&net->xbuf);
    am_buf_free(&net->dybuf);
    am_buf_free(&net->scratch);
    am_buf_free(&net->wgrad);
    am_buf_free(&net->lowp_src);
    am_pool_free(&net->gpool), am_pool_free(&net->ypool);
    am_tensor_free(&net->dx_nchw);
    if (net->vals && --net->vals->refs == 0) free(net->vals);
    am_dnn_stream_free(net);
    free(net);
}

static am_module *clone_tree(const am_module *src)
{
    am_module *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->kind = src->kind;
    m->name = malloc(strlen(src->name) + 1);
    if (!m->name) {
        free(m);
        return NULL;
    }
    strcpy(m->name, src->name);
    m->in_ch = src->in_ch, m->out_ch = src->out_ch, m->kernel = src->kernel;
    m->stride = src->stride, m->padding = src->padding, m->bias = src->bias, m->groups = src->groups;
    m->shortcut = src->shortcut;
    m->np = src->np;
    for (int i = 0; i < src->np; i++) {
        m->pname[i] = src->pname[i];
        m->p[i].is_buffer = src->p[i].is_buffer;
        m->p[i].is_integer = src->p[i].is_integer;
    }
    for (int i = 0; i < src->nchild; i++) {
        am_module *c = clone_tree(src->child[i]);
        if (!c || am_module_add(m, c) != AM_OK) {
            am_module_free(m);
            return NULL;
        }
    }
    return m;
}

am_status am_net_clone(am_net **dst, const am_net *src)
{
    am_module *root = clone_tree(src->root);
    if (!root) return am_error(AM_ERR_NOMEM, "am_net_clone: out of memory");
    AM_TRY(make_net(dst, root, !src->frozen, NULL));
    (*dst)->frozen = src->frozen;
    for (size_t i = 0; i < src->nparams; i++)
        memcpy((*dst)->params[i]->value.data, src->params[i]->value.data,
               (size_t)am_tensor_numel(&src->params[i]->value) * sizeof(float));
    (*dst)->mode = src->mode;
    (*dst)->precision = src->precision;
    (*dst)->layout = src->layout;
    return AM_OK;
}

/* Points the copy's parameters (not buffers) at src's values, and its gradients at src's when
 * asked; the copy's convolutions share src's weight copies. */
static am_status link_tree(am_module *dst, am_module *src, am_grads grads)
{
    for (int i = 0; i < src->np; i++) {
        const am_param *s = &src->p[i];
        if (s->is_buffer) continue;
        dst->p[i].value = am_tensor_view(s->value.data, s->value.ndim, s->value.shape);
        if (grads == AM_GRADS_SHARED) dst->p[i].grad = am_tensor_view(s->grad.data, s->grad.ndim, s->grad.shape);
    }
    if (src->kind == AM_MOD_CONV2D) {
        if (!src->wc && !(src->wc = am_wcopies_new())) return am_error(AM_ERR_NOMEM, "am_net_share: out of memory");
        dst->wc = am_wcopies_ref(src->wc);
    }
    for (int i = 0; i < src->nchild; i++) AM_TRY(link_tree(dst->child[i], src->child[i], grads));
    return AM_OK;
}

am_status am_net_share(am_net **dst, am_net *src, am_grads grads)
{
    *dst = NULL;
    if (grads != AM_GRADS_OWN && grads != AM_GRADS_SHARED && grads != AM_GRADS_NONE)
        return am_error(AM_ERR_VALUE, "am_net_share: unknown gradient choice %d", (int)grads);
    if (grads == AM_GRADS_SHARED && src->frozen)
        return am_error(AM_ERR_VALUE, "am_net_share: the network is frozen and has no gradients to share");
    am_module *root = clone_tree(src->root);
    if (!root) return am_error(AM_ERR_NOMEM, "am_net_share: out of memory");
    am_status st = link_tree(root, src->root, grads);
    if (st != AM_OK) {
        am_module_free(root);
        return st;
    }
    AM_TRY(make_net(dst, root, grads == AM_GRADS_OWN, src->vals));
    am_net *d = *dst;
    for (size_t i = 0; i < src->nparams; i++)
        if (src->params[i]->is_buffer)
            memcpy(d->params[i]->value.data, src->params[i]->value.data,
                   (size_t)am_tensor_numel(&src->params[i]->value) * sizeof(float));
    d->frozen = grads == AM_GRADS_NONE;
    d->mode = src->mode;
    d->precision = src->precision;
    d->layout = src->layout;
    return AM_OK;
}

/* What only a backward pass uses: the outputs kept for it (a frozen network's forward takes its
 * outputs from a pool), input-gradient buffers, and the reordered weight copies no other network
 * shares (the forward's are remade on its next run). */
static void drop_backward_state(am_module *m)
{
    am_buf_free(&m->ybuf);
    m->y.data = NULL;
    am_buf_free(&m->dxbuf);
    m->dx.data = NULL;
    if (m->wc && !am_wcopies_shared(m->wc)) {
        am_wcopies_unref(m->wc);
        m->wc = NULL;
    }
    for (int i = 0; i < m->nchild; i++) drop_backward_state(m->child[i]);
}

void am_net_freeze(am_net *net)
{
    for (size_t i = 0; i < net->nparams; i++) am_tensor_free(&net->params[i]->grad);
    drop_backward_state(net->root);
    am_buf_free(&net->dybuf), am_buf_free(&net->wgrad);
    am_pool_free(&net->gpool);
    am_tensor_free(&net->dx_nchw);
    net->have_fwd = net->have_bwd = net->have_dx = 0;
    net->frozen = 1;
}

int am_net_is_frozen(const am_net *net) { return net->frozen; }

static int same_tree(const am_module *a, const am_module *b)
{
    if (a->kind != b->kind || a->nchild != b->nchild || a->in_ch != b->in_ch || a->out_ch != b->out_ch) return 0;
    for (int i = 0; i < a->nchild; i++)
        if (!same_tree(a->child[i], b->child[i])) return 0;
    return 1;
}

static void borrow_tree(am_module *m, am_module *host)
{
    m->yhost = host ? &host->ybuf : NULL;
    am_buf_free(&m->ybuf);
    for (int i = 0; i < m->nchild; i++) borrow_tree(m->child[i], host ? host->child[i] : NULL);
}

am_status am_net_borrow_activations(am_net *net, am_net *host)
{
    if (host) {
        if (!net->frozen)
            return am_error(AM_ERR_VALUE, "am_net_borrow_activations: only a frozen (forward-only) network can borrow");
        if (host == net || host->host || !same_tree(net->root, host->root))
            return am_error(AM_ERR_VALUE, "am_net_borrow_activations: the host must be another network of the same "
                                          "architecture that borrows nothing itself");
    }
    borrow_tree(net->root, host ? host->root : NULL);
    am_buf_free(&net->xbuf), am_buf_free(&net->scratch), am_buf_free(&net->lowp_src);
    net->host = host;
    net->have_fwd = 0;
    return AM_OK;
}

size_t am_net_param_count(const am_net *net) { return net->nparams; }
am_param *am_net_param(am_net *net, size_t i) { return i < net->nparams ? net->params[i] : NULL; }

am_param *am_net_find_param(am_net *net, const char *full_name)
{
    for (size_t i = 0; i < net->nparams; i++)
        if (strcmp(net->params[i]->name, full_name) == 0) return net->params[i];
    return NULL;
}

static am_module *find_module(am_module *m, const char *full)
{
    if (strcmp(m->full, full) == 0) return m;
    for (int i = 0; i < m->nchild; i++) {
        am_module *r = find_module(m->child[i], full);
        if (r) return r;
    }
    return NULL;
}

am_module *am_net_find_module(am_net *net, const char *full_name) { return find_module(net->root, full_name); }

void am_net_params_changed(am_net *net) { net->vals->version++; }
uint64_t am_net_values_version(const am_net *net) { return net->vals->version; }
void am_net_set_mode(am_net *net, am_mode mode) { net->mode = mode; }
am_mode am_net_mode(const am_net *net) { return net->mode; }

am_status am_net_set_precision(am_net *net, am_precision p)
{
    if (p != AM_PRECISION_FP32 && p != AM_PRECISION_BF16) return am_error(AM_ERR_VALUE, "unknown precision %d", (int)p);
    net->precision = p;
    am_layout layout = am_act_layout(p);
    /* the last forward's activations are in the old layout: no backward through them */
    if (layout != net->layout) net->have_fwd = net->have_bwd = net->have_dx = 0;
    net->layout = layout;
    return AM_OK;
}

void am_net_zero_grad(am_net *net)
{
    for (size_t i = 0; i < net->nparams; i++) {
        am_tensor *g = &net->params[i]->grad;
        if (g->data) memset(g->data, 0, (size_t)am_tensor_numel(g) * sizeof(float));
    }
    net->grads_zero = 1;
}

static am_status tensor_shape(const am_tensor *t, am_shape *s, const char *what)
{
    if (!t || !t->data || (t->ndim != 4 && t->ndim != 2))
        return am_error(AM_ERR_SHAPE, "%s: expected an N×C×H×W or N×C tensor", what);
    s->ndim = t->ndim;
    s->n = t->shape[0], s->c = t->shape[1];
    s->h = t->ndim == 4 ? t->shape[2] : 1;
    s->w = t->ndim == 4 ? t->shape[3] : 1;
    if (s->n <= 0 || s->c <= 0 || s->h <= 0 || s->w <= 0) return am_error(AM_ERR_SHAPE, "%s: empty tensor", what);
    return AM_OK;
}

/* Stopping inside a residual block would leave its sum half-made, so every ancestor of the
 * stop module must be sequential. */
static am_status resolve_stop(am_net *net, const char *stop_at)
{
    net->stop = NULL;
    if (!stop_at) return AM_OK;
    am_module *m = find_module(net->root, stop_at);
    if (!m) return am_error(AM_ERR_NOTFOUND, "forward: no module named '%s'", stop_at);
    for (am_module *a = m->parent; a; a = a->parent)
        if (a->kind != AM_MOD_SEQUENTIAL)
            return am_error(AM_ERR_VALUE, "forward: cannot stop at '%s' inside residual block '%s'", stop_at, a->full);
    net->stop = m;
    return AM_OK;
}

/* y keeps its storage when the size fits (a view must fit), else is reallocated. */
static am_status prepare_out(am_tensor *y, const am_shape *s, const char *what)
{
    int64_t shape[4] = {s->n, s->c, s->h, s->w};
    int ndim = s->ndim;
    if (y->data && am_tensor_numel(y) == am_shape_numel(s)) {
        y->ndim = ndim;
        for (int i = 0; i < ndim; i++) y->shape[i] = shape[i];
        return AM_OK;
    }
    if (y->data && !y->owns) return am_error(AM_ERR_SHAPE, "%s: output view has the wrong size", what);
    am_tensor_free(y);
    return am_tensor_alloc(y, ndim, shape);
}

am_status am_net_forward(am_net *net, const am_tensor *x, const char *stop_at, am_tensor *y)
{
    am_shape s;
    net->have_fwd = net->have_bwd = 0;
    am_net_enter(net);
    AM_TRY(tensor_shape(x, &s, "forward input"));
    AM_TRY(resolve_stop(net, stop_at));
    AM_TRY(am_act_alloc(&net->x, &am_net_bufs(net)->xbuf, &s, net->layout, "forward input"));
    if (am_net_pools_outputs(net)) am_pool_reset(&net->ypool);
    AM_TRY(am_act_from_plain(net, &net->x, x->data, "forward input"));
    net->stopped = 0;
    net->input_reader = NULL;
    const am_act *top;
    AM_TRY(am_mod_forward(net->root, net, &net->x, &top));
    net->top = top;
    if (y) {
        AM_TRY(prepare_out(y, &top->s, "forward output"));
        AM_TRY(am_act_to_plain(net, top, y->data, "forward output"));
    }
    net->have_fwd = 1;
    return AM_OK;
}

am_status am_net_backward(am_net *net, const am_tensor *dy)
{
    am_shape s;
    char a[64], b[64];
    if (net->frozen) return am_error(AM_ERR_VALUE, "backward: the network is frozen (it has no gradient buffers)");
    if (!net->have_fwd) return am_error(AM_ERR_VALUE, "backward: no forward pass to go back through");
    am_net_enter(net);
    AM_TRY(tensor_shape(dy, &s, "backward gradient"));
    if (!am_shape_equal(&s, &net->top->s))
        return am_error(AM_ERR_SHAPE, "backward: gradient %s does not match output %s", am_shape_str(&s, a, sizeof a),
                        am_shape_str(&net->top->s, b, sizeof b));
    AM_TRY(am_act_alloc(&net->dy, &net->dybuf, &s, net->layout, "backward gradient"));
    AM_TRY(am_act_from_plain(net, &net->dy, dy->data, "backward gradient"));
    net->pending = NULL;
    net->have_bwd = net->have_dx = 0;
    const am_act *dx;
    am_pool_reset(&net->gpool); /* the previous pass's gradients are no longer needed */
    net->in_backward = 1;
    am_status st = am_mod_backward(net->root, net, &net->dy, 0, &dx);
    net->in_backward = 0;
    net->grads_zero = 0;
    AM_TRY(st);
    net->dxp = dx;
    net->have_bwd = 1;
    return AM_OK;
}

am_status am_net_reads_input(am_net *net, am_module *m)
{
    const am_layer_ops *ops = am_layer_ops_of(m->kind);
    if (!ops || !ops->input_grad)
        return am_error(AM_ERR_VALUE, "%s: reads the network input without its gradient", am_mod_who(m));
    if (net->input_reader && net->input_reader != m)
        return am_error(AM_ERR_VALUE, "%s: %s reads the network input already (one layer per network may)",
                        am_mod_who(m), am_mod_who(net->input_reader));
    net->input_reader = m;
    return AM_OK;
}

/* The first layer's input gradient is only computed when asked for: training never needs it,
 * and for a 3-channel first convolution it costs as much as a whole layer. */
const am_tensor *am_net_input_grad(am_net *net)
{
    if (!net->have_bwd) {
        am_error(AM_ERR_VALUE, "input gradient: call am_net_backward first");
        return NULL;
    }
    if (!net->have_dx) {
        am_module *p = net->pending;
        am_net_enter(net);
        am_status st = AM_OK;
        if (p && p->kind == AM_MOD_CONV2D) st = am_conv_backward_data(p, net, p->pending_dy);
        if (p && p->kind == AM_MOD_LINEAR) st = am_linear_backward_data(p, net, p->pending_dy);
        if (st == AM_OK) st = prepare_out(&net->dx_nchw, &net->x.s, "input gradient");
        if (st == AM_OK) st = am_act_to_plain(net, net->dxp, net->dx_nchw.data, "input gradient");
        /* a layer that also read the input (intensity pooling's weights) adds that path */
        am_module *r = net->input_reader;
        if (st == AM_OK && r) st = am_layer_ops_of(r->kind)->input_grad(r, net, net->dx_nchw.data);
        if (st != AM_OK) return NULL;
        net->have_dx = 1;
    }
    return &net->dx_nchw;
}

/* Shape inference through the tree, adding up the cost of each leaf. */
static am_status infer(am_module *m, const am_shape *in, am_shape *out, double *flops, am_net *net)
{
    if (m->kind == AM_MOD_SEQUENTIAL || m->kind == AM_MOD_RESIDUAL) {
        am_shape cur = *in;
        am_module *ds = NULL;
        for (int i = 0; i < m->nchild && !net->stopped; i++) {
            if (m->kind == AM_MOD_RESIDUAL && m->child[i]->shortcut) {
                ds = m->child[i];
                continue;
            }
            AM_TRY(infer(m->child[i], &cur, &cur, flops, net));
        }
        if (ds) {
            am_shape sc;
            AM_TRY(infer(ds, in, &sc, flops, net));
        }
        *out = cur;
    } else {
        *flops += am_leaf_flops(m, in);
        AM_TRY(am_leaf_out_shape(m, in, out));
    }
    if (m == net->stop) net->stopped = 1;
    return AM_OK;
}

double am_net_forward_flops(am_net *net, const int64_t nchw[4], const char *stop_at)
{
    am_shape in = {4, nchw[0], nchw[1], nchw[2], nchw[3]}, out;
    double flops = 0;
    am_module *keep = net->stop;
    am_status st = resolve_stop(net, stop_at);
    net->stopped = 0;
    if (st == AM_OK) st = infer(net->root, &in, &out, &flops, net);
    net->stopped = 0;
    net->stop = keep;
    return st == AM_OK ? flops : 0;
}
