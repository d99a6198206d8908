/* One BYOL evaluation: target projection, online prediction, loss, and the backward pass through
 * the online branch; and the embedding for inference. */
#include <math.h>
#include <string.h>

#include "byol/byol_internal.h"

static am_status grow(float **p, size_t *cap, size_t n)
{
    if (n <= *cap) return AM_OK;
    float *q = am_malloc(n * sizeof *q);
    if (!q) return am_error(AM_ERR_NOMEM, "byol: cannot allocate %zu floats", n);
    am_free(*p);
    *p = q;
    *cap = n;
    return AM_OK;
}

/* Backbone up to the hidden layer, flattened, then the projector. y keeps the hidden output
 * (its shape is what the backward pass must hand back). */
static am_status encode(am_byol *b, am_net *net, am_net *proj, const am_tensor *x, am_tensor *y, am_tensor *p)
{
    AM_TRY(am_net_forward(net, x, b->hidden_layer, y));
    int64_t n = y->shape[0], f = am_tensor_numel(y) / (n ? n : 1);
    if (f != b->o.representation_size)
        return am_error(AM_ERR_SHAPE, "byol: layer '%s' gave %lld features, expected %d", b->hidden_layer, (long long)f,
                        b->o.representation_size);
    const int64_t shape[2] = {n, f};
    am_tensor rep = am_tensor_view(y->data, 2, shape);
    return am_net_forward(proj, &rep, NULL, p);
}

/* [a; b] along the batch axis into a new tensor. */
static am_status concat(am_tensor *out, const am_tensor *a, const am_tensor *b)
{
    int64_t shape[AM_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[0] = a->shape[0] + b->shape[0];
    AM_TRY(am_tensor_alloc(out, a->ndim, shape));
    int64_t na = am_tensor_numel(a);
    memcpy(out->data, a->data, (size_t)na * sizeof(float));
    memcpy(out->data + na, b->data, (size_t)am_tensor_numel(b) * sizeof(float));
    return AM_OK;
}

/* Back through predictor, projector and network of the online pass just run: dpred (rows of
 * the prediction's gradient, scaled by k here) and, when drep is not NULL, drep_scale · drep added
 * at the hidden layer, whose output y was. */
static am_status backward_online(am_byol *b, float *dpred, int64_t rows, float k, const am_tensor *y, const float *drep,
                                 float drep_scale)
{
    const int64_t d = b->o.projection_size;
    for (int64_t i = 0; i < rows * d; i++) dpred[i] *= k;
    const int64_t qs[2] = {rows, d};
    am_tensor dq = am_tensor_view(dpred, 2, qs);
    AM_TRY(am_net_backward(b->part[AM_BYOL_PRED], &dq));
    const am_tensor *dp = am_net_input_grad(b->part[AM_BYOL_PRED]);
    if (!dp) return AM_ERR_BACKEND;
    AM_TRY(am_net_backward(b->part[AM_BYOL_PROJ], dp));
    const am_tensor *dr = am_net_input_grad(b->part[AM_BYOL_PROJ]);
    if (!dr) return AM_ERR_BACKEND;
    if (drep)
        for (int64_t i = 0, n = am_tensor_numel(dr); i < n; i++) dr->data[i] += drep_scale * drep[i];
    am_tensor dy = am_tensor_view(dr->data, y->ndim, y->shape);
    return am_net_backward(b->part[AM_BYOL_NET], &dy);
}

static am_status step(am_byol *b, const am_tensor *xo, const am_tensor *xt, int64_t samples, float scale, double *loss)
{
    const int64_t n = xo->shape[0], d = b->o.projection_size;
    am_net *tnet = b->part[b->o.use_momentum ? AM_BYOL_TNET : AM_BYOL_NET];
    am_net *tproj = b->part[b->o.use_momentum ? AM_BYOL_TPROJ : AM_BYOL_PROJ];
    AM_TRY(grow(&b->tproj, &b->tproj_cap, (size_t)(n * d)));
    AM_TRY(grow(&b->loss, &b->loss_cap, (size_t)n));
    AM_TRY(grow(&b->dpred, &b->dpred_cap, (size_t)(n * d)));

    /* Target first: without momentum it is the online network itself, and the online pass that
     * the backward needs must be the last one run. */
    am_tensor ty = {0}, tp = {0}, y = {0}, p = {0}, q = {0};
    am_status s = encode(b, tnet, tproj, xt, &ty, &tp);
    if (s == AM_OK) memcpy(b->tproj, tp.data, (size_t)(n * d) * sizeof(float));
    am_tensor_free(&tp);
    am_tensor_free(&ty);
    if (s == AM_OK) s = encode(b, b->part[AM_BYOL_NET], b->part[AM_BYOL_PROJ], xo, &y, &p);
    if (s == AM_OK) s = am_net_forward(b->part[AM_BYOL_PRED], &p, NULL, &q);
    am_byol_loss_fn fn = b->o.loss_fn ? b->o.loss_fn : am_byol_cosine_loss;
    if (s == AM_OK) s = fn(q.data, b->tproj, n, d, b->loss, scale != 0.0f ? b->dpred : NULL, b->o.loss_user);
    double sum = 0, spread = 0;
    for (int64_t i = 0; s == AM_OK && i < n; i++) sum += b->loss[i];
    /* the spread penalty of this forward's embeddings, weighed as one per-image loss */
    const int64_t f = b->o.representation_size;
    int spread_on = b->o.variance_weight != 0 || b->o.covariance_weight != 0;
    if (s == AM_OK && spread_on) s = grow(&b->drep, &b->drep_cap, (size_t)(n * f));
    if (s == AM_OK && spread_on)
        s = am_byol_spread_penalty(y.data, n, f, b->o.variance_weight, b->o.covariance_weight, &spread,
                                   scale != 0.0f ? b->drep : NULL);
    *loss = sum / (double)samples + spread;
    if (s == AM_OK && !isfinite(*loss)) s = am_error(AM_ERR_NUMERIC, "byol: the loss is %g", *loss);

    if (s == AM_OK && scale != 0.0f)
        s = backward_online(b, b->dpred, n, scale / (float)samples, &y, spread_on ? b->drep : NULL, scale);
    am_tensor_free(&q);
    am_tensor_free(&p);
    am_tensor_free(&y);
    return s;
}

/* Local views (multi-crop, Caron et al. 2020): the online branch alone on small crops, each
 * predicting the target projections of its image's global views, which step() left in b->tproj
 * (symmetric: rows [t(v2); t(v1)]; one way: t(v2)). Each local view adds one per-image term, the
 * mean of its losses against those targets; its gradient adds to the global views'. Rows of xl
 * are l-major: row l·images + i is local view l of image i. */
static am_status local_step(am_byol *b, const am_tensor *xl, int64_t images, int targets, float scale, double *sum)
{
    const int64_t rows = xl->shape[0], d = b->o.projection_size;
    AM_TRY(grow(&b->ltgt, &b->ltgt_cap, (size_t)(rows * d)));
    AM_TRY(grow(&b->lgrad, &b->lgrad_cap, (size_t)(rows * d)));
    AM_TRY(grow(&b->loss, &b->loss_cap, (size_t)rows));
    AM_TRY(grow(&b->dpred, &b->dpred_cap, (size_t)(rows * d)));
    am_tensor y = {0}, p = {0}, q = {0};
    am_status s = encode(b, b->part[AM_BYOL_NET], b->part[AM_BYOL_PROJ], xl, &y, &p);
    if (s == AM_OK) s = am_net_forward(b->part[AM_BYOL_PRED], &p, NULL, &q);
    am_byol_loss_fn fn = b->o.loss_fn ? b->o.loss_fn : am_byol_cosine_loss;
    if (s == AM_OK) memset(b->lgrad, 0, (size_t)(rows * d) * sizeof(float));
    double total = 0;
    for (int tg = 0; s == AM_OK && tg < targets; tg++) {
        for (int64_t j = 0; j < rows; j++)
            memcpy(b->ltgt + j * d, b->tproj + (tg * images + j % images) * d, (size_t)d * sizeof(float));
        s = fn(q.data, b->ltgt, rows, d, b->loss, scale != 0.0f ? b->dpred : NULL, b->o.loss_user);
        for (int64_t j = 0; s == AM_OK && j < rows; j++) total += b->loss[j];
        for (int64_t i = 0; s == AM_OK && scale != 0.0f && i < rows * d; i++) b->lgrad[i] += b->dpred[i];
    }
    *sum = total / targets;
    if (s == AM_OK && scale != 0.0f)
        s = backward_online(b, b->lgrad, rows, scale / (float)images / (float)targets, &y, NULL, 0.0f);
    am_tensor_free(&q);
    am_tensor_free(&p);
    am_tensor_free(&y);
    return s;
}

am_status am_byol_step(am_byol *b, const am_tensor *view1, const am_tensor *view2, float grad_scale, double *loss)
{
    return am_byol_step_multi(b, view1, view2, NULL, grad_scale, loss);
}

am_status am_byol_step_multi(am_byol *b, const am_tensor *view1, const am_tensor *view2, const am_tensor *local,
                             float grad_scale, double *loss)
{
    char s1[64], s2[64];
    if (view1->ndim != 4 || !am_tensor_same_shape(view1, view2))
        return am_error(AM_ERR_SHAPE, "byol: views must be two N×C×H×W batches of one shape, got %s and %s",
                        am_tensor_shape_str(view1, s1, sizeof s1), am_tensor_shape_str(view2, s2, sizeof s2));
    if (b->mode == AM_MODE_TRAIN && view1->shape[0] < 2)
        return am_error(AM_ERR_SHAPE, "byol: BatchNorm in training mode needs at least 2 samples, got %lld",
                        (long long)view1->shape[0]);
    const int64_t n = view1->shape[0];
    if (local && (local->ndim != 4 || local->shape[0] % n != 0 || local->shape[1] != view1->shape[1]))
        return am_error(AM_ERR_SHAPE, "byol: local views must be a (L·%lld)×%lld×h×w batch, got %s", (long long)n,
                        (long long)view1->shape[1], am_tensor_shape_str(local, s1, sizeof s1));
    am_status s = AM_OK;
    if (b->o.loss == AM_BYOL_LOSS_ONE_WAY) {
        s = step(b, view1, view2, n, grad_scale, loss);
    } else {
        /* Symmetric: one pass over [v1; v2] against the target of [v2; v1], as the BYOL paper's
         * code does, so BatchNorm sees both views together; the two directions are summed. */
        am_tensor xo = {0}, xt = {0};
        s = concat(&xo, view1, view2);
        if (s == AM_OK) s = concat(&xt, view2, view1);
        if (s == AM_OK) s = step(b, &xo, &xt, n, grad_scale, loss);
        am_tensor_free(&xo);
        am_tensor_free(&xt);
    }
    double lsum = 0;
    if (s == AM_OK && local && local->shape[0] > 0)
        s = local_step(b, local, n, b->o.loss == AM_BYOL_LOSS_ONE_WAY ? 1 : 2, grad_scale, &lsum);
    if (s == AM_OK) *loss += lsum / (double)n;
    if (s == AM_OK && !isfinite(*loss)) s = am_error(AM_ERR_NUMERIC, "byol: the loss is %g", *loss);
    return s;
}

am_status am_byol_embed(am_byol *b, const am_tensor *x, am_tensor *emb)
{
    am_tensor y = {0};
    AM_TRY(am_net_forward(b->part[AM_BYOL_NET], x, b->hidden_layer, &y));
    int64_t n = y.shape[0];
    am_status s = am_tensor_alloc2(emb, n, am_tensor_numel(&y) / (n ? n : 1));
    if (s == AM_OK) memcpy(emb->data, y.data, (size_t)am_tensor_numel(&y) * sizeof(float));
    am_tensor_free(&y);
    return s;
}
