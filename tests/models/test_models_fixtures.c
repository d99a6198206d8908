/* n_layer_resnet and amm against PyTorch (tools/fixtures/models.py): whole-network output, the
 * avgpool embedding, every parameter gradient (as 8 hash projections; the first and last layers,
 * a downsample branch and BatchNorm parameters in full), the input gradient and, in train mode,
 * the running statistics, at 37x53, 100x100, 150x64, with 1 and 3 channels, train and eval.
 *
 * The references are PyTorch's float64 results. Tolerances, relative to the largest element of the
 * reference tensor: outputs, embeddings and running statistics 1e-4, gradients 1e-3; or, where
 * PyTorch's own float32 result is further than that from float64 (train-mode BatchNorm over a few
 * pixels divides by small variances; a conv bias before train-mode BatchNorm has a zero gradient,
 * so both give rounding noise), 10x PyTorch's float32 error. Added to that, the fixture's
 * "flipbound": among ~10^5 values per layer a few ReLU inputs lie closer to 0 than float32 decides (2e-6
 * relative, or PyTorch's own float32 error of that layer's input where larger: 5e-6 at layer4) and
 * a few 3x3 max-pool windows hold two inputs that close, nearer than float32 decides reliably; a
 * correct float32 network may decide them the other way, which moves upstream gradients by at
 * most this (computed exactly in float64 by tools/fixtures/models.py). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "astromorph/models.h"
#include "model_fixture.h"
#include "test_util.h"

#define RTOL_OUT 1e-4
#define RTOL_GRAD 1e-3
#define K_TORCH 10.0

/* Worst |diff| / scale seen per kind, and worst |diff| / PyTorch's own float32 error, printed at
 * the end (the numbers behind the tolerances). */
static double worst_out, worst_grad, worst_vs_torch;
static int ill_conditioned, flip_used;
static double worst_flip;

static void compare(const char *what, const float *got, int64_t n, const am_safetensors *st, const char *key,
                    double rtol, double *worst)
{
    am_tensor want, err = {0}, flip = {0};
    char errkey[320];
    am_test_fixture_tensor(st, key, &want);
    /* Integer buffers (num_batches_tracked) are exact: no float32 error recorded. */
    snprintf(errkey, sizeof errkey, "%s.fp32err", key);
    if (am_st_find(st, errkey)) am_test_fixture_tensor(st, errkey, &err);
    snprintf(errkey, sizeof errkey, "%s.flipbound", key);
    if (am_st_find(st, errkey)) am_test_fixture_tensor(st, errkey, &flip);
    if (am_tensor_numel(&want) != n) {
        CHECK(0, "%s: %lld elements, fixture %s has %lld", what, (long long)n, key, (long long)am_tensor_numel(&want));
    } else {
        double scale = 1e-6, diff = 0, torch_err = err.data ? err.data[0] : 0.0, flips = flip.data ? flip.data[0] : 0.0;
        for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)want.data[i]));
        for (int64_t i = 0; i < n; i++) diff = fmax(diff, fabs((double)got[i] - (double)want.data[i]));
        /* Within rtol of the tensor's scale, or within K_TORCH x PyTorch's float32 error where
         * float32 itself cannot do better (ill-conditioned BatchNorm); plus what ReLU / max-pool
         * decisions closer than float32 resolves could change. */
        am_test_close(what, got, want.data, n, (fmax(rtol * scale, K_TORCH * torch_err) + flips) / scale, 1e-6);
        if (torch_err > rtol * scale) worst_vs_torch = fmax(worst_vs_torch, diff / torch_err), ill_conditioned++;
        else if (diff > rtol * scale)
            flip_used++, worst_flip = fmax(worst_flip, flips > 0 ? (diff - rtol * scale) / flips : INFINITY);
        else *worst = fmax(*worst, diff / scale);
    }
    am_tensor_free(&want);
    am_tensor_free(&err);
    am_tensor_free(&flip);
}

static void compare_proj(const char *what, const float *got, int64_t n, const am_safetensors *st, const char *key,
                         double rtol, double *worst)
{
    float p[AM_FIX_PROJECTIONS];
    fix_projections(got, n, p);
    compare(what, p, AM_FIX_PROJECTIONS, st, key, rtol, worst);
}

static void set_weights(am_net *net, const am_safetensors *st, const char *network, int channels)
{
    char salt[32];
    snprintf(salt, sizeof salt, "c%d.", channels);
    if (strcmp(network, "amm") == 0) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "c%d.weights.", channels);
        CHECK_OK(am_net_load_state(net, st, prefix, AM_STATE_STRICT));
        return;
    }
    size_t n = am_net_param_count(net);
    for (size_t i = 0; i < n; i++) fix_hash_param(am_net_param(net, i), salt);
    am_net_params_changed(net);
}

static void run_case(am_net *net, const am_safetensors *st, const char *network, int channels, const char *size,
                     am_mode mode)
{
    char key[256], tag[96], what[320];
    const char *mname = mode == AM_MODE_TRAIN ? "train" : "eval";
    snprintf(tag, sizeof tag, "c%d.%s.%s", channels, size, mname);
    set_weights(net, st, network, channels);
    am_net_set_mode(net, mode);
    am_net_zero_grad(net);

    am_tensor img, x, dy, y = {0}, emb = {0};
    snprintf(key, sizeof key, "c%d.%s.image", channels, size);
    am_test_fixture_tensor(st, key, &img);
    snprintf(key, sizeof key, "c%d.%s.dy", channels, size);
    am_test_fixture_tensor(st, key, &dy);
    CHECK_OK(fix_d2_batch(&img, &x));

    CHECK_OK(am_net_forward(net, &x, NULL, &y));
    snprintf(key, sizeof key, "%s.out", tag);
    snprintf(what, sizeof what, "%s %s output", network, tag);
    compare(what, y.data, am_tensor_numel(&y), st, key, RTOL_OUT, &worst_out);

    CHECK_OK(am_net_backward(net, &dy));
    size_t n = am_net_param_count(net);
    for (size_t i = 0; i < n; i++) {
        am_param *p = am_net_param(net, i);
        int64_t count = am_tensor_numel(&p->value);
        if (!p->is_buffer) {
            snprintf(key, sizeof key, "%s.proj.grad.%s", tag, p->name);
            snprintf(what, sizeof what, "%s %s grad %s (projections)", network, tag, p->name);
            compare_proj(what, p->grad.data, count, st, key, RTOL_GRAD, &worst_grad);
            snprintf(key, sizeof key, "%s.grad.%s", tag, p->name);
            snprintf(what, sizeof what, "%s %s grad %s", network, tag, p->name);
            if (am_st_find(st, key)) compare(what, p->grad.data, count, st, key, RTOL_GRAD, &worst_grad);
            continue;
        }
        if (mode != AM_MODE_TRAIN) continue;
        snprintf(key, sizeof key, "%s.buffer.%s", tag, p->name);
        snprintf(what, sizeof what, "%s %s %s after one step", network, tag, p->name);
        if (am_st_find(st, key)) compare(what, p->value.data, count, st, key, RTOL_OUT, &worst_out);
        if (p->is_integer) continue;
        snprintf(key, sizeof key, "%s.proj.buffer.%s", tag, p->name);
        compare_proj(what, p->value.data, count, st, key, RTOL_OUT, &worst_out);
    }
    const am_tensor *dx = am_net_input_grad(net);
    CHECK(dx && am_tensor_same_shape(dx, &x), "%s %s: input gradient missing or of the wrong shape", network, tag);
    if (dx && am_tensor_same_shape(dx, &x)) {
        snprintf(key, sizeof key, "%s.proj.input_grad", tag);
        snprintf(what, sizeof what, "%s %s input gradient (projections)", network, tag);
        compare_proj(what, dx->data, am_tensor_numel(dx), st, key, RTOL_GRAD, &worst_grad);
    }

    /* The embedding: in train mode the batch statistics, not the running ones, decide it. */
    CHECK_OK(am_net_forward(net, &x, AM_MODEL_HIDDEN_LAYER, &emb));
    snprintf(key, sizeof key, "%s.emb", tag);
    snprintf(what, sizeof what, "%s %s embedding", network, tag);
    compare(what, emb.data, am_tensor_numel(&emb), st, key, RTOL_OUT, &worst_out);

    am_tensor_free(&img);
    am_tensor_free(&x);
    am_tensor_free(&dy);
    am_tensor_free(&y);
    am_tensor_free(&emb);
}

static void run_network(const char *network, const char *fixture)
{
    static const char *const sizes[] = {"37x53", "100x100", "150x64"};
    am_safetensors st;
    am_test_fixture(&st, fixture);
    for (int channels = 1; channels <= 3; channels += 2) {
        am_model_spec spec = {network, "layer4", channels, AM_POOLING_AVERAGE, 1};
        am_net *net = NULL;
        CHECK_OK(am_model_create(&net, &spec, 7));
        if (!net) continue;
        for (int s = 0; s < 3; s++) {
            run_case(net, &st, network, channels, sizes[s], AM_MODE_TRAIN);
            run_case(net, &st, network, channels, sizes[s], AM_MODE_EVAL);
        }
        am_net_free(net);
    }
    am_st_free(&st);
}

int main(void)
{
    run_network("amm", "models_amm");
    run_network("n_layer_resnet", "models_resnet");
    printf("worst error relative to scale: outputs/embeddings/running stats %.2e (tolerance %.0e), gradients %.2e "
           "(tolerance %.0e); %d ill-conditioned tensors (PyTorch float32 off by more): worst error / PyTorch's %.2f "
           "(tolerance %.0f); %d beyond rtol only by ReLU/max-pool decisions, using at most %.0f%% of their bound\n",
           worst_out, RTOL_OUT, worst_grad, RTOL_GRAD, ill_conditioned, worst_vs_torch, K_TORCH, flip_used,
           100 * worst_flip);
    return am_test_finish();
}
