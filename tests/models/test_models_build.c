/* Network structure (names, shapes and order of PyTorch's state dict), amm's width multiplier,
 * settings errors, and PyTorch's initialisation statistics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/models.h"
#include "test_util.h"

/* Compares the network's parameters and buffers with "name=AxBxC,..." written by PyTorch. */
static void check_names(am_net *net, const char *expected, const char *what)
{
    char *list = strdup(expected), *save = NULL, buf[128];
    size_t i = 0, n = am_net_param_count(net);
    for (char *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save), i++) {
        char *eq = strchr(item, '=');
        *eq = '\0';
        if (i >= n) {
            CHECK(0, "%s: network lacks '%s' (has %zu tensors)", what, item, n);
            break;
        }
        am_param *p = am_net_param(net, i);
        const char *shape = p->value.ndim == 0 || (p->is_integer && am_tensor_numel(&p->value) == 1)
                                ? "scalar"
                                : am_tensor_shape_str(&p->value, buf, sizeof buf);
        CHECK(strcmp(p->name, item) == 0, "%s: tensor %zu is '%s', PyTorch has '%s'", what, i, p->name, item);
        CHECK(strcmp(shape, eq + 1) == 0, "%s: '%s' has shape %s, PyTorch %s", what, item, shape, eq + 1);
        CHECK(p->is_buffer == (strstr(item, "running_") != NULL || strstr(item, "num_batches") != NULL),
              "%s: '%s' buffer flag", what, item);
    }
    CHECK(i == n, "%s: network has %zu tensors, PyTorch %zu", what, n, i);
    free(list);
}

static void test_structure(void)
{
    am_safetensors res, amm;
    am_test_fixture(&res, "models_resnet");
    am_test_fixture(&amm, "models_amm");
    struct {
        const am_safetensors *st;
        const char *network, *last, *key;
        int channels, dim;
    } cases[] = {
        {&amm, "amm", NULL, "state_dict.c1", 1, 128},
        {&amm, "amm", NULL, "state_dict.c3", 3, 128},
        {&res, "n_layer_resnet", "layer4", "state_dict.c1", 1, 512},
        {&res, "n_layer_resnet", NULL, "state_dict.c3", 3, 512},
        {&res, "n_layer_resnet", "layer1", "state_dict.layer1", 2, 64},
        {&res, "n_layer_resnet", "layer2", "state_dict.layer2", 2, 128},
        {&res, "n_layer_resnet", "layer3", "state_dict.layer3", 2, 256},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        am_model_spec spec = {cases[c].network, cases[c].last, cases[c].channels, AM_POOLING_AVERAGE, 1};
        char what[96];
        snprintf(what, sizeof what, "%s %s C=%d", spec.network_name, spec.last_layer ? spec.last_layer : "",
                 spec.in_channels);
        int dim = 0;
        CHECK_OK(am_model_embedding_dim(&spec, &dim));
        CHECK(dim == cases[c].dim, "%s: embedding dim %d, want %d", what, dim, cases[c].dim);
        am_net *net = NULL;
        CHECK_OK(am_model_create(&net, &spec, 1));
        if (!net) continue;
        const char *expected = am_st_meta(cases[c].st, cases[c].key);
        CHECK(expected != NULL, "fixture lacks %s", cases[c].key);
        if (expected) check_names(net, expected, what);
        CHECK(am_net_find_module(net, AM_MODEL_HIDDEN_LAYER) != NULL, "%s: no avgpool", what);
        am_net_free(net);
    }
    am_st_free(&res);
    am_st_free(&amm);
}

/* A parameter's shape as "AxBxC" ("-" when the network lacks it). */
static const char *param_shape(am_net *net, const char *name, char *buf, size_t size)
{
    am_param *p = am_net_find_param(net, name);
    return p ? am_tensor_shape_str(&p->value, buf, size) : "-";
}

/* amm_width multiplies every channel count but the fc's 64 outputs, under the same names; width 1
 * (and 0, a spec from before the width) is the original's network. */
static void test_amm_width(void)
{
    const struct {
        int width, features;
        const char *conv1, *layer2_3, *fc;
    } cases[] = {
        {0, 128, "32x1x7x7", "128x64x3x3", "64x128"},
        {1, 128, "32x1x7x7", "128x64x3x3", "64x128"},
        {2, 256, "64x1x7x7", "256x128x3x3", "64x256"},
        {4, 512, "128x1x7x7", "512x256x3x3", "64x512"},
    };
    am_tensor x;
    CHECK_OK(am_tensor_alloc4(&x, 1, 1, 64, 64));
    for (int64_t i = 0; i < am_tensor_numel(&x); i++) x.data[i] = (float)(0.5 + 0.5 * sin(0.13 * (double)i));
    size_t tensors_at_1 = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        am_model_spec spec = {.network_name = "amm", .in_channels = 1, .amm_width = cases[c].width};
        int w = cases[c].width, dim = 0;
        CHECK_OK(am_model_embedding_dim(&spec, &dim));
        CHECK(dim == cases[c].features, "amm_width %d: embedding dim %d, want %d", w, dim, cases[c].features);
        am_net *net = NULL;
        CHECK_OK(am_model_create(&net, &spec, 5));
        if (!net) continue;
        char buf[64];
        const char *got = param_shape(net, "conv1.weight", buf, sizeof buf);
        CHECK(!strcmp(got, cases[c].conv1), "amm_width %d: conv1.weight %s, want %s", w, got, cases[c].conv1);
        got = param_shape(net, "layer2.3.weight", buf, sizeof buf);
        CHECK(!strcmp(got, cases[c].layer2_3), "amm_width %d: layer2.3.weight %s, want %s", w, got, cases[c].layer2_3);
        got = param_shape(net, "fc.weight", buf, sizeof buf);
        CHECK(!strcmp(got, cases[c].fc), "amm_width %d: fc.weight %s, want %s", w, got, cases[c].fc);
        /* the same tensors, by name, at every width */
        if (w <= 1) tensors_at_1 = am_net_param_count(net);
        CHECK(am_net_param_count(net) == tensors_at_1, "amm_width %d: %zu tensors, width 1 has %zu", w,
              am_net_param_count(net), tensors_at_1);
        am_net_set_mode(net, AM_MODE_EVAL);
        am_tensor pooled = {0}, out = {0};
        CHECK_OK(am_net_forward(net, &x, AM_MODEL_HIDDEN_LAYER, &pooled));
        CHECK_OK(am_net_forward(net, &x, NULL, &out));
        CHECK(am_tensor_numel(&pooled) == cases[c].features && am_tensor_numel(&out) == AM_MODEL_OUTPUT_DIM,
              "amm_width %d on 1x1x64x64: %lld features at avgpool (want %d), %lld at fc (want %d)", w,
              (long long)am_tensor_numel(&pooled), cases[c].features, (long long)am_tensor_numel(&out),
              AM_MODEL_OUTPUT_DIM);
        am_tensor_free(&pooled), am_tensor_free(&out);
        am_net_free(net);
    }
    am_tensor_free(&x);
    am_net *net = NULL;
    am_model_spec wide = {.network_name = "amm", .in_channels = 1, .amm_width = AM_AMM_WIDTH_MAX + 1},
                  negative = {.network_name = "amm", .in_channels = 1, .amm_width = -1},
                  resnet = {.network_name = "n_layer_resnet", .in_channels = 3, .amm_width = 2};
    CHECK_FAILS(am_model_create(&net, &wide, 1), AM_ERR_VALUE, "network_settings.amm_width: 5 (expected 1 to 4)");
    CHECK_FAILS(am_model_check(&negative), AM_ERR_VALUE, "network_settings.amm_width: -1");
    CHECK_FAILS(am_model_create(&net, &resnet, 1), AM_ERR_VALUE,
                "network_settings.amm_width: 2 widens amm only, not n_layer_resnet");
    CHECK(net == NULL, "no network for a bad width");
}

static void test_spec_errors(void)
{
    am_net *net = NULL;
    am_model_spec bad_name = {"resnet50", NULL, 1, AM_POOLING_AVERAGE, 1},
                  bad_last = {"n_layer_resnet", "layer5", 1, AM_POOLING_AVERAGE, 1},
                  bad_ch = {"amm", NULL, 0, AM_POOLING_AVERAGE, 1}, none = {NULL, NULL, 1, AM_POOLING_AVERAGE, 1};
    CHECK_FAILS(am_model_create(&net, &bad_name, 1), AM_ERR_VALUE, "resnet50");
    CHECK(net == NULL, "no network on error");
    CHECK_FAILS(am_model_create(&net, &bad_last, 1), AM_ERR_VALUE, "layer5");
    CHECK_FAILS(am_model_create(&net, &bad_ch, 1), AM_ERR_VALUE, "channels");
    CHECK_FAILS(am_model_check(&none), AM_ERR_VALUE, "network_name");
    int dim = 0;
    CHECK_FAILS(am_model_embedding_dim(&bad_last, &dim), AM_ERR_VALUE, "last_layer");
}

/* Mean and standard deviation of a parameter's values. */
static void moments(const am_param *p, double *mean, double *sd, double *absmax)
{
    int64_t n = am_tensor_numel(&p->value);
    double s = 0, s2 = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = p->value.data[i];
        s += v, s2 += v * v, m = fmax(m, fabs(v));
    }
    *mean = s / (double)n;
    *sd = sqrt(fmax(s2 / (double)n - *mean * *mean, 0));
    *absmax = m;
}

static void check_param(am_net *net, const char *name, double want_mean, double want_sd, double bound)
{
    am_param *p = am_net_find_param(net, name);
    CHECK(p != NULL, "no parameter %s", name);
    if (!p) return;
    double mean, sd, absmax;
    moments(p, &mean, &sd, &absmax);
    double n = (double)am_tensor_numel(&p->value);
    /* A few standard errors of the sample mean and sd. */
    double tol = want_sd > 0 ? 5 * want_sd / sqrt(n) + 1e-12 : 1e-12;
    CHECK(fabs(mean - want_mean) <= tol, "%s: mean %g, want %g +- %g", name, mean, want_mean, tol);
    CHECK(fabs(sd - want_sd) <= 5 * want_sd / sqrt(2 * n) + 1e-12, "%s: sd %g, want %g", name, sd, want_sd);
    if (bound > 0) CHECK(absmax <= bound, "%s: |value| up to %g beyond the bound %g", name, absmax, bound);
}

static void test_init(void)
{
    am_model_spec rs = {"n_layer_resnet", "layer4", 3, AM_POOLING_AVERAGE, 1},
                  as = {"amm", NULL, 2, AM_POOLING_AVERAGE, 1};
    am_net *r = NULL, *r2 = NULL, *r3 = NULL, *a = NULL;
    CHECK_OK(am_model_create(&r, &rs, 11));
    CHECK_OK(am_model_create(&r2, &rs, 11));
    CHECK_OK(am_model_create(&r3, &rs, 12));
    CHECK_OK(am_model_create(&a, &as, 11));
    if (!r || !r2 || !r3 || !a) return;
    /* torchvision: Kaiming normal, fan_out, gain sqrt(2): sd = sqrt(2 / (out k k)). */
    check_param(r, "conv1.weight", 0, sqrt(2.0 / (64 * 49)), 0);
    check_param(r, "layer3.1.conv2.weight", 0, sqrt(2.0 / (256 * 9)), 0);
    check_param(r, "layer4.0.downsample.0.weight", 0, sqrt(2.0 / 512), 0);
    check_param(r, "bn1.weight", 1, 0, 0);
    check_param(r, "layer2.0.bn2.bias", 0, 0, 0);
    check_param(r, "layer2.0.bn2.running_var", 1, 0, 0);
    /* Default Linear/Conv2d: Kaiming uniform a=sqrt(5): U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias alike. */
    check_param(r, "fc.weight", 0, 1 / sqrt(512.0) / sqrt(3.0), 1 / sqrt(512.0));
    check_param(a, "conv1.weight", 0, 1 / sqrt(2 * 49.0) / sqrt(3.0), 1 / sqrt(2 * 49.0));
    check_param(a, "layer2.3.weight", 0, 1 / sqrt(64 * 9.0) / sqrt(3.0), 1 / sqrt(64 * 9.0));
    check_param(a, "layer2.3.bias", 0, 1 / sqrt(64 * 9.0) / sqrt(3.0), 1 / sqrt(64 * 9.0));
    check_param(a, "fc.weight", 0, 1 / sqrt(128.0) / sqrt(3.0), 1 / sqrt(128.0));

    /* Same seed, same network; another seed, another. */
    int same = 1, differ = 0;
    for (size_t i = 0; i < am_net_param_count(r); i++) {
        am_param *p = am_net_param(r, i), *q = am_net_param(r2, i), *o = am_net_param(r3, i);
        int64_t n = am_tensor_numel(&p->value);
        same &= memcmp(p->value.data, q->value.data, (size_t)n * sizeof(float)) == 0;
        if (!p->is_buffer && p->value.ndim > 1)
            differ += memcmp(p->value.data, o->value.data, (size_t)n * sizeof(float)) != 0;
    }
    CHECK(same, "same seed gave different networks");
    CHECK(differ == 21, "another seed changed %d of the 21 conv/linear weights", differ);
    am_net_free(r);
    am_net_free(r2);
    am_net_free(r3);
    am_net_free(a);
}

int main(void)
{
    test_structure();
    test_amm_width();
    test_spec_errors();
    test_init();
    return am_test_finish();
}
