/* Every layer against PyTorch 1.13 (tests/fixtures/layers.safetensors, written by
 * tools/fixtures/layers.py): output, input gradient, parameter gradients and BatchNorm's
 * running statistics, in train and eval mode, at odd shapes.
 * Tolerance: |got - want| <= 1e-4 × max|want| per tensor (float32 sums in another order).
 * The convolution cases run again in BF16 precision, to 3e-2 × max|want| (BF16 keeps 8 bits);
 * the residual blocks to 0.25 × max|want| only: their BatchNorms amplify the rounding (PyTorch's
 * own BF16 autocast differs from its FP32 result by up to 15 % on these same blocks). */
#include <stdio.h>
#include <string.h>

#include "astromorph/nn.h"
#include "test_util.h"

/* The module a spec string of layers.py describes (same grammar as its build()). */
static am_module *build(const char *spec)
{
    char kind[16];
    int a[6] = {0};
    if (sscanf(spec, "%15s %d %d %d %d %d %d", kind, &a[0], &a[1], &a[2], &a[3], &a[4], &a[5]) < 1) return NULL;
    if (!strcmp(kind, "conv")) return am_conv2d("", a[0], a[1], a[2], a[3], a[4], a[5]);
    if (!strcmp(kind, "bn2d")) return am_batchnorm2d("", a[0]);
    if (!strcmp(kind, "bn1d")) return am_batchnorm1d("", a[0]);
    if (!strcmp(kind, "gn")) return am_groupnorm("", a[0], a[1]);
    if (!strcmp(kind, "relu")) return am_relu("");
    if (!strcmp(kind, "maxpool")) return am_maxpool2d("", a[0], a[1], a[2]);
    if (!strcmp(kind, "avgpool")) return am_adaptive_avgpool2d("");
    if (!strcmp(kind, "linear")) return am_linear("", a[0], a[1], a[2]);
    if (!strcmp(kind, "flatlin")) {
        am_module *s = am_sequential("");
        if (am_module_add(s, am_flatten("0")) != AM_OK || am_module_add(s, am_linear("1", a[0], a[1], 1)) != AM_OK) {
            am_module_free(s);
            return NULL;
        }
        return s;
    }
    if (!strcmp(kind, "block")) { /* torchvision BasicBlock(in, out, stride) */
        am_module *b = am_residual(""), *ds = NULL;
        am_status st = am_module_add(b, am_conv2d("conv1", a[0], a[1], 3, a[2], 1, 0));
        if (st == AM_OK) st = am_module_add(b, am_batchnorm2d("bn1", a[1]));
        if (st == AM_OK) st = am_module_add(b, am_relu("relu"));
        if (st == AM_OK) st = am_module_add(b, am_conv2d("conv2", a[1], a[1], 3, 1, 1, 0));
        if (st == AM_OK) st = am_module_add(b, am_batchnorm2d("bn2", a[1]));
        if (st == AM_OK && (a[2] != 1 || a[0] != a[1])) {
            ds = am_shortcut("downsample");
            st = am_module_add(ds, am_conv2d("0", a[0], a[1], 1, a[2], 0, 0));
            if (st == AM_OK) st = am_module_add(ds, am_batchnorm2d("1", a[1]));
            if (st == AM_OK) st = am_module_add(b, ds);
            else am_module_free(ds);
        }
        if (st != AM_OK) {
            am_module_free(b);
            return NULL;
        }
        return b;
    }
    return NULL;
}

static void compare(const am_safetensors *st, const char *what, const float *got, int64_t n, double rtol)
{
    am_tensor want;
    am_test_fixture_tensor(st, what, &want);
    CHECK(am_tensor_numel(&want) == n, "%s: %lld elements, fixture has %lld", what, (long long)n,
          (long long)am_tensor_numel(&want));
    if (am_tensor_numel(&want) == n) am_test_close(what, got, want.data, n, rtol, 1e-6);
    am_tensor_free(&want);
}

static void run_case(const am_safetensors *st, const char *name, const char *desc, am_precision prec, double RTOL)
{
    char key[256], mode[8];
    int off = 0;
    if (sscanf(desc, "%7s %n", mode, &off) != 1) {
        CHECK(0, "%s: bad description '%s'", name, desc);
        return;
    }
    am_module *root = build(desc + off);
    CHECK(root != NULL, "%s: cannot build '%s'", name, desc + off);
    if (!root) return;
    am_net *net = NULL;
    CHECK_OK(am_net_create(&net, root, 1));
    if (!net) return;
    am_net_set_mode(net, strcmp(mode, "eval") ? AM_MODE_TRAIN : AM_MODE_EVAL);
    CHECK_OK(am_net_set_precision(net, prec));
    for (size_t i = 0; i < am_net_param_count(net); i++) {
        am_param *p = am_net_param(net, i);
        snprintf(key, sizeof key, "%s.%s", name, p->name);
        CHECK_OK(am_st_copy_f32(st, key, p->value.data, am_tensor_numel(&p->value)));
    }
    am_net_params_changed(net);

    am_tensor x, dy, y = {0};
    snprintf(key, sizeof key, "%s.x", name);
    am_test_fixture_tensor(st, key, &x);
    snprintf(key, sizeof key, "%s.dy", name);
    am_test_fixture_tensor(st, key, &dy);
    CHECK_OK(am_net_forward(net, &x, NULL, &y));
    snprintf(key, sizeof key, "%s.y", name);
    compare(st, key, y.data, am_tensor_numel(&y), RTOL);
    am_net_zero_grad(net);
    CHECK_OK(am_net_backward(net, &dy));
    const am_tensor *dx = am_net_input_grad(net);
    CHECK(dx != NULL, "%s: input gradient: %s", name, am_errmsg());
    snprintf(key, sizeof key, "%s.dx", name);
    if (dx) compare(st, key, dx->data, am_tensor_numel(dx), RTOL);
    for (size_t i = 0; i < am_net_param_count(net); i++) {
        am_param *p = am_net_param(net, i);
        snprintf(key, sizeof key, p->is_buffer ? "%s.after.%s" : "%s.grad.%s", name, p->name);
        compare(st, key, p->is_buffer ? p->value.data : p->grad.data, am_tensor_numel(&p->value), RTOL);
    }
    am_tensor_free(&x);
    am_tensor_free(&dy);
    am_tensor_free(&y);
    am_net_free(net);
}

int main(void)
{
    am_safetensors st;
    am_test_fixture(&st, "layers");
    CHECK(st.meta_count >= 20, "only %zu cases in the fixture", st.meta_count);
    for (size_t i = 0; i < st.meta_count; i++) {
        int before = am_test_failures;
        run_case(&st, st.meta_keys[i], st.meta_values[i], AM_PRECISION_FP32, 1e-4);
        printf("%-24s %-32s %s\n", st.meta_keys[i], st.meta_values[i], am_test_failures == before ? "ok" : "FAILED");
        if (!strstr(st.meta_values[i], "conv") && !strstr(st.meta_values[i], "block")) continue;
        before = am_test_failures;
        run_case(&st, st.meta_keys[i], st.meta_values[i], AM_PRECISION_BF16,
                 strstr(st.meta_values[i], "block") ? 0.25 : 3e-2);
        printf("%-24s %-32s %s\n", st.meta_keys[i], "  (BF16)", am_test_failures == before ? "ok" : "FAILED");
    }
    am_st_free(&st);
    return am_test_finish();
}
