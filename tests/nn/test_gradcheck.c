/* Finite-difference check of the backward pass on three tiny networks that together use every
 * layer kind: a smooth chain (conv with bias, BatchNorm2d in train mode, GroupNorm, avgpool,
 * flatten, linear, BatchNorm1d, all in train mode), a residual block with a downsample in train mode,
 * and conv -> ReLU -> MaxPool (piecewise linear, so small steps are exact between kinks).
 * Loss L = Σ y·r, so dL/dy = r. Central differences in float32 with the loss summed in double;
 * tolerance: 2 % of the largest gradient checked in each tensor (floor 1e-2 for gradients that
 * are zero, e.g. a bias followed by a normalisation). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "astromorph/nn.h"
#include "astromorph/rng.h"
#include "test_util.h"

#define RTOL 2e-2

static float eps = 1e-2f;

static am_module *add_all(am_module *root, am_module **kids, int n)
{
    am_status st = AM_OK;
    for (int i = 0; i < n; i++) {
        if (st == AM_OK) st = am_module_add(root, kids[i]);
        else am_module_free(kids[i]);
    }
    if (st != AM_OK) {
        am_module_free(root);
        return NULL;
    }
    return root;
}

static am_module *smooth_net(void)
{
    am_module *k[] = {am_conv2d("conv", 3, 16, 3, 2, 1, 1),
                      am_batchnorm2d("bn", 16),
                      am_groupnorm("gn", 4, 16),
                      am_adaptive_avgpool2d("avgpool"),
                      am_flatten("flatten"),
                      am_linear("fc", 16, 5, 1),
                      am_batchnorm1d("bn1d", 5)};
    return add_all(am_sequential(""), k, 7);
}

static am_module *block_net(void)
{
    am_module *ds[] = {am_conv2d("0", 3, 16, 1, 2, 0, 0), am_batchnorm2d("1", 16)};
    am_module *k[] = {
        am_conv2d("conv1", 3, 16, 3, 2, 1, 0),  am_batchnorm2d("bn1", 16), am_relu("relu"),
        am_conv2d("conv2", 16, 16, 3, 1, 1, 0), am_batchnorm2d("bn2", 16), add_all(am_shortcut("downsample"), ds, 2)};
    return add_all(am_residual(""), k, 6);
}

static am_module *pool_net(void)
{
    am_module *k[] = {am_conv2d("conv", 3, 16, 3, 1, 1, 1), am_relu("relu"), am_maxpool2d("pool", 3, 2, 1),
                      am_flatten("flatten"), am_linear("fc", 16 * 5 * 4, 5, 1)};
    return add_all(am_sequential(""), k, 5);
}

static double loss(am_net *net, const am_tensor *x, const am_tensor *r, am_tensor *y)
{
    if (am_net_forward(net, x, NULL, y) != AM_OK) return NAN;
    double s = 0;
    for (int64_t i = 0; i < am_tensor_numel(y); i++) s += (double)y->data[i] * r->data[i];
    return s;
}

/* Compares the analytic gradient g of the values v against central differences at k spread-out
 * positions. Where the one-sided differences disagree, a ReLU or max kink lies within ±eps and
 * the difference quotient means nothing there: such positions are skipped, at most a quarter. */
static void check(const char *what, am_net *net, const am_tensor *x, const am_tensor *r, float *v, const float *g,
                  int64_t n, int k)
{
    am_tensor y = {0};
    float num[64], ana[64];
    int used = 0;
    double scale = 1e-2;
    if (k > 64) k = 64;
    if (k > n) k = (int)n;
    for (int j = 0; j < k; j++) scale = fmax(scale, fabs(g[(int64_t)j * n / k]));
    am_net_params_changed(net);
    double l0 = loss(net, x, r, &y);
    for (int j = 0; j < k; j++) {
        int64_t i = (int64_t)j * n / k;
        float keep = v[i];
        v[i] = keep + eps;
        am_net_params_changed(net);
        double lp = loss(net, x, r, &y);
        v[i] = keep - eps;
        am_net_params_changed(net);
        double lm = loss(net, x, r, &y);
        v[i] = keep;
        am_net_params_changed(net);
        if (fabs((lp - l0) - (l0 - lm)) / eps > RTOL * scale) continue;
        num[used] = (float)((lp - lm) / (2.0 * eps));
        ana[used++] = g[i];
    }
    CHECK(4 * used >= 3 * k, "%s: kinks at %d of %d positions", what, k - used, k);
    am_test_close(what, ana, num, used, RTOL, 1e-2);
    am_tensor_free(&y);
}

/* Checks dL/dx and the gradients of the named parameters of one network. */
static void run(const char *label, am_module *root, am_mode mode, int64_t out_numel, const char **names)
{
    am_net *net = NULL;
    char what[128];
    CHECK_OK(am_net_create(&net, root, 7));
    if (!net) return;
    am_net_set_mode(net, mode);
    am_tensor x, r, y = {0}, xc;
    am_rng rng;
    am_rng_init(&rng, 99, 0);
    CHECK_OK(am_tensor_alloc4(&x, 4, 3, 9, 7));
    for (int64_t i = 0; i < am_tensor_numel(&x); i++) x.data[i] = (float)am_rng_normal(&rng);
    /* Non-trivial affine parameters and running statistics, so that they matter. */
    for (size_t i = 0; i < am_net_param_count(net); i++) {
        am_param *p = am_net_param(net, i);
        if (p->is_integer || p->value.ndim != 1) continue;
        for (int64_t j = 0; j < am_tensor_numel(&p->value); j++)
            p->value.data[j] +=
                0.3f * (float)(strstr(p->name, "running_var") ? am_rng_uniform(&rng) : am_rng_normal(&rng));
    }
    am_net_params_changed(net);
    CHECK_OK(am_net_forward(net, &x, NULL, &y)); /* sizes y */
    CHECK(am_tensor_numel(&y) == out_numel, "%s: output has %lld elements", label, (long long)am_tensor_numel(&y));
    CHECK_OK(am_tensor_clone(&r, &y));
    for (int64_t i = 0; i < am_tensor_numel(&r); i++) r.data[i] = (float)am_rng_normal(&rng);
    double l0 = loss(net, &x, &r, &y);
    CHECK(isfinite(l0), "%s: forward: %s", label, am_errmsg());
    am_net_zero_grad(net);
    CHECK_OK(am_net_backward(net, &r));
    const am_tensor *dx = am_net_input_grad(net);
    CHECK(dx != NULL, "%s: input gradient: %s", label, am_errmsg());
    if (dx) {
        CHECK_OK(am_tensor_clone(&xc, dx));
        snprintf(what, sizeof what, "%s: dL/dx", label);
        check(what, net, &x, &r, x.data, xc.data, am_tensor_numel(&x), 40);
        am_tensor_free(&xc);
    }
    for (; *names; names++) {
        am_param *p = am_net_find_param(net, *names);
        CHECK(p != NULL, "%s: no parameter %s", label, *names);
        if (!p) continue;
        am_tensor g;
        CHECK_OK(am_tensor_clone(&g, &p->grad));
        snprintf(what, sizeof what, "%s: %s", label, *names);
        check(what, net, &x, &r, p->value.data, g.data, am_tensor_numel(&p->value), 24);
        am_tensor_free(&g);
    }
    am_tensor_free(&x);
    am_tensor_free(&r);
    am_tensor_free(&y);
    am_net_free(net);
}

int main(void)
{
    const char *smooth[] = {"conv.weight", "conv.bias", "bn.weight",   "bn.bias",   "gn.weight", "gn.bias",
                            "fc.weight",   "fc.bias",   "bn1d.weight", "bn1d.bias", NULL};
    const char *block[] = {"conv1.weight", "bn1.weight",          "bn1.bias",          "conv2.weight",
                           "bn2.weight",   "downsample.0.weight", "downsample.1.bias", NULL};
    const char *pool[] = {"conv.weight", "conv.bias", "fc.weight", NULL};
    eps = 1e-2f;
    run("smooth", smooth_net(), AM_MODE_TRAIN, 20, smooth);
    eps = 1e-3f;
    run("block", block_net(), AM_MODE_TRAIN, 4 * 16 * 5 * 4, block);
    run("pool", pool_net(), AM_MODE_TRAIN, 20, pool);
    return am_test_finish();
}
