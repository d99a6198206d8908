/* BYOL core: building the online/target/predictor parts, their parameters and state, modes,
 * replicas, and the EMA of the target. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/rng.h"
#include "astromorph/runtime.h"
#include "byol/byol_internal.h"
#include "core/internal.h"

const char *const am_byol_prefix[AM_BYOL_PARTS] = {"online_encoder.network.", "online_encoder.projector.",
                                                   "online_predictor.", "target_encoder.network.",
                                                   "target_encoder.projector."};

void am_byol_options_default(am_byol_options *o)
{
    memset(o, 0, sizeof *o);
    o->hidden_layer = "avgpool";
    o->probe_channels = 1;
    o->projection_size = 256;
    o->projection_hidden_size = 1024;
    o->use_momentum = 1;
    o->moving_average_decay = 0.99;
    o->loss = AM_BYOL_LOSS_ONE_WAY;
    o->seed = 0;
}

am_status am_byol_mlp(am_net **net, int in, int hidden, int out, uint64_t seed)
{
    am_module *root = am_sequential("");
    am_module *model = am_sequential("model");
    am_module *l0 = am_linear("0", in, hidden, 1), *bn = am_batchnorm1d("1", hidden);
    am_module *relu = am_relu("2"), *l3 = am_linear("3", hidden, out, 1);
    if (!root || !model || !l0 || !bn || !relu || !l3) {
        am_module_free(root), am_module_free(model), am_module_free(l0);
        am_module_free(bn), am_module_free(relu), am_module_free(l3);
        return am_error(AM_ERR_NOMEM, "byol: cannot build an MLP %d-%d-%d", in, hidden, out);
    }
    /* am_module_add takes ownership even on failure; after a failure the children not yet
     * added are still ours to free. */
    am_module *kids[] = {l0, bn, relu, l3};
    am_status s = AM_OK;
    for (int k = 0; k < 4; k++) {
        if (s == AM_OK) s = am_module_add(model, kids[k]);
        else am_module_free(kids[k]);
    }
    if (s == AM_OK) s = am_module_add(root, model);
    else am_module_free(model);
    if (s != AM_OK) {
        am_module_free(root);
        return s;
    }
    return am_net_create(net, root, seed);
}

/* The target runs just before the online branch in every step and is never back-propagated:
 * it writes its activations into the online branch's buffers. */
static am_status target_borrows(am_byol *b)
{
    AM_TRY(am_net_borrow_activations(b->part[AM_BYOL_TNET], b->part[AM_BYOL_NET]));
    return am_net_borrow_activations(b->part[AM_BYOL_TPROJ], b->part[AM_BYOL_PROJ]);
}

/* Features of the hidden layer's output, from a forward of a small input. */
static am_status probe_representation(am_byol *b, int *rep)
{
    am_tensor x = {0}, y = {0};
    AM_TRY(am_tensor_alloc4(&x, 2, b->o.probe_channels > 0 ? b->o.probe_channels : 1, 64, 64));
    am_rng r;
    am_rng_init(&r, b->o.seed, am_rng_stream(0x9e0be, 0, 0));
    for (int64_t i = 0; i < am_tensor_numel(&x); i++) x.data[i] = (float)am_rng_uniform(&r);
    am_mode m = am_net_mode(b->part[AM_BYOL_NET]);
    am_net_set_mode(b->part[AM_BYOL_NET], AM_MODE_EVAL); /* running statistics stay untouched */
    am_status s = am_net_forward(b->part[AM_BYOL_NET], &x, b->hidden_layer, &y);
    if (s == AM_OK) {
        int64_t f = am_tensor_numel(&y) / y.shape[0];
        *rep = (int)f;
        am_tensor dy = {0};
        s = am_tensor_clone(&dy, &y);
        if (s == AM_OK) {
            for (int64_t i = 0; i < am_tensor_numel(&dy); i++) dy.data[i] = 1.0f;
            am_net_zero_grad(b->part[AM_BYOL_NET]);
            s = am_net_backward(b->part[AM_BYOL_NET], &dy);
        }
        am_tensor_free(&dy);
    }
    am_net_set_mode(b->part[AM_BYOL_NET], m);
    am_tensor_free(&y);
    am_tensor_free(&x);
    if (s != AM_OK)
        return am_error_prefix(s, "byol: probing hidden layer '%s' with a %d-channel image", b->hidden_layer,
                               b->o.probe_channels);
    return AM_OK;
}

static int grad_touched(const am_param *p)
{
    int64_t n = am_tensor_numel(&p->grad);
    for (int64_t i = 0; i < n; i++)
        if (p->grad.data[i] != 0.0f) return 1;
    return 0;
}

static void free_index(am_byol *b)
{
    for (size_t i = 0; i < b->nstate; i++) free(b->state_name[i]);
    free(b->state_name), free(b->state), free(b->train);
    b->state_name = NULL, b->state = NULL, b->train = NULL;
    b->nstate = b->ntrain = 0;
}

am_status am_byol_index(am_byol *b)
{
    free_index(b);

    size_t total = 0, r = 0;
    int reached = 0;
    for (int k = 0; k < AM_BYOL_PARTS; k++) total += am_net_param_count(b->part[k]);
    b->state = calloc(total, sizeof *b->state);
    b->state_name = calloc(total, sizeof *b->state_name);
    b->train = calloc(total, sizeof *b->train);
    if (!b->state || !b->state_name || !b->train) return am_error(AM_ERR_NOMEM, "byol: out of memory");
    for (int k = 0; k < AM_BYOL_PARTS; k++) {
        size_t n = am_net_param_count(b->part[k]);
        for (size_t i = 0; i < n; i++) {
            am_param *p = am_net_param(b->part[k], i);
            if (k == AM_BYOL_NET && r < b->nreach && b->reach[r] == i) reached = 1, r++;
            size_t len = strlen(am_byol_prefix[k]) + strlen(p->name) + 1;
            char *name = malloc(len);
            if (!name) return am_error(AM_ERR_NOMEM, "byol: out of memory");
            snprintf(name, len, "%s%s", am_byol_prefix[k], p->name);
            b->state_name[b->nstate] = name;
            b->state[b->nstate++] = p;
            int trainable = k == AM_BYOL_NET ? reached : (k == AM_BYOL_PROJ || k == AM_BYOL_PRED) && !p->is_buffer;
            if (trainable) b->train[b->ntrain++] = p;
            reached = 0;
        }
    }
    return AM_OK;
}

am_status am_byol_create(am_byol **out, am_net *network, const am_byol_options *opt)
{
    *out = NULL;
    if (!network) return am_error(AM_ERR_VALUE, "byol: no network given");
    am_byol_options o;
    if (opt) o = *opt;
    else am_byol_options_default(&o);
    if (!o.hidden_layer || !*o.hidden_layer) o.hidden_layer = "avgpool";
    if (o.projection_size < 1 || o.projection_hidden_size < 1) {
        am_net_free(network);
        return am_error(AM_ERR_VALUE, "byol: projection_size %d and projection_hidden_size %d must be >= 1",
                        o.projection_size, o.projection_hidden_size);
    }
    if (!(o.moving_average_decay >= 0 && o.moving_average_decay <= 1)) {
        am_net_free(network);
        return am_error(AM_ERR_VALUE, "byol: moving_average_decay %g is outside [0, 1]", o.moving_average_decay);
    }
    if (!am_net_find_module(network, o.hidden_layer)) {
        am_net_free(network);
        return am_error(AM_ERR_NOTFOUND, "byol: the network has no layer '%s' to intercept", o.hidden_layer);
    }
    am_byol *b = calloc(1, sizeof *b);
    if (!b) {
        am_net_free(network);
        return am_error(AM_ERR_NOMEM, "byol: out of memory");
    }
    b->part[AM_BYOL_NET] = network;
    b->hidden_layer = strdup(o.hidden_layer);
    b->o = o;
    b->o.hidden_layer = b->hidden_layer;
    b->mode = am_net_mode(network);
    am_status s = b->hidden_layer ? AM_OK : am_error(AM_ERR_NOMEM, "byol: out of memory");

    int rep = 0;
    if (s == AM_OK) s = probe_representation(b, &rep);
    if (s == AM_OK && o.representation_size > 0 && o.representation_size != rep)
        s = am_error(AM_ERR_SHAPE, "byol: layer '%s' gives %d features, representation_size is %d", b->hidden_layer,
                     rep, o.representation_size);
    if (s == AM_OK) {
        b->o.representation_size = rep;
        /* Parameters after the hidden layer got no gradient from the probe: like PyTorch's
         * grad None, the optimizer must leave them alone (weight decay included). */
        size_t nnet = am_net_param_count(network);
        b->reach = calloc(nnet ? nnet : 1, sizeof *b->reach);
        if (!b->reach) s = am_error(AM_ERR_NOMEM, "byol: out of memory");
        for (size_t i = 0; s == AM_OK && i < nnet; i++) {
            am_param *p = am_net_param(network, i);
            if (!p->is_buffer && grad_touched(p)) b->reach[b->nreach++] = i;
        }
        am_net_zero_grad(network);
    }
    if (s == AM_OK)
        s = am_byol_mlp(&b->part[AM_BYOL_PROJ], rep, o.projection_hidden_size, o.projection_size, o.seed + 1);
    if (s == AM_OK)
        s = am_byol_mlp(&b->part[AM_BYOL_PRED], o.projection_size, o.projection_hidden_size, o.projection_size,
                        o.seed + 2);
    if (s == AM_OK) s = am_net_clone(&b->part[AM_BYOL_TNET], network);
    if (s == AM_OK) s = am_net_clone(&b->part[AM_BYOL_TPROJ], b->part[AM_BYOL_PROJ]);
    /* The target is never back-propagated: no gradient buffers (a third of its memory). */
    if (s == AM_OK) am_net_freeze(b->part[AM_BYOL_TNET]), am_net_freeze(b->part[AM_BYOL_TPROJ]);
    if (s == AM_OK) s = target_borrows(b);
    if (s == AM_OK) s = am_byol_index(b);
    if (s != AM_OK) {
        am_byol_free(b);
        return s;
    }
    am_byol_set_mode(b, b->mode);
    *out = b;
    return AM_OK;
}

void am_byol_free(am_byol *b)
{
    if (!b) return;
    for (int k = 0; k < AM_BYOL_PARTS; k++) am_net_free(b->part[k]);
    free_index(b);
    free(b->reach);
    free(b->hidden_layer);
    am_free(b->tproj), am_free(b->loss), am_free(b->dpred), am_free(b->drep);
    am_free(b->ltgt), am_free(b->lgrad);
    free(b);
}

/* A copy of src: deep (shared_src NULL), or reading shared_src's values (a replica). */
static am_status copy_of(am_byol **out, const am_byol *src, am_byol *shared_src, int share_grads)
{
    *out = NULL;
    am_byol *b = calloc(1, sizeof *b);
    if (!b) return am_error(AM_ERR_NOMEM, "byol: out of memory");
    b->o = src->o;
    b->mode = src->mode;
    b->hidden_layer = strdup(src->hidden_layer);
    b->o.hidden_layer = b->hidden_layer;
    am_status s = b->hidden_layer ? AM_OK : am_error(AM_ERR_NOMEM, "byol: out of memory");
    for (int k = 0; s == AM_OK && k < AM_BYOL_PARTS; k++) {
        if (!shared_src) {
            s = am_net_clone(&b->part[k], src->part[k]);
            continue;
        }
        am_net *from = shared_src->part[k];
        am_grads g = am_net_is_frozen(from) ? AM_GRADS_NONE : share_grads ? AM_GRADS_SHARED : AM_GRADS_OWN;
        s = am_net_share(&b->part[k], from, g);
    }
    if (s == AM_OK) s = target_borrows(b);
    if (s == AM_OK) {
        b->reach = malloc((src->nreach ? src->nreach : 1) * sizeof *b->reach);
        if (!b->reach) s = am_error(AM_ERR_NOMEM, "byol: out of memory");
        else memcpy(b->reach, src->reach, src->nreach * sizeof *b->reach), b->nreach = src->nreach;
    }
    if (s == AM_OK) s = am_byol_index(b);
    if (s != AM_OK) {
        am_byol_free(b);
        return s;
    }
    *out = b;
    return AM_OK;
}

am_status am_byol_clone(am_byol **out, const am_byol *src) { return copy_of(out, src, NULL, 0); }

am_status am_byol_replica(am_byol **out, am_byol *src, int share_grads) { return copy_of(out, src, src, share_grads); }

am_status am_byol_copy_state(am_byol *dst, const am_byol *src)
{
    if (dst->nstate != src->nstate) return am_error(AM_ERR_SHAPE, "byol: copying between different models");
    int changed = 0;
    for (size_t i = 0; i < src->nstate; i++) {
        am_tensor *d = &dst->state[i]->value;
        const am_tensor *s = &src->state[i]->value;
        if (!am_tensor_same_shape(d, s))
            return am_error(AM_ERR_SHAPE, "byol: copying %s between different shapes", src->state_name[i]);
        if (d->data == s->data) continue; /* shared with a replica */
        memcpy(d->data, s->data, (size_t)am_tensor_numel(s) * sizeof(float));
        changed |= !dst->state[i]->is_buffer;
    }
    if (changed) am_byol_params_changed(dst);
    return AM_OK;
}

const am_byol_options *am_byol_get_options(const am_byol *b) { return &b->o; }
am_net *am_byol_network(am_byol *b) { return b->part[AM_BYOL_NET]; }

void am_byol_set_mode(am_byol *b, am_mode mode)
{
    b->mode = mode;
    for (int k = 0; k < AM_BYOL_PARTS; k++) am_net_set_mode(b->part[k], mode);
}

am_mode am_byol_mode(const am_byol *b) { return b->mode; }

void am_byol_freeze(am_byol *b)
{
    for (int k = 0; k < AM_BYOL_PARTS; k++) am_net_freeze(b->part[k]);
}

void am_byol_zero_grad(am_byol *b)
{
    for (int k = 0; k < AM_BYOL_PARTS; k++) am_net_zero_grad(b->part[k]);
}

void am_byol_params_changed(am_byol *b)
{
    for (int k = 0; k < AM_BYOL_PARTS; k++) am_net_params_changed(b->part[k]);
}

void am_byol_update_target(am_byol *b) { am_byol_update_target_with(b, b->o.moving_average_decay); }

void am_byol_update_target_with(am_byol *b, double decay)
{
    if (!b->o.use_momentum) return;
    /* As the original: parameters only; the target's BatchNorm buffers follow its own forwards. */
    const float keep = (float)decay, take = (float)(1.0 - decay);
    for (int k = 0; k < 2; k++) {
        am_net *on = b->part[k == 0 ? AM_BYOL_NET : AM_BYOL_PROJ];
        am_net *tg = b->part[k == 0 ? AM_BYOL_TNET : AM_BYOL_TPROJ];
        size_t n = am_net_param_count(on);
        for (size_t i = 0; i < n; i++) {
            am_param *po = am_net_param(on, i), *pt = am_net_param(tg, i);
            if (po->is_buffer) continue;
            int64_t m = am_tensor_numel(&po->value);
            float *t = pt->value.data;
            const float *o = po->value.data;
#pragma omp parallel for schedule(static) if (m >= AM_PARALLEL_MIN)
            for (int64_t j = 0; j < m; j++) t[j] = keep * t[j] + take * o[j];
        }
        am_net_params_changed(tg);
    }
}

size_t am_byol_param_count(const am_byol *b) { return b->ntrain; }
am_param *am_byol_param(am_byol *b, size_t i) { return i < b->ntrain ? b->train[i] : NULL; }
size_t am_byol_state_count(const am_byol *b) { return b->nstate; }

am_param *am_byol_state(am_byol *b, size_t i, const char **full_name)
{
    if (i >= b->nstate) return NULL;
    if (full_name) *full_name = b->state_name[i];
    return b->state[i];
}
