/* A network file written here loads in PyTorch and gives the same outputs: writes the state, an
 * input batch and C's outputs (train and eval mode, and the eval embedding), reads the file back
 * and checks it in C, then runs tools/load_in_pytorch.py when /usr/bin/python3 has torch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/models.h"
#include "model_fixture.h"
#include "test_util.h"

static int have_torch(void) { return system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0; }

static void write_check_file(am_net *net, const char *path, const am_model_spec *spec, const am_tensor *x,
                             const am_tensor *y_train, const am_tensor *y_eval, const am_tensor *emb)
{
    char ch[16];
    snprintf(ch, sizeof ch, "%d", spec->in_channels);
    am_st_writer *wr = am_st_writer_new();
    CHECK_OK(am_net_save_state(net, wr, ""));
    CHECK_OK(am_st_writer_add_f32(wr, "check.input", x));
    CHECK_OK(am_st_writer_add_f32(wr, "check.output.train", y_train));
    CHECK_OK(am_st_writer_add_f32(wr, "check.output.eval", y_eval));
    CHECK_OK(am_st_writer_add_f32(wr, "check.embedding.eval", emb));
    CHECK_OK(am_st_writer_meta(wr, "network_name", spec->network_name));
    CHECK_OK(am_st_writer_meta(wr, "last_layer", spec->last_layer));
    CHECK_OK(am_st_writer_meta(wr, "in_channels", ch));
    CHECK_OK(am_st_writer_write(wr, path));
    am_st_writer_free(wr);
}

static void run(const char *network, const char *last, int channels, int h, int w, int torch_ok)
{
    am_model_spec spec = {network, last, channels, AM_POOLING_AVERAGE, 1};
    am_net *net = NULL, *back = NULL;
    CHECK_OK(am_model_create(&net, &spec, 21));
    CHECK_OK(am_model_create(&back, &spec, 22));
    if (!net || !back) return;
    /* BatchNorm affine parameters away from 1/0, so that every tensor matters. */
    for (size_t i = 0; i < am_net_param_count(net); i++) fix_hash_param(am_net_param(net, i), "pt.");
    am_net_params_changed(net);

    am_tensor img, x, y_train = {0}, y_eval = {0}, emb = {0};
    int64_t shape[3] = {channels, h, w};
    CHECK_OK(am_tensor_alloc(&img, 3, shape));
    for (int64_t i = 0; i < am_tensor_numel(&img); i++) img.data[i] = (float)(0.5 + 0.5 * fix_uniform(77, (uint32_t)i));
    CHECK_OK(fix_d2_batch(&img, &x));
    am_net_set_mode(net, AM_MODE_TRAIN);
    CHECK_OK(am_net_forward(net, &x, NULL, &y_train)); /* moves the running stats too */
    am_net_set_mode(net, AM_MODE_EVAL);
    CHECK_OK(am_net_forward(net, &x, NULL, &y_eval));
    CHECK_OK(am_net_forward(net, &x, AM_MODEL_HIDDEN_LAYER, &emb));

    char path[1024];
    snprintf(path, sizeof path, "%s/%s_%s_c%d.safetensors", am_test_tmpdir(), network, last, channels);
    write_check_file(net, path, &spec, &x, &y_train, &y_eval, &emb);

    /* C side: the file reloads into a fresh network that reproduces the eval output exactly. */
    CHECK_OK(am_net_load_state_file(back, path, "", AM_STATE_ALLOW_UNEXPECTED));
    am_net_set_mode(back, AM_MODE_EVAL);
    am_tensor y_back = {0};
    CHECK_OK(am_net_forward(back, &x, NULL, &y_back));
    CHECK(am_tensor_numel(&y_back) == am_tensor_numel(&y_eval) &&
              memcmp(y_back.data, y_eval.data, (size_t)am_tensor_numel(&y_eval) * sizeof(float)) == 0,
          "%s: reloaded network gives another eval output", path);
    CHECK(am_tensor_all_finite(&y_train) && am_tensor_all_finite(&y_eval), "%s: outputs not finite", path);

    if (torch_ok) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s '%s'", am_test_path("tools/load_in_pytorch.py"), path);
        int rc = system(cmd);
        CHECK(rc == 0, "PyTorch disagrees with C on %s (%s): exit status %d", network, path, rc);
        /* The checker must notice a wrong output. */
        y_eval.data[3] += 0.01f * (1.0f + fabsf(y_eval.data[3]));
        snprintf(path, sizeof path, "%s/tampered.safetensors", am_test_tmpdir());
        write_check_file(net, path, &spec, &x, &y_train, &y_eval, &emb);
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s '%s' >/dev/null", am_test_path("tools/load_in_pytorch.py"),
                 path);
        CHECK(system(cmd) != 0, "load_in_pytorch.py accepted a tampered output (%s)", path);
    }
    am_tensor_free(&img);
    am_tensor_free(&x);
    am_tensor_free(&y_train);
    am_tensor_free(&y_eval);
    am_tensor_free(&y_back);
    am_tensor_free(&emb);
    am_net_free(net);
    am_net_free(back);
}

int main(void)
{
    int torch_ok = have_torch();
    run("amm", "layer4", 1, 41, 35, torch_ok);
    run("n_layer_resnet", "layer3", 2, 45, 38, torch_ok);
    run("n_layer_resnet", "layer4", 3, 33, 33, torch_ok);
    if (!torch_ok)
        return am_test_skip("the PyTorch half needs /usr/bin/python3 with torch (Debian python3-torch); the C round "
                            "trip was checked");
    return am_test_finish();
}
