/* BYOL core against a PyTorch run of the original's BYOL module and trainer step
 * (tools/fixtures/byol.py): 3 Adam steps of 2 images on amm, every loss, the final online and
 * target state, the embedding; plus the loss gradient, symmetric loss, no-momentum target and
 * model files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/byol.h"
#include "astromorph/models.h"
#include "test_util.h"
#include "train/train_internal.h"

static am_byol *make_amm_byol_loss(int proj, int hidden, uint64_t seed, am_byol_loss_kind loss)
{
    am_model_spec spec = {"amm", NULL, 1, AM_POOLING_AVERAGE, 1};
    am_net *net = NULL;
    if (am_model_create(&net, &spec, seed) != AM_OK) return NULL;
    am_byol_options o;
    am_byol_options_default(&o);
    o.projection_size = proj;
    o.projection_hidden_size = hidden;
    o.seed = seed;
    o.loss = loss;
    am_byol *b = NULL;
    am_status s = am_byol_create(&b, net, &o);
    CHECK(s == AM_OK, "am_byol_create: %s", am_errmsg());
    return b;
}

static am_byol *make_amm_byol(int proj, int hidden, uint64_t seed)
{
    return make_amm_byol_loss(proj, hidden, seed, AM_BYOL_LOSS_ONE_WAY);
}

static void load_prefixed(am_byol *b, const am_safetensors *st, const char *prefix)
{
    char key[512];
    for (size_t i = 0; i < am_byol_state_count(b); i++) {
        const char *name;
        am_param *p = am_byol_state(b, i, &name);
        snprintf(key, sizeof key, "%s%s", prefix, name);
        CHECK_OK(am_st_copy_f32(st, key, p->value.data, am_tensor_numel(&p->value)));
    }
    am_byol_params_changed(b);
}

static void test_reference_run(void)
{
    am_safetensors fx;
    am_test_fixture(&fx, "byol_train");
    am_byol *b = make_amm_byol(8, 16, 1);
    if (!b) return;
    CHECK(am_byol_get_options(b)->representation_size == 128, "amm gives 128 features at avgpool");
    /* fc runs after avgpool: no gradient reaches it, so it is not trainable (PyTorch: grad None). */
    size_t nstate = am_byol_state_count(b), ntrain = am_byol_param_count(b);
    for (size_t i = 0; i < ntrain; i++)
        CHECK(strstr(am_byol_param(b, i)->name, "fc.") != am_byol_param(b, i)->name, "fc must not be trainable: %s",
              am_byol_param(b, i)->name);
    CHECK(ntrain == 20 + 6 + 6, "trainable tensors: %zu", ntrain);
    CHECK(nstate > 2 * ntrain, "state holds online, predictor and target: %zu", nstate);
    load_prefixed(b, &fx, "init.");

    am_adam adam;
    am_param *params[64];
    for (size_t i = 0; i < ntrain && i < 64; i++) params[i] = am_byol_param(b, i);
    const char *lr_s = am_st_meta(&fx, "lr"), *wd_s = am_st_meta(&fx, "weight_decay"), *eps_s = am_st_meta(&fx, "eps");
    CHECK(lr_s && wd_s && eps_s, "fixture metadata");
    double lr = lr_s ? atof(lr_s) : 0;
    CHECK_OK(am_adam_init(&adam, params, ntrain, 0.9, 0.999, eps_s ? atof(eps_s) : 0, wd_s ? atof(wd_s) : 0));
    am_tensor want_loss;
    am_test_fixture_tensor(&fx, "loss", &want_loss);
    am_byol_set_mode(b, AM_MODE_TRAIN);
    for (int step = 0; step < 3; step++) {
        am_byol_zero_grad(b);
        for (int k = 2 * step; k < 2 * step + 2; k++) {
            char n1[32], n2[32];
            snprintf(n1, sizeof n1, "view1.%d", k);
            snprintf(n2, sizeof n2, "view2.%d", k);
            am_tensor v1, v2;
            am_test_fixture_tensor(&fx, n1, &v1);
            am_test_fixture_tensor(&fx, n2, &v2);
            double loss = 0;
            CHECK_OK(am_byol_step(b, &v1, &v2, 1.0f, &loss));
            CHECK(fabs(loss - want_loss.data[k]) <= 2e-5 * fabs(want_loss.data[k]), "loss %d: %.7f, PyTorch %.7f", k,
                  loss, want_loss.data[k]);
            am_tensor_free(&v1);
            am_tensor_free(&v2);
        }
        am_adam_step(&adam, params, lr);
        am_byol_params_changed(b);
        am_byol_update_target(b);
    }
    /* Weights: float32 runs of different kernels, 3 steps of lr 1e-4 on weights of scale ~0.05:
     * 5e-4 of the scale is a third of one step (a missing bias correction would move 3x more). */
    char key[512];
    int bad = 0;
    for (size_t i = 0; i < nstate; i++) {
        const char *name;
        am_param *p = am_byol_state(b, i, &name);
        snprintf(key, sizeof key, "final.%s", name);
        am_tensor want;
        am_test_fixture_tensor(&fx, key, &want);
        double tol = p->is_buffer ? 1e-4 : 5e-4;
        if (!am_test_close(name, p->value.data, want.data, am_tensor_numel(&want), tol, 1e-2)) bad++;
        am_tensor_free(&want);
    }
    CHECK(bad == 0, "%d of %zu final state tensors differ from PyTorch", bad, nstate);

    am_tensor v1, emb = {0}, want_emb;
    am_test_fixture_tensor(&fx, "view1.0", &v1);
    am_test_fixture_tensor(&fx, "emb", &want_emb);
    am_byol_set_mode(b, AM_MODE_EVAL);
    CHECK_OK(am_byol_embed(b, &v1, &emb));
    CHECK(emb.ndim == 2 && emb.shape[0] == 4 && emb.shape[1] == 128, "embedding shape");
    CHECK(am_test_close("embedding", emb.data, want_emb.data, 4 * 128, 1e-4, 1e-3), "embedding differs");
    am_tensor_free(&v1), am_tensor_free(&emb), am_tensor_free(&want_emb), am_tensor_free(&want_loss);
    am_adam_free(&adam);
    am_byol_free(b);
    am_st_free(&fx);
}

/* The symmetric loss against PyTorch: one pass over [v1; v2] (BatchNorm sees both views), both
 * directions summed; 2 steps of 1 image from the same start. With multi-crop ("mc"), each step
 * also has 2 local views of 15 x 17 per image, each predicting both targets. */
static void symmetric_reference(const char *tag, int multicrop)
{
    am_safetensors fx;
    am_test_fixture(&fx, "byol_train");
    am_byol *b = make_amm_byol_loss(8, 16, 1, AM_BYOL_LOSS_SYMMETRIC);
    if (!b) return;
    load_prefixed(b, &fx, "init.");
    size_t ntrain = am_byol_param_count(b);
    am_param *params[64];
    for (size_t i = 0; i < ntrain && i < 64; i++) params[i] = am_byol_param(b, i);
    am_adam adam;
    CHECK_OK(am_adam_init(&adam, params, ntrain, 0.9, 0.999, atof(am_st_meta(&fx, "eps")),
                          atof(am_st_meta(&fx, "weight_decay"))));
    am_tensor want_loss;
    char key[512];
    snprintf(key, sizeof key, "%s_loss", tag);
    am_test_fixture_tensor(&fx, key, &want_loss);
    am_byol_set_mode(b, AM_MODE_TRAIN);
    for (int k = 0; k < 2; k++) {
        char n1[32], n2[32], nl[32];
        snprintf(n1, sizeof n1, "view1.%d", k);
        snprintf(n2, sizeof n2, "view2.%d", k);
        snprintf(nl, sizeof nl, "mc_local.%d", k);
        am_tensor v1, v2, local = {0};
        am_test_fixture_tensor(&fx, n1, &v1);
        am_test_fixture_tensor(&fx, n2, &v2);
        if (multicrop) am_test_fixture_tensor(&fx, nl, &local);
        double loss = 0;
        am_byol_zero_grad(b);
        CHECK_OK(am_byol_step_multi(b, &v1, &v2, multicrop ? &local : NULL, 1.0f, &loss));
        CHECK(fabs(loss - want_loss.data[k]) <= 2e-5 * fabs(want_loss.data[k]), "%s loss %d: %.7f, PyTorch %.7f", tag,
              k, loss, want_loss.data[k]);
        am_adam_step(&adam, params, atof(am_st_meta(&fx, "lr")));
        am_byol_params_changed(b);
        am_byol_update_target(b);
        am_tensor_free(&v1), am_tensor_free(&v2), am_tensor_free(&local);
    }
    int compared = 0, bad = 0;
    for (size_t i = 0; i < am_byol_state_count(b); i++) {
        const char *name;
        am_param *p = am_byol_state(b, i, &name);
        snprintf(key, sizeof key, "%s_final.%s", tag, name);
        if (!am_st_find(&fx, key)) continue;
        am_tensor want;
        am_test_fixture_tensor(&fx, key, &want);
        if (!am_test_close(name, p->value.data, want.data, am_tensor_numel(&want), p->is_buffer ? 1e-4 : 5e-4, 1e-2))
            bad++;
        compared++;
        am_tensor_free(&want);
    }
    CHECK(compared == 19 && bad == 0, "%d of %d %s-run tensors differ from PyTorch", bad, compared, tag);
    am_tensor_free(&want_loss);
    am_adam_free(&adam);
    am_byol_free(b);
    am_st_free(&fx);
}

static void test_symmetric_reference(void) { symmetric_reference("sym", 0); }

/* Local views' shapes are checked; without local views the step is am_byol_step's. */
static void test_multicrop_reference(void)
{
    symmetric_reference("mc", 1);
    am_byol *b = make_amm_byol_loss(8, 16, 1, AM_BYOL_LOSS_SYMMETRIC);
    if (!b) return;
    am_tensor v1, v2, bad;
    CHECK_OK(am_tensor_alloc4(&v1, 2, 1, 16, 16));
    CHECK_OK(am_tensor_alloc4(&v2, 2, 1, 16, 16));
    CHECK_OK(am_tensor_alloc4(&bad, 3, 1, 8, 8));
    for (int64_t i = 0; i < am_tensor_numel(&v1); i++) v1.data[i] = (float)(i % 7), v2.data[i] = (float)(i % 5);
    for (int64_t i = 0; i < am_tensor_numel(&bad); i++) bad.data[i] = 1;
    am_byol_set_mode(b, AM_MODE_TRAIN);
    double loss = 0;
    CHECK_FAILS(am_byol_step_multi(b, &v1, &v2, &bad, 1.0f, &loss), AM_ERR_SHAPE, "local views must be");
    am_tensor_free(&v1), am_tensor_free(&v2), am_tensor_free(&bad);
    am_byol_free(b);
}

static void test_cosine_gradient(void)
{
    const int n = 3, d = 5;
    float x[15], y[15], g[15], l[3], lp[3], lm[3];
    for (int i = 0; i < n * d; i++) x[i] = (float)sin(1.3 * i + 0.2), y[i] = (float)cos(0.7 * i);
    CHECK_OK(am_byol_cosine_loss(x, y, n, d, l, g, NULL));
    for (int i = 0; i < n; i++) CHECK(l[i] >= 0 && l[i] <= 4, "2 - 2cos is in [0, 4]: %g", l[i]);
    double worst = 0;
    for (int i = 0; i < n * d; i++) {
        float keep = x[i];
        x[i] = keep + 1e-3f;
        am_byol_cosine_loss(x, y, n, d, lp, NULL, NULL);
        x[i] = keep - 1e-3f;
        am_byol_cosine_loss(x, y, n, d, lm, NULL, NULL);
        x[i] = keep;
        double fd = (lp[i / d] - lm[i / d]) / 2e-3;
        worst = fmax(worst, fabs(fd - g[i]));
    }
    CHECK(worst < 2e-3, "cosine loss gradient vs finite differences: %g", worst);
    CHECK_OK(am_byol_cosine_loss(x, x, 1, d, l, NULL, NULL));
    CHECK(fabs(l[0]) < 1e-6, "loss of a vector with itself is 0: %g", l[0]);
}

/* The spread penalty: an analytic case, and its gradient against central differences. The step
 * h = 2^-10 is added to floats below 2 exactly, and the penalty is summed in double, so the
 * differences' error is the truncation h^2/6 |V^(3)|, about 2e-7 for third derivatives up to 1
 * (columns with spread 0.3 to 3): 1e-5 leaves room, and a wrong term is off by its own size. */
static void test_spread_penalty(void)
{
    double pen;
    const float two[2] = {0.0f, 0.5f}; /* var = 0.125, s = sqrt(0.125 + 1e-4) */
    CHECK_OK(am_byol_spread_penalty(two, 2, 1, 1.0, 0.0, &pen, NULL));
    CHECK(fabs(pen - (1 - sqrt(0.125 + 1e-4))) < 1e-12, "V of two values: %.15g", pen);
    enum { N = 6, F = 4 };
    float y[N * F], g[N * F];
    const double col_scale[F] = {0.3, 0.8, 1.7, 3.0}; /* two columns inside the hinge, two beyond */
    for (int i = 0; i < N; i++)
        for (int j = 0; j < F; j++)
            y[i * F + j] = (float)(col_scale[j] * sin(1.1 * i + 0.7 * j) + 0.2 * cos(2.3 * i * j));
    const double wv = 1.0, wc = 0.5;
    CHECK_OK(am_byol_spread_penalty(y, N, F, wv, wc, &pen, g));
    CHECK(pen > 0, "a spread penalty on columns with std 0.3 and 0.8 and correlated columns: %g", pen);
    const float h = 1.0f / 1024;
    double worst = 0, largest = 0;
    for (int k = 0; k < N * F; k++) {
        float keep = y[k];
        double up, down;
        y[k] = keep + h;
        am_byol_spread_penalty(y, N, F, wv, wc, &up, NULL);
        y[k] = keep - h;
        am_byol_spread_penalty(y, N, F, wv, wc, &down, NULL);
        y[k] = keep;
        worst = fmax(worst, fabs((up - down) / (2.0 * h) - g[k]));
        largest = fmax(largest, fabs(g[k]));
    }
    CHECK(worst < 1e-5 && largest > 1e-2, "spread penalty gradient vs central differences: %g (largest %g)", worst,
          largest);
    CHECK_OK(am_byol_spread_penalty(y, N, F, 0.0, 0.0, &pen, g));
    CHECK(pen == 0 && g[0] == 0 && g[N * F - 1] == 0, "no weights, no penalty");
}

static void fill_views(am_tensor *v1, am_tensor *v2, int h, int w)
{
    am_tensor_alloc4(v1, 4, 1, h, w);
    am_tensor_alloc4(v2, 4, 1, h, w);
    for (int64_t i = 0; i < am_tensor_numel(v1); i++) {
        v1->data[i] = (float)(0.5 + 0.5 * sin(0.37 * (double)i));
        v2->data[i] = (float)(0.5 + 0.5 * cos(0.11 * (double)i));
    }
}

static void test_symmetric_and_momentum(void)
{
    am_byol *b = make_amm_byol(8, 16, 3);
    if (!b) return;
    am_tensor v1, v2;
    fill_views(&v1, &v2, 24, 30);
    /* In EVAL mode samples are independent, so the symmetric loss is the sum of both directions. */
    am_byol_set_mode(b, AM_MODE_EVAL);
    double l12, l21, sym;
    CHECK_OK(am_byol_step(b, &v1, &v2, 0.0f, &l12));
    CHECK_OK(am_byol_step(b, &v2, &v1, 0.0f, &l21));
    am_byol *c = NULL;
    am_net *copy = NULL;
    CHECK_OK(am_net_clone(&copy, am_byol_network(b)));
    am_byol_options so = *am_byol_get_options(b);
    so.loss = AM_BYOL_LOSS_SYMMETRIC;
    CHECK_OK(am_byol_create(&c, copy, &so)); /* same seed: same projector and predictor */
    am_byol_set_mode(c, AM_MODE_EVAL);
    CHECK_OK(am_byol_step(c, &v1, &v2, 0.0f, &sym));
    CHECK(fabs(sym - (l12 + l21)) < 1e-5 * fabs(sym), "symmetric %g vs %g + %g", sym, l12, l21);
    am_byol_free(c);

    /* With the spread penalty the step's loss is BYOL's plus the penalty of the embeddings of
     * that forward (eval mode: am_byol_embed gives the same embeddings). */
    CHECK_OK(am_net_clone(&copy, am_byol_network(b)));
    so = *am_byol_get_options(b);
    so.variance_weight = 1.0, so.covariance_weight = 0.04;
    CHECK_OK(am_byol_create(&c, copy, &so));
    am_byol_set_mode(c, AM_MODE_EVAL);
    double with, pen;
    am_tensor e = {0};
    CHECK_OK(am_byol_step(c, &v1, &v2, 0.0f, &with));
    CHECK_OK(am_byol_embed(c, &v1, &e));
    CHECK_OK(am_byol_spread_penalty(e.data, e.shape[0], e.shape[1], 1.0, 0.04, &pen, NULL));
    CHECK(pen > 0 && fabs(with - (l12 + pen)) < 1e-5 * with, "loss with the penalty %g = %g + %g", with, l12, pen);
    am_tensor_free(&e);
    am_byol_free(c);

    /* Without momentum the target is the online encoder: update_target changes nothing. */
    am_byol_options o = *am_byol_get_options(b);
    am_model_spec spec = {"amm", NULL, 1, AM_POOLING_AVERAGE, 1};
    am_net *net = NULL;
    CHECK_OK(am_model_create(&net, &spec, 5));
    o.use_momentum = 0;
    o.hidden_layer = "avgpool";
    am_byol *nm = NULL;
    CHECK_OK(am_byol_create(&nm, net, &o));
    if (nm) {
        const char *name;
        size_t last = am_byol_state_count(nm) - 1;
        am_param *tp = am_byol_state(nm, last, &name);
        CHECK(strncmp(name, "target_encoder.projector.", 25) == 0, "last state tensor is the target's: %s", name);
        float before = tp->value.data[0];
        am_byol_set_mode(nm, AM_MODE_TRAIN);
        double l;
        CHECK_OK(am_byol_step(nm, &v1, &v2, 1.0f, &l));
        /* A grad flows into the online projector but never into the unused target copy. */
        int moved = 0;
        for (size_t i = 0; i < am_byol_param_count(nm); i++) {
            am_param *p = am_byol_param(nm, i);
            for (int64_t j = 0; j < am_tensor_numel(&p->grad) && !moved; j++) moved = p->grad.data[j] != 0;
        }
        CHECK(moved, "online parameters got gradients");
        am_byol_update_target(nm);
        CHECK(tp->value.data[0] == before, "use_momentum = false leaves the target alone");
        am_byol_free(nm);
    }
    /* A single sample cannot be batch-normalised in TRAIN mode: a clear error. */
    am_tensor one;
    am_tensor_alloc4(&one, 1, 1, 16, 16);
    double l;
    am_byol_set_mode(b, AM_MODE_TRAIN);
    CHECK_FAILS(am_byol_step(b, &one, &one, 1.0f, &l), AM_ERR_SHAPE, "at least 2");
    am_tensor_free(&one);
    am_tensor_free(&v1), am_tensor_free(&v2);
    am_byol_free(b);
}

/* Replicas read the master's values: a step gives the deep clone's loss, gradients and
 * statistics; with shared gradients they land in the master's; EMA moves reach the replica. */
static void test_replicas(void)
{
    am_byol *b = make_amm_byol(8, 16, 4), *deep = NULL, *rep = NULL, *rep0 = NULL;
    if (!b) return;
    am_tensor v1, v2;
    fill_views(&v1, &v2, 20, 26);
    am_byol_set_mode(b, AM_MODE_TRAIN);
    CHECK_OK(am_byol_clone(&deep, b));
    CHECK_OK(am_byol_replica(&rep, b, 0));
    CHECK_OK(am_byol_replica(&rep0, b, 1));
    if (!deep || !rep || !rep0) goto out;
    for (int round = 0; round < 2; round++) {
        double ld, lr, l0;
        am_byol_zero_grad(deep), am_byol_zero_grad(rep), am_byol_zero_grad(b);
        CHECK_OK(am_byol_step(deep, &v1, &v2, 1.0f, &ld));
        CHECK_OK(am_byol_step(rep, &v1, &v2, 1.0f, &lr));
        CHECK_OK(am_byol_step(rep0, &v1, &v2, 1.0f, &l0));
        CHECK(ld == lr && ld == l0, "round %d: losses %.9g / %.9g / %.9g", round, ld, lr, l0);
        for (size_t i = 0; i < am_byol_param_count(b); i++) {
            am_param *pd = am_byol_param(deep, i), *pr = am_byol_param(rep, i), *pm = am_byol_param(b, i);
            int64_t n = am_tensor_numel(&pd->grad);
            am_test_close(pd->name, pr->grad.data, pd->grad.data, n, 1e-6, 1e-9);
            am_test_close(pd->name, pm->grad.data, pd->grad.data, n, 1e-6, 1e-9);
        }
        /* Move the master (and the clone the same way): the replicas see it at the next step. */
        for (size_t i = 0; i < am_byol_param_count(b); i++) {
            am_param *pm = am_byol_param(b, i), *pd = am_byol_param(deep, i);
            for (int64_t j = 0; j < am_tensor_numel(&pm->value); j++)
                pm->value.data[j] -= 0.1f * pm->grad.data[j], pd->value.data[j] -= 0.1f * pd->grad.data[j];
        }
        am_byol_params_changed(b), am_byol_params_changed(deep);
        am_byol_update_target(b), am_byol_update_target(deep);
        CHECK_OK(am_byol_copy_state(rep, b)); /* the BatchNorm statistics */
        CHECK_OK(am_byol_copy_state(rep0, b));
        CHECK_OK(am_byol_copy_state(deep, b));
    }
    /* The target has no gradient buffers, anywhere. */
    for (size_t i = 0; i < am_byol_state_count(rep); i++) {
        const char *name;
        am_param *p = am_byol_state(rep, i, &name);
        if (strncmp(name, "target_", 7) == 0) CHECK(p->grad.data == NULL, "%s has no gradient", name);
    }
out:
    am_byol_free(rep), am_byol_free(rep0), am_byol_free(deep), am_byol_free(b);
    am_tensor_free(&v1), am_tensor_free(&v2);
}

static void test_model_file(void)
{
    am_byol *b = make_amm_byol(8, 16, 7);
    if (!b) return;
    /* Move the state away from its initialisation, buffers included. */
    am_tensor v1, v2;
    fill_views(&v1, &v2, 20, 20);
    double l;
    am_byol_set_mode(b, AM_MODE_TRAIN);
    CHECK_OK(am_byol_step(b, &v1, &v2, 1.0f, &l));
    am_byol_update_target(b);
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", am_test_tmpdir());
    const char *keys[] = {"network_name", "stacksize"}, *vals[] = {"amm", "1"};
    CHECK_OK(am_byol_save(b, path, keys, vals, 2));

    am_safetensors st;
    CHECK_OK(am_st_read(&st, path));
    CHECK(am_st_find(&st, "online_encoder.network.layer2.4.running_var") != NULL, "original's names");
    CHECK(am_st_find(&st, "online_predictor.model.3.weight") != NULL, "predictor name");
    CHECK(am_st_find(&st, "target_encoder.projector.model.1.num_batches_tracked") != NULL, "target name");
    const am_st_entry *e = am_st_find(&st, "online_encoder.network.bn1.num_batches_tracked");
    CHECK(e && e->dtype == AM_DT_I64, "num_batches_tracked is int64");
    CHECK(am_st_meta(&st, "network_name") && strcmp(am_st_meta(&st, "network_name"), "amm") == 0, "extra metadata");
    am_byol_options o;
    am_byol_options_default(&o);
    CHECK_OK(am_byol_options_from_file(&o, &st));
    CHECK(o.projection_size == 8 && o.projection_hidden_size == 16 && o.representation_size == 128 &&
              strcmp(o.hidden_layer, "avgpool") == 0 && o.use_momentum == 1 && o.moving_average_decay == 0.99,
          "options read back");
    am_model_spec spec = {"amm", NULL, 1, AM_POOLING_AVERAGE, 1};
    am_net *net = NULL;
    CHECK_OK(am_model_create(&net, &spec, 99));
    am_byol *c = NULL;
    CHECK_OK(am_byol_create(&c, net, &o));
    am_st_free(&st);
    if (c) {
        CHECK_OK(am_byol_load(c, path));
        int equal = am_byol_state_count(c) == am_byol_state_count(b);
        for (size_t i = 0; equal && i < am_byol_state_count(b); i++) {
            am_param *p = am_byol_state(b, i, NULL), *q = am_byol_state(c, i, NULL);
            equal = memcmp(p->value.data, q->value.data, (size_t)am_tensor_numel(&p->value) * sizeof(float)) == 0;
        }
        CHECK(equal, "the model file restores every tensor exactly");
        am_byol_free(c);
    }
    /* A model of other sizes does not load silently. */
    am_byol *other = make_amm_byol(16, 16, 1);
    if (other) {
        CHECK_FAILS(am_byol_load(other, path), AM_ERR_SHAPE, "online_encoder.projector.model.3.weight");
        am_byol_free(other);
    }
    am_tensor_free(&v1), am_tensor_free(&v2);
    am_byol_free(b);
}

static void test_bad_layer(void)
{
    am_model_spec spec = {"amm", NULL, 1, AM_POOLING_AVERAGE, 1};
    am_net *net = NULL;
    CHECK_OK(am_model_create(&net, &spec, 1));
    am_byol_options o;
    am_byol_options_default(&o);
    o.hidden_layer = "layer9";
    am_byol *b = NULL;
    CHECK_FAILS(am_byol_create(&b, net, &o), AM_ERR_NOTFOUND, "layer9");
    CHECK(b == NULL, "no object on failure");
}

int main(void)
{
    test_replicas();
    test_cosine_gradient();
    test_spread_penalty();
    test_reference_run();
    test_symmetric_reference();
    test_multicrop_reference();
    test_symmetric_and_momentum();
    test_model_file();
    test_bad_layer();
    return am_test_finish();
}
