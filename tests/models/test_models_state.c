/* State dicts through safetensors: exact round trip with a prefix and metadata, clear errors for
 * missing / unexpected / misshapen tensors, and the pretrained ResNet18 start (conv1 adapted). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "astromorph/models.h"
#include "test_util.h"

#define PREFIX "online_encoder.network."

static am_net *make(const char *network, int channels, uint64_t seed)
{
    am_model_spec spec = {network, "layer4", channels, AM_POOLING_AVERAGE, 1};
    am_net *net = NULL;
    CHECK_OK(am_model_create(&net, &spec, seed));
    return net;
}

/* Gives every tensor distinct, non-default values (running stats and counters included). */
static void scramble(am_net *net, float salt)
{
    for (size_t i = 0; i < am_net_param_count(net); i++) {
        am_param *p = am_net_param(net, i);
        int64_t n = am_tensor_numel(&p->value);
        int var = strstr(p->name, "running_var") != NULL; /* must stay positive */
        for (int64_t k = 0; k < n; k++) {
            float v = salt * sinf((float)(k + 1) * 0.37f + (float)i);
            p->value.data[k] = p->is_integer ? (float)(i + 3) : var ? 1.0f + fabsf(v) : v;
        }
    }
    am_net_params_changed(net);
}

static int nets_equal(am_net *a, am_net *b)
{
    if (am_net_param_count(a) != am_net_param_count(b)) return 0;
    for (size_t i = 0; i < am_net_param_count(a); i++) {
        am_param *p = am_net_param(a, i), *q = am_net_param(b, i);
        if (!am_tensor_same_shape(&p->value, &q->value) ||
            memcmp(p->value.data, q->value.data, (size_t)am_tensor_numel(&p->value) * sizeof(float)))
            return 0;
    }
    return 1;
}

static void test_round_trip(void)
{
    const char *dir = am_test_tmpdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *networks[] = {"amm", "n_layer_resnet"};
    for (int k = 0; k < 2; k++) {
        am_net *a = make(networks[k], 2, 1), *b = make(networks[k], 2, 2);
        if (!a || !b) return;
        scramble(a, 0.5f);
        CHECK(!nets_equal(a, b), "%s: differently seeded nets must differ", networks[k]);
        am_st_writer *w = am_st_writer_new();
        CHECK_OK(am_net_save_state(a, w, PREFIX));
        CHECK_OK(am_st_writer_meta(w, "network_name", networks[k]));
        CHECK_OK(am_st_writer_meta(w, "channels", "2"));
        CHECK_OK(am_st_writer_write(w, path));
        am_st_writer_free(w);

        am_safetensors st;
        CHECK_OK(am_st_read(&st, path));
        CHECK(st.count == am_net_param_count(a), "%s: %zu tensors in the file, %zu in the net", networks[k], st.count,
              am_net_param_count(a));
        CHECK(am_st_meta(&st, "network_name") && strcmp(am_st_meta(&st, "network_name"), networks[k]) == 0,
              "metadata network_name lost");
        CHECK(am_st_meta(&st, "channels") && strcmp(am_st_meta(&st, "channels"), "2") == 0, "metadata channels lost");
        const am_st_entry *nbt = am_st_find(&st, PREFIX "bn1.num_batches_tracked");
        CHECK(nbt && nbt->dtype == AM_DT_I64 && nbt->ndim == 0, "num_batches_tracked must be a 0-d I64 tensor");
        CHECK_OK(am_net_load_state(b, &st, PREFIX, AM_STATE_STRICT));
        CHECK(nets_equal(a, b), "%s: loaded network differs from the saved one", networks[k]);
        /* Without the prefix nothing matches. */
        CHECK_FAILS(am_net_load_state(b, &st, "", AM_STATE_STRICT), AM_ERR_NOTFOUND, "'conv1.weight' missing");
        am_st_free(&st);

        am_net *c = make(networks[k], 2, 3);
        CHECK_OK(am_net_load_state_file(c, path, PREFIX, AM_STATE_STRICT));
        CHECK(c && nets_equal(a, c), "%s: am_net_load_state_file", networks[k]);
        am_net_free(a);
        am_net_free(b);
        am_net_free(c);
    }
    /* The single-network file helper, no prefix. */
    am_net *a = make("amm", 1, 4), *b = make("amm", 1, 5);
    const char *keys[] = {"network_name"}, *vals[] = {"amm"};
    CHECK_OK(am_net_save_state_file(a, path, keys, vals, 1));
    CHECK_OK(am_net_load_state_file(b, path, "", AM_STATE_STRICT));
    CHECK(nets_equal(a, b), "am_net_save_state_file round trip");
    am_net_free(a);
    am_net_free(b);
}

/* Writes the state of net under PREFIX, leaving out `skip` and adding `extra` (both may be NULL). */
static void write_variant(am_net *net, const char *path, const char *skip, const char *extra)
{
    am_st_writer *w = am_st_writer_new();
    char name[256];
    for (size_t i = 0; i < am_net_param_count(net); i++) {
        am_param *p = am_net_param(net, i);
        if (skip && strcmp(p->name, skip) == 0) continue;
        snprintf(name, sizeof name, PREFIX "%s", p->name);
        CHECK_OK(am_st_writer_add_f32(w, name, &p->value));
    }
    if (extra) {
        float v[3] = {1, 2, 3};
        int64_t shape[1] = {3};
        CHECK_OK(am_st_writer_add(w, extra, AM_DT_F32, 1, shape, v));
    }
    CHECK_OK(am_st_writer_write(w, path));
    am_st_writer_free(w);
}

static void test_errors(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/variant.safetensors", am_test_tmpdir());
    am_net *a = make("amm", 1, 1), *b = make("amm", 1, 2), *b0 = make("amm", 1, 2), *c3 = make("amm", 3, 1);
    if (!a || !b || !b0 || !c3) return;
    scramble(a, 0.25f);

    write_variant(a, path, "layer2.4.running_var", NULL);
    CHECK_FAILS(am_net_load_state_file(b, path, PREFIX, AM_STATE_STRICT), AM_ERR_NOTFOUND,
                "'" PREFIX "layer2.4.running_var' missing");
    CHECK_FAILS(am_net_load_state_file(b, path, PREFIX, AM_STATE_STRICT), AM_ERR_NOTFOUND, path);
    CHECK(nets_equal(b, b0), "a failed load must leave the network untouched");
    CHECK_OK(am_net_load_state_file(b, path, PREFIX, AM_STATE_ALLOW_MISSING));
    CHECK(am_net_find_param(b, "layer2.4.running_var")->value.data[0] ==
              am_net_find_param(b0, "layer2.4.running_var")->value.data[0],
          "an allowed missing tensor keeps its value");
    CHECK(am_net_find_param(b, "layer2.4.weight")->value.data[5] ==
              am_net_find_param(a, "layer2.4.weight")->value.data[5],
          "the others load");

    write_variant(a, path, NULL, PREFIX "layer3.0.weight");
    CHECK_FAILS(am_net_load_state_file(b, path, PREFIX, AM_STATE_STRICT), AM_ERR_FORMAT,
                "unexpected tensor '" PREFIX "layer3.0.weight'");
    CHECK_OK(am_net_load_state_file(b, path, PREFIX, AM_STATE_ALLOW_UNEXPECTED));
    CHECK(nets_equal(a, b), "unexpected tensors skipped, the rest loaded");
    /* Tensors outside the prefix are another network's business. */
    write_variant(a, path, NULL, "online_predictor.model.0.weight");
    CHECK_OK(am_net_load_state_file(b, path, PREFIX, AM_STATE_STRICT));

    /* 1-channel weights into a 3-channel network: both shapes named. */
    write_variant(a, path, NULL, NULL);
    CHECK_FAILS(am_net_load_state_file(c3, path, PREFIX, AM_STATE_STRICT), AM_ERR_SHAPE,
                "'" PREFIX "conv1.weight': file has shape 32x1x7x7, network expects 32x3x7x7");
    CHECK_FAILS(am_net_load_state_file(c3, path, PREFIX, AM_STATE_ALLOW_MISSING | AM_STATE_ALLOW_UNEXPECTED),
                AM_ERR_SHAPE, "32x1x7x7");
    CHECK_FAILS(am_net_load_state_file(b, "/nonexistent/model.safetensors", PREFIX, AM_STATE_STRICT), AM_ERR_IO,
                "/nonexistent/model.safetensors");
    am_net_free(a);
    am_net_free(b);
    am_net_free(b0);
    am_net_free(c3);
}

/* A torchvision-like ResNet18 state dict: our 3-channel layer4 net without its fc, plus
 * ImageNet's 1000-class fc. */
static void write_imagenet(am_net *src, const char *path)
{
    am_st_writer *w = am_st_writer_new();
    for (size_t i = 0; i < am_net_param_count(src); i++) {
        am_param *p = am_net_param(src, i);
        if (strncmp(p->name, "fc.", 3) == 0) continue;
        CHECK_OK(am_st_writer_add_f32(w, p->name, &p->value));
    }
    am_tensor fw, fb;
    CHECK_OK(am_tensor_alloc2(&fw, 1000, 512));
    int64_t nb = 1000;
    CHECK_OK(am_tensor_alloc(&fb, 1, &nb));
    CHECK_OK(am_st_writer_add_f32(w, "fc.weight", &fw));
    CHECK_OK(am_st_writer_add_f32(w, "fc.bias", &fb));
    CHECK_OK(am_st_writer_write(w, path));
    am_st_writer_free(w);
    am_tensor_free(&fw);
    am_tensor_free(&fb);
}

static void test_pretrained(void)
{
    char path[1024], ammpath[1024];
    snprintf(path, sizeof path, "%s/resnet18.safetensors", am_test_tmpdir());
    snprintf(ammpath, sizeof ammpath, "%s/amm.safetensors", am_test_tmpdir());
    am_net *imagenet = make("n_layer_resnet", 3, 99);
    if (!imagenet) return;
    scramble(imagenet, 0.1f);
    write_imagenet(imagenet, path);

    /* 3 channels, cut after layer2: everything up to layer2 loads as is, fc keeps its init. */
    am_model_spec s3 = {"n_layer_resnet", "layer2", 3, AM_POOLING_AVERAGE, 1};
    am_net *n3 = NULL;
    CHECK_OK(am_model_create(&n3, &s3, 5));
    float fc0 = am_net_find_param(n3, "fc.weight")->value.data[0];
    CHECK_OK(am_model_load_pretrained(n3, &s3, path));
    int same = 1;
    for (size_t i = 0; i < am_net_param_count(n3); i++) {
        am_param *p = am_net_param(n3, i);
        if (strncmp(p->name, "fc.", 3) == 0) continue;
        am_param *q = am_net_find_param(imagenet, p->name);
        same &= q && memcmp(p->value.data, q->value.data, (size_t)am_tensor_numel(&p->value) * 4) == 0;
    }
    CHECK(same, "pretrained weights not loaded as they are");
    CHECK(am_net_find_param(n3, "fc.weight")->value.data[0] == fc0, "fc must keep its initialisation");

    /* C channels: conv1 = mean over RGB x 3/C, on every channel. */
    const am_param *rgb = am_net_find_param(imagenet, "conv1.weight");
    for (int c = 1; c <= 4; c += 3) {
        am_model_spec sc = {"n_layer_resnet", "layer4", c, AM_POOLING_AVERAGE, 1};
        am_net *nc = NULL;
        CHECK_OK(am_model_create(&nc, &sc, 5));
        CHECK_OK(am_model_load_pretrained(nc, &sc, path));
        const am_param *w = am_net_find_param(nc, "conv1.weight");
        double worst = 0;
        for (int o = 0; o < 64; o++)
            for (int j = 0; j < 49; j++) {
                const float *r = rgb->value.data + o * 147 + j;
                double want = (r[0] + r[49] + r[98]) / 3.0 * 3.0 / c;
                for (int k = 0; k < c; k++) worst = fmax(worst, fabs(w->value.data[(o * c + k) * 49 + j] - want));
            }
        CHECK(worst < 1e-6, "C=%d: adapted conv1 off by %g", c, worst);
        CHECK(memcmp(am_net_find_param(nc, "layer4.1.bn2.running_var")->value.data,
                     am_net_find_param(imagenet, "layer4.1.bn2.running_var")->value.data, 512 * 4) == 0,
              "C=%d: layer4 not loaded", c);
        am_net_free(nc);
    }

    /* Files that do not fit. */
    am_model_spec sa = {"amm", NULL, 1, AM_POOLING_AVERAGE, 1};
    am_net *amm = make("amm", 1, 1);
    CHECK_FAILS(am_model_load_pretrained(amm, &sa, path), AM_ERR_VALUE, "only for n_layer_resnet");
    CHECK_OK(am_net_save_state_file(amm, ammpath, NULL, NULL, 0));
    CHECK_FAILS(am_model_load_pretrained(n3, &s3, ammpath), AM_ERR_SHAPE, "32x1x7x7");
    CHECK_FAILS(am_model_load_pretrained(n3, &s3, ammpath), AM_ERR_SHAPE, ammpath);
    am_model_spec wrong = {"n_layer_resnet", "layer2", 1, AM_POOLING_AVERAGE, 1};
    CHECK_FAILS(am_model_load_pretrained(n3, &wrong, path), AM_ERR_VALUE, "input channels");
    am_net_free(amm);

    /* A grey image on C channels meets the RGB net's response to it (the point of 3/C). */
    am_model_spec s2 = {"n_layer_resnet", "layer2", 2, AM_POOLING_AVERAGE, 1};
    am_net *n2 = NULL;
    CHECK_OK(am_model_create(&n2, &s2, 5));
    CHECK_OK(am_model_load_pretrained(n2, &s2, path));
    /* The RGB side uses the channel-mean filters too, so only the adaptation is tested. */
    am_param *w3 = am_net_find_param(n3, "conv1.weight");
    for (int o = 0; o < 64; o++)
        for (int j = 0; j < 49; j++) {
            float *r = w3->value.data + o * 147 + j, m = (r[0] + r[49] + r[98]) / 3.0f;
            r[0] = r[49] = r[98] = m;
        }
    am_net_params_changed(n3);
    am_net_set_mode(n3, AM_MODE_EVAL);
    am_net_set_mode(n2, AM_MODE_EVAL);
    am_tensor x2, x3, y2 = {0}, y3 = {0};
    CHECK_OK(am_tensor_alloc4(&x2, 1, 2, 29, 31));
    CHECK_OK(am_tensor_alloc4(&x3, 1, 3, 29, 31));
    for (int i = 0; i < 29 * 31; i++) {
        float v = 0.5f + 0.5f * sinf(0.1f * (float)i);
        for (int c = 0; c < 2; c++) x2.data[c * 29 * 31 + i] = v;
        for (int c = 0; c < 3; c++) x3.data[c * 29 * 31 + i] = v;
    }
    CHECK_OK(am_net_forward(n2, &x2, AM_MODEL_HIDDEN_LAYER, &y2));
    CHECK_OK(am_net_forward(n3, &x3, AM_MODEL_HIDDEN_LAYER, &y3));
    am_test_close_tensor("grey image: 2-channel adapted vs RGB embedding", &y2, &y3, 1e-5);
    am_tensor_free(&x2);
    am_tensor_free(&x3);
    am_tensor_free(&y2);
    am_tensor_free(&y3);
    am_net_free(n2);
    am_net_free(n3);
    am_net_free(imagenet);
}

int main(void)
{
    test_round_trip();
    test_errors();
    test_pretrained();
    return am_test_finish();
}
