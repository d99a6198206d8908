/* The PyTorch converters, end to end (only where /usr/bin/python3 has torch; otherwise the test
 * says it skips them and checks that a missing file is reported):
 *   tools/fake_original_trainer.py + tools/convert_original_model.py: a ByolTrainer pickled as the
 *   original package does becomes a model file that am_byol_load reads, and whose online network
 *   gives PyTorch's embedding;
 *   tools/convert_torchvision.py: a torchvision-style .pth becomes a pretrained start file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/byol.h"
#include "astromorph/models.h"
#include "test_util.h"

static int have_torch(void) { return system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0; }

static int sh(const char *fmt, const char *a, const char *b, const char *c)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, fmt, a, b, c);
    return system(cmd);
}

static void test_original(const char *network, const char *last, const char *channels)
{
    const char *dir = am_test_tmpdir();
    char pt[1024], ref[1024], model[1024], args[256];
    snprintf(pt, sizeof pt, "%s/improved_net_%s.pt", dir, network);
    snprintf(ref, sizeof ref, "%s/ref_%s.safetensors", dir, network);
    snprintf(model, sizeof model, "%s/model_%s.safetensors", dir, network);
    snprintf(args, sizeof args, "--network %s --last-layer %s --channels %s", network, last, channels);
    char refarg[1400];
    snprintf(refarg, sizeof refarg, "%s --reference '%s'", args, ref);
    int rc = sh("/usr/bin/python3 %s '%s' %s >/dev/null", am_test_path("tools/fake_original_trainer.py"), pt, refarg);
    CHECK(rc == 0, "fake_original_trainer.py failed");
    rc = sh("/usr/bin/python3 %s '%s' '%s'", am_test_path("tools/convert_original_model.py"), pt, model);
    CHECK(rc == 0, "convert_original_model.py failed on %s", pt);
    if (rc) return;

    am_safetensors st, want;
    CHECK_OK(am_st_read(&st, model));
    CHECK(am_st_meta(&st, "network_name") && strcmp(am_st_meta(&st, "network_name"), network) == 0, "network_name");
    CHECK(am_st_meta(&st, "in_channels") && strcmp(am_st_meta(&st, "in_channels"), channels) == 0, "in_channels");
    am_model_spec spec = {am_st_meta(&st, "network_name"), am_st_meta(&st, "last_layer"), atoi(channels),
                          AM_POOLING_AVERAGE, 1};
    am_byol_options o;
    am_byol_options_default(&o);
    CHECK_OK(am_byol_options_from_file(&o, &st));
    o.probe_channels = spec.in_channels;
    am_net *net = NULL;
    am_byol *b = NULL;
    CHECK_OK(am_model_create(&net, &spec, 1));
    if (net) CHECK_OK(am_byol_create(&b, net, &o));
    if (b) {
        CHECK_OK(am_byol_load_state(b, &st));
        /* The online network alone loads strictly from the same file. */
        am_net *alone = NULL;
        CHECK_OK(am_model_create(&alone, &spec, 2));
        if (alone) CHECK_OK(am_net_load_state(alone, &st, "online_encoder.network.", AM_STATE_STRICT));
        am_net_free(alone);

        CHECK_OK(am_st_read(&want, ref));
        am_tensor x, emb_want, emb = {0};
        am_test_fixture_tensor(&want, "check.input", &x);
        am_test_fixture_tensor(&want, "check.embedding.eval", &emb_want);
        am_byol_set_mode(b, AM_MODE_EVAL);
        CHECK_OK(am_byol_embed(b, &x, &emb));
        char what[128];
        snprintf(what, sizeof what, "%s: converted model's embedding vs PyTorch", network);
        am_test_close_tensor(what, &emb, &emb_want, 1e-4);
        am_tensor_free(&x);
        am_tensor_free(&emb_want);
        am_tensor_free(&emb);
        am_st_free(&want);
        am_byol_free(b);
    }
    am_st_free(&st);
}

static void test_torchvision(void)
{
    const char *dir = am_test_tmpdir();
    char pth[1024], out[1024];
    snprintf(pth, sizeof pth, "%s/resnet18.pth", dir);
    snprintf(out, sizeof out, "%s/resnet18.safetensors", dir);
    int rc = sh("/usr/bin/python3 -c \"import sys; sys.path.insert(0, '%s'); import am_networks, torch; "
                "torch.manual_seed(3); torch.save(am_networks.ResNet18().state_dict(), '%s')\"%s",
                am_test_path("tools"), pth, "");
    rc |= sh("/usr/bin/python3 %s '%s' '%s'", am_test_path("tools/convert_torchvision.py"), pth, out);
    CHECK(rc == 0, "making or converting %s failed", pth);
    if (rc) return;
    am_safetensors st;
    CHECK_OK(am_st_read(&st, out));
    for (int c = 1; c <= 3; c += 2) {
        am_model_spec spec = {"n_layer_resnet", "layer4", c, AM_POOLING_AVERAGE, 1};
        am_net *net = NULL;
        CHECK_OK(am_model_create(&net, &spec, 1));
        if (!net) continue;
        CHECK_OK(am_model_load_pretrained(net, &spec, out));
        am_tensor w;
        CHECK_OK(am_st_get_f32(&st, c == 3 ? "conv1.weight" : "layer3.0.downsample.0.weight", &w));
        am_param *p = am_net_find_param(net, c == 3 ? "conv1.weight" : "layer3.0.downsample.0.weight");
        CHECK(p && am_tensor_numel(&p->value) == am_tensor_numel(&w) &&
                  memcmp(p->value.data, w.data, (size_t)am_tensor_numel(&w) * sizeof(float)) == 0,
              "C=%d: pretrained weights differ from the converted file", c);
        am_tensor_free(&w);
        am_net_free(net);
    }
    /* A file that is not a ResNet18 state dict is refused with the reason. */
    rc = sh("/usr/bin/python3 %s '%s' '%s/x.safetensors' 2>/dev/null", am_test_path("tools/convert_torchvision.py"),
            out, dir);
    CHECK(rc != 0, "convert_torchvision.py accepted a safetensors file as a .pth");
    am_st_free(&st);
}

int main(void)
{
    if (!have_torch()) {
        am_net *net = NULL;
        am_model_spec spec = {"n_layer_resnet", "layer1", 3, AM_POOLING_AVERAGE, 1};
        CHECK_OK(am_model_create(&net, &spec, 1));
        CHECK_FAILS(am_model_load_pretrained(net, &spec, "/nonexistent/resnet18.safetensors"), AM_ERR_IO,
                    "/nonexistent/resnet18.safetensors");
        am_net_free(net);
        return am_test_skip("the converters need /usr/bin/python3 with torch (Debian python3-torch)");
    }
    test_original("amm", "layer4", "1");
    test_original("n_layer_resnet", "layer2", "3");
    test_torchvision();
    return am_test_finish();
}
