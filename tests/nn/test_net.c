/* The network API around the layers: PyTorch state-dict names and order, PyTorch's default
 * initialisation, stopping at a named module, images of several sizes in turn, parameter
 * changes, clones running concurrently, copies sharing values (gradients own, shared or none),
 * frozen networks and borrowed activations, modes, errors, FLOP counts. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "astromorph/nn.h"
#include "astromorph/rng.h"
#include "test_util.h"

/* A two-stage ResNet in torchvision's naming: conv1 bn1 relu maxpool layer1 layer2 avgpool fc. */
static am_module *small_resnet(int in_ch)
{
    am_module *root = am_sequential(""), *l1 = am_sequential("layer1"), *l2 = am_sequential("layer2");
    am_module *b1 = am_residual("0"), *b2 = am_residual("0"), *ds = am_shortcut("downsample");
    am_status st = AM_OK;
#define ADD(p, c)                                                                                                      \
    if (st == AM_OK) st = am_module_add(p, c)
    ADD(b1, am_conv2d("conv1", 16, 16, 3, 1, 1, 0));
    ADD(b1, am_batchnorm2d("bn1", 16));
    ADD(b1, am_relu("relu"));
    ADD(b1, am_conv2d("conv2", 16, 16, 3, 1, 1, 0));
    ADD(b1, am_batchnorm2d("bn2", 16));
    ADD(ds, am_conv2d("0", 16, 32, 1, 2, 0, 0));
    ADD(ds, am_batchnorm2d("1", 32));
    ADD(b2, am_conv2d("conv1", 16, 32, 3, 2, 1, 0));
    ADD(b2, am_batchnorm2d("bn1", 32));
    ADD(b2, am_relu("relu"));
    ADD(b2, am_conv2d("conv2", 32, 32, 3, 1, 1, 0));
    ADD(b2, am_batchnorm2d("bn2", 32));
    ADD(b2, ds);
    ADD(l1, b1);
    ADD(l2, b2);
    ADD(root, am_conv2d("conv1", in_ch, 16, 7, 2, 3, 0));
    ADD(root, am_batchnorm2d("bn1", 16));
    ADD(root, am_relu("relu"));
    ADD(root, am_maxpool2d("maxpool", 3, 2, 1));
    ADD(root, l1);
    ADD(root, l2);
    ADD(root, am_adaptive_avgpool2d("avgpool"));
    ADD(root, am_flatten("flatten"));
    ADD(root, am_linear("fc", 32, 10, 1));
#undef ADD
    if (st != AM_OK) {
        fprintf(stderr, "building: %s\n", am_errmsg());
        am_module_free(root);
        return NULL;
    }
    return root;
}

static void random_tensor(am_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed)
{
    am_rng r;
    am_rng_init(&r, seed, 0);
    CHECK_OK(am_tensor_alloc4(t, n, c, h, w));
    for (int64_t i = 0; i < am_tensor_numel(t); i++) t->data[i] = (float)am_rng_normal(&r);
}

static void test_names_and_init(void)
{
    am_net *net = NULL, *same = NULL, *other = NULL;
    CHECK_OK(am_net_create(&net, small_resnet(3), 42));
    CHECK_OK(am_net_create(&same, small_resnet(3), 42));
    CHECK_OK(am_net_create(&other, small_resnet(3), 43));
    if (!net || !same || !other) goto done;
    static const char *first[] = {"conv1.weight",          "bn1.weight",         "bn1.bias",
                                  "bn1.running_mean",      "bn1.running_var",    "bn1.num_batches_tracked",
                                  "layer1.0.conv1.weight", "layer1.0.bn1.weight"};
    for (size_t i = 0; i < sizeof first / sizeof *first; i++)
        CHECK(!strcmp(am_net_param(net, i)->name, first[i]), "param %zu is %s, want %s", i, am_net_param(net, i)->name,
              first[i]);
    /* torchvision registers downsample after bn2, so its tensors follow layer2.0.bn2's. */
    am_param *p = am_net_find_param(net, "layer2.0.downsample.1.running_var");
    CHECK(p && p->is_buffer && p->value.data[0] == 1.0f && !p->grad.data, "downsample running_var");
    p = am_net_find_param(net, "layer2.0.bn1.num_batches_tracked");
    CHECK(p && p->is_integer && p->value.ndim == 0, "num_batches_tracked is an integer scalar");
    /* conv1 1 + bn1 5 + layer1.0 (1+5+1+5) + layer2.0 (1+5+1+5 + downsample 1+5) + fc 2 */
    CHECK(am_net_param_count(net) == 38, "%zu parameters", am_net_param_count(net));
    CHECK(am_net_find_module(net, "layer2.0.downsample") != NULL, "find module");
    CHECK(am_module_kind_of(am_net_find_module(net, "layer1.0")) == AM_MOD_RESIDUAL, "kind");
    CHECK(am_net_find_module(net, "layer3") == NULL, "no layer3");

    /* Kaiming uniform a=sqrt(5): U(±1/sqrt(fan_in)), variance bound²/3. */
    am_param *w = am_net_find_param(net, "layer1.0.conv1.weight");
    double bound = 1.0 / sqrt(16 * 9), s2 = 0, mx = 0;
    int64_t n = am_tensor_numel(&w->value);
    for (int64_t i = 0; i < n; i++) {
        s2 += (double)w->value.data[i] * w->value.data[i];
        mx = fmax(mx, fabs(w->value.data[i]));
    }
    CHECK(mx <= bound && mx > 0.95 * bound, "max |w| %g, bound %g", mx, bound);
    CHECK(fabs(s2 / (double)n / (bound * bound / 3) - 1) < 0.1, "variance %g, want %g", s2 / (double)n,
          bound * bound / 3);
    am_param *b = am_net_find_param(net, "fc.bias");
    CHECK(fabs(b->value.data[0]) <= 1 / sqrt(32.0) && b->value.data[0] != 0, "fc.bias %g", b->value.data[0]);
    CHECK(am_net_find_param(net, "bn1.weight")->value.data[3] == 1.0f, "bn weight 1");
    CHECK(!memcmp(w->value.data, am_net_find_param(same, "layer1.0.conv1.weight")->value.data, (size_t)n * 4),
          "same seed, same weights");
    CHECK(memcmp(w->value.data, am_net_find_param(other, "layer1.0.conv1.weight")->value.data, (size_t)n * 4),
          "other seed, other weights");
    /* ResNet18-style cost: conv1 alone at 4×3×37×53 is 2·4·16·19·27·3·49 FLOP. */
    int64_t shape[4] = {4, 3, 37, 53};
    double conv1 = 2.0 * 4 * 16 * 19 * 27 * 3 * 49;
    CHECK(fabs(am_net_forward_flops(net, shape, "conv1") - conv1) < 1, "conv1 flops %g",
          am_net_forward_flops(net, shape, "conv1"));
    CHECK(am_net_forward_flops(net, shape, NULL) > conv1, "whole net costs more than conv1");
done:
    am_net_free(net);
    am_net_free(same);
    am_net_free(other);
}

/* Forward + backward of x through net: output into y, fc.weight's gradient into g. */
static void step(am_net *net, const am_tensor *x, am_tensor *y, am_tensor *g, int *ok)
{
    am_tensor dy;
    *ok = am_net_forward(net, x, NULL, y) == AM_OK;
    if (!*ok) return;
    am_net_zero_grad(net);
    am_tensor_clone(&dy, y);
    for (int64_t i = 0; i < am_tensor_numel(&dy); i++) dy.data[i] = (float)(i % 7) - 3;
    *ok = am_net_backward(net, &dy) == AM_OK;
    am_tensor_free(&dy);
    am_tensor_free(g);
    if (*ok) *ok = am_tensor_clone(g, &am_net_find_param(net, "layer1.0.conv1.weight")->grad) == AM_OK;
}

static void test_sizes_clones_threads(void)
{
    am_net *net = NULL, *fresh = NULL, *c1 = NULL, *c2 = NULL;
    am_tensor xa, xb, ya = {0}, yb = {0}, y2 = {0}, ga = {0}, gb = {0}, g2 = {0};
    int ok;
    random_tensor(&xa, 4, 3, 37, 53, 1);
    random_tensor(&xb, 4, 3, 24, 19, 2);
    CHECK_OK(am_net_create(&net, small_resnet(3), 5));
    if (!net) return;
    am_net_set_mode(net, AM_MODE_EVAL);
    step(net, &xa, &ya, &ga, &ok);
    CHECK(ok, "size a: %s", am_errmsg());
    step(net, &xb, &yb, &gb, &ok);
    CHECK(ok, "size b: %s", am_errmsg());
    /* Back to the first size: cached primitives must give the same numbers. */
    step(net, &xa, &y2, &g2, &ok);
    CHECK(ok, "size a again: %s", am_errmsg());
    am_test_close("size a again: y", y2.data, ya.data, am_tensor_numel(&ya), 1e-6, 1e-6);
    am_test_close("size a again: grad", g2.data, ga.data, am_tensor_numel(&ga), 1e-6, 1e-6);

    /* A clone gives the same results; two clones run concurrently on two threads agree with the
     * serial results (to rounding: inside a parallel region oneDNN runs single-threaded). */
    CHECK_OK(am_net_clone(&c1, net));
    CHECK_OK(am_net_clone(&c2, net));
    if (c1 && c2) {
        CHECK(am_net_mode(c1) == AM_MODE_EVAL, "clone keeps the mode");
        am_tensor y1 = {0}, y3 = {0}, g1 = {0}, g3 = {0};
        int ok1 = 0, ok3 = 0;
#pragma omp parallel num_threads(2)
        {
            if (omp_get_thread_num() == 0)
                for (int k = 0; k < 3; k++) step(c1, &xa, &y1, &g1, &ok1);
            else
                for (int k = 0; k < 3; k++) step(c2, &xb, &y3, &g3, &ok3);
        }
        CHECK(ok1 && ok3, "concurrent clones failed");
        if (ok1 && ok3) {
            am_test_close("clone thread 0: y", y1.data, ya.data, am_tensor_numel(&ya), 1e-5, 1e-6);
            am_test_close("clone thread 0: grad", g1.data, ga.data, am_tensor_numel(&ga), 1e-4, 1e-6);
            am_test_close("clone thread 1: y", y3.data, yb.data, am_tensor_numel(&yb), 1e-5, 1e-6);
            am_test_close("clone thread 1: grad", g3.data, gb.data, am_tensor_numel(&gb), 1e-4, 1e-6);
        }
        am_tensor_free(&y1);
        am_tensor_free(&y3);
        am_tensor_free(&g1);
        am_tensor_free(&g3);
    }

    /* Changed weights take effect once declared; a fresh net with those values agrees. */
    am_param *w = am_net_find_param(net, "layer1.0.conv2.weight");
    for (int64_t i = 0; i < am_tensor_numel(&w->value); i++) w->value.data[i] *= -0.5f;
    am_net_params_changed(net);
    CHECK_OK(am_net_create(&fresh, small_resnet(3), 999));
    if (fresh) {
        for (size_t i = 0; i < am_net_param_count(net); i++)
            memcpy(am_net_param(fresh, i)->value.data, am_net_param(net, i)->value.data,
                   (size_t)am_tensor_numel(&am_net_param(net, i)->value) * 4);
        am_net_set_mode(fresh, AM_MODE_EVAL);
        step(net, &xa, &ya, &ga, &ok);
        step(fresh, &xa, &y2, &g2, &ok);
        am_test_close("after params_changed: y", ya.data, y2.data, am_tensor_numel(&ya), 1e-6, 1e-6);
    }
    am_net_free(fresh);
    am_net_free(c1);
    am_net_free(c2);
    am_net_free(net);
    am_tensor_free(&xa);
    am_tensor_free(&xb);
    am_tensor_free(&ya);
    am_tensor_free(&yb);
    am_tensor_free(&y2);
    am_tensor_free(&ga);
    am_tensor_free(&gb);
    am_tensor_free(&g2);
}

static void test_stop_modes_errors(void)
{
    am_net *net = NULL;
    am_tensor x, x5, y = {0}, full = {0};
    random_tensor(&x, 4, 3, 33, 29, 3);
    random_tensor(&x5, 4, 5, 33, 29, 3);
    CHECK_OK(am_net_create(&net, small_resnet(3), 9));
    if (!net) return;
    CHECK_OK(am_net_forward(net, &x, "avgpool", &y));
    CHECK(y.ndim == 4 && y.shape[0] == 4 && y.shape[1] == 32 && y.shape[2] == 1 && y.shape[3] == 1,
          "avgpool output %lldx%lld", (long long)y.shape[0], (long long)y.shape[1]);
    am_param *nbt = am_net_find_param(net, "bn1.num_batches_tracked");
    CHECK(nbt->value.data[0] == 1, "train forward counts a batch (%g)", nbt->value.data[0]);
    am_tensor dy;
    CHECK_OK(am_tensor_clone(&dy, &y));
    am_net_zero_grad(net);
    CHECK_OK(am_net_backward(net, &dy));
    const am_tensor *dx = am_net_input_grad(net);
    CHECK(dx && dx->ndim == 4 && dx->shape[2] == 33 && dx->shape[3] == 29 && am_tensor_all_finite(dx), "input grad");
    CHECK(am_net_find_param(net, "fc.weight")->grad.data[0] == 0, "fc untouched when stopping at avgpool");
    CHECK(am_net_find_param(net, "conv1.weight")->grad.data[0] != 0, "conv1 has a gradient");
    /* Stopping at a BatchNorm that is fused with the ReLU after it gives the BatchNorm's output. */
    am_tensor bn = {0}, relu = {0};
    CHECK_OK(am_net_forward(net, &x, "bn1", &bn));
    CHECK_OK(am_net_forward(net, &x, "relu", &relu));
    int neg = 0, match = am_tensor_numel(&bn) == am_tensor_numel(&relu);
    for (int64_t i = 0; match && i < am_tensor_numel(&bn); i++) {
        neg += bn.data[i] < 0;
        match = relu.data[i] == (bn.data[i] > 0 ? bn.data[i] : 0);
    }
    CHECK(neg > 0 && match, "bn1 output has %d negatives; relu(bn1) %s", neg, match ? "matches" : "differs");
    am_tensor_free(&bn);
    am_tensor_free(&relu);
    /* The output view is reused when it fits. */
    float *keep = y.data;
    CHECK_OK(am_net_forward(net, &x, "avgpool", &y));
    CHECK(y.data == keep, "output storage reused");
    CHECK_OK(am_net_forward(net, &x, NULL, &full));
    CHECK(full.ndim == 2 && full.shape[1] == 10, "full output N×10");
    CHECK_FAILS(am_net_backward(net, &dy), AM_ERR_SHAPE, "does not match");

    /* Eval uses running statistics and leaves them alone; train changes them. */
    am_param *rm = am_net_find_param(net, "layer2.0.bn2.running_mean");
    float rm0 = rm->value.data[0];
    am_net_set_mode(net, AM_MODE_EVAL);
    CHECK_OK(am_net_forward(net, &x, NULL, &y));
    CHECK(rm->value.data[0] == rm0 && nbt->value.data[0] == 5, "eval leaves running stats");
    am_net_set_mode(net, AM_MODE_TRAIN);
    CHECK_OK(am_net_forward(net, &x, NULL, &y));
    CHECK(rm->value.data[0] != rm0 && nbt->value.data[0] == 6, "train updates running stats");

    CHECK_FAILS(am_net_forward(net, &x, "layer1.0.conv1", &y), AM_ERR_VALUE, "inside residual");
    CHECK_FAILS(am_net_forward(net, &x, "layer9", &y), AM_ERR_NOTFOUND, "layer9");
    CHECK_FAILS(am_net_forward(net, &x5, NULL, &y), AM_ERR_SHAPE, "conv1");
    CHECK_FAILS(am_net_backward(net, &dy), AM_ERR_VALUE, "no forward");
    CHECK_FAILS(am_net_set_precision(net, (am_precision)7), AM_ERR_VALUE, "precision");
    CHECK_OK(am_net_set_precision(net, AM_PRECISION_FP32));
    /* An 8×8 image leaves layer2 at 1×1 pixels (plain layout there): still runs both ways. */
    am_tensor tiny, tiny_y = {0}, tiny_dy;
    random_tensor(&tiny, 4, 3, 8, 8, 6);
    CHECK_OK(am_net_forward(net, &tiny, NULL, &tiny_y));
    CHECK_OK(am_tensor_clone(&tiny_dy, &tiny_y));
    CHECK_OK(am_net_backward(net, &tiny_dy));
    CHECK(am_tensor_all_finite(&tiny_y) && am_net_input_grad(net) && am_tensor_all_finite(am_net_input_grad(net)),
          "8x8 image: finite output and input gradient");
    am_tensor_free(&tiny);
    am_tensor_free(&tiny_y);
    am_tensor_free(&tiny_dy);
    am_tensor one;
    random_tensor(&one, 1, 3, 1, 1, 4); /* conv1 keeps 1×1: one value per channel for bn1 */
    CHECK_FAILS(am_net_forward(net, &one, NULL, &y), AM_ERR_SHAPE, "more than 1 value");
    CHECK(am_conv2d("bad", 3, 0, 3, 1, 1, 0) == NULL, "conv with 0 outputs rejected");
    am_module *s = am_sequential("s");
    /* a constructor that refuses its arguments says why, through the am_module_add it feeds */
    CHECK_FAILS(am_module_add(s, am_conv2d("bad", 3, 0, 3, 1, 1, 0)), AM_ERR_VALUE,
                "cannot add conv2d 'bad': channels must be > 0");
    CHECK_FAILS(am_module_add(s, am_groupnorm("gn", 3, 16)), AM_ERR_VALUE, "must divide into the groups");
    CHECK_FAILS(am_module_add(s, am_maxpool2d("mp", 2, 2, 2)), AM_ERR_VALUE, "at most half the kernel");
    CHECK_FAILS(am_module_add(s, NULL), AM_ERR_VALUE, "NULL child"); /* a NULL of the caller's own */
    CHECK_OK(am_module_add(s, am_relu("r")));
    CHECK_FAILS(am_module_add(s, am_relu("r")), AM_ERR_VALUE, "duplicate");
    am_module_free(s);
    am_tensor_free(&one);
    am_tensor_free(&dy);
    am_tensor_free(&x);
    am_tensor_free(&x5);
    am_tensor_free(&y);
    am_tensor_free(&full);
    am_net_free(net);
}

/* Gradients accumulate over backward calls until zeroed: two backwards give twice one. */
static void test_accumulation(void)
{
    am_net *net = NULL;
    am_tensor x, y = {0}, dy;
    random_tensor(&x, 4, 3, 21, 17, 8);
    CHECK_OK(am_net_create(&net, small_resnet(3), 11));
    if (!net) return;
    CHECK_OK(am_net_forward(net, &x, NULL, &y));
    CHECK_OK(am_tensor_clone(&dy, &y));
    am_net_zero_grad(net);
    CHECK_OK(am_net_backward(net, &dy));
    static const char *names[] = {"conv1.weight", "layer2.0.downsample.0.weight", "layer1.0.bn2.bias", "fc.weight"};
    am_tensor once[4];
    for (int i = 0; i < 4; i++) CHECK_OK(am_tensor_clone(&once[i], &am_net_find_param(net, names[i])->grad));
    CHECK_OK(am_net_backward(net, &dy));
    for (int i = 0; i < 4; i++) {
        am_param *p = am_net_find_param(net, names[i]);
        for (int64_t j = 0; j < am_tensor_numel(&once[i]); j++) once[i].data[j] *= 2;
        CHECK(am_tensor_all_finite(&p->grad), "%s finite", names[i]);
        am_test_close(names[i], p->grad.data, once[i].data, am_tensor_numel(&once[i]), 1e-5, 1e-6);
        am_tensor_free(&once[i]);
    }
    am_tensor_free(&x);
    am_tensor_free(&y);
    am_tensor_free(&dy);
    am_net_free(net);
}

/* Copies that read the source's values: the same numbers as a deep clone, in parallel too; value
 * changes through the source reach them; gradients own, added into the source's, or refused. */
static void test_sharing(void)
{
    am_net *net = NULL, *deep = NULL, *own = NULL, *same = NULL, *none = NULL, *own2 = NULL;
    am_tensor x, xb, y = {0}, yd = {0}, y2 = {0}, g = {0}, gd = {0}, g2 = {0};
    int ok = 0, ok2 = 0;
    random_tensor(&x, 4, 3, 29, 31, 21);
    random_tensor(&xb, 4, 3, 20, 23, 22);
    CHECK_OK(am_net_create(&net, small_resnet(3), 17));
    if (!net) return;
    am_net_set_mode(net, AM_MODE_TRAIN);
    CHECK_OK(am_net_clone(&deep, net));
    CHECK_OK(am_net_share(&own, net, AM_GRADS_OWN));
    CHECK_OK(am_net_share(&own2, net, AM_GRADS_OWN));
    CHECK_OK(am_net_share(&same, net, AM_GRADS_SHARED));
    CHECK_OK(am_net_share(&none, net, AM_GRADS_NONE));
    am_net *bad = NULL;
    CHECK_FAILS(am_net_share(&bad, net, (am_grads)7), AM_ERR_VALUE, "unknown gradient");
    if (!deep || !own || !same || !none || !own2) goto out;
    am_param *w = am_net_find_param(own, "layer2.0.conv2.weight");
    CHECK(w->value.data == am_net_find_param(net, "layer2.0.conv2.weight")->value.data, "values are shared");
    CHECK(w->grad.data != am_net_find_param(net, "layer2.0.conv2.weight")->grad.data, "own gradients");
    CHECK(am_net_find_param(own, "layer1.0.bn1.running_mean")->value.data !=
              am_net_find_param(net, "layer1.0.bn1.running_mean")->value.data,
          "buffers are the copy's own");
    CHECK(am_net_is_frozen(none) && !am_net_is_frozen(own), "frozen flags");

    /* Two sharing copies on two threads agree with the deep clone run serially. */
    step(deep, &x, &yd, &gd, &ok);
    CHECK(ok, "deep clone: %s", am_errmsg());
#pragma omp parallel num_threads(2)
    {
        if (omp_get_thread_num() == 0) step(own, &x, &y, &g, &ok);
        else step(own2, &xb, &y2, &g2, &ok2);
    }
    CHECK(ok && ok2, "sharing copies in parallel failed");
    if (ok) {
        am_test_close("shared copy: y", y.data, yd.data, am_tensor_numel(&yd), 1e-5, 1e-6);
        am_test_close("shared copy: grad", g.data, gd.data, am_tensor_numel(&gd), 1e-4, 1e-6);
        am_test_close("shared copy: BN running mean", am_net_find_param(own, "bn1.running_mean")->value.data,
                      am_net_find_param(deep, "bn1.running_mean")->value.data, 16, 1e-5, 1e-7);
    }

    /* A copy sharing the gradients adds into the source's. */
    am_net_zero_grad(net);
    step(same, &x, &y, &g, &ok);
    CHECK(ok, "shared gradients: %s", am_errmsg());
    am_param *src_g = am_net_find_param(net, "layer1.0.conv1.weight");
    if (ok)
        am_test_close("shared gradients land in the source", src_g->grad.data, gd.data, am_tensor_numel(&gd), 1e-4,
                      1e-6);

    /* New values through the source (then declared) reach every copy and its weight layouts. */
    for (int64_t i = 0; i < am_tensor_numel(&w->value); i++) w->value.data[i] *= 0.25f;
    am_param *dw = am_net_find_param(deep, "layer2.0.conv2.weight");
    for (int64_t i = 0; i < am_tensor_numel(&dw->value); i++) dw->value.data[i] *= 0.25f;
    am_net_params_changed(net);
    am_net_params_changed(deep);
    step(deep, &x, &yd, &gd, &ok);
    step(own, &x, &y, &g, &ok2);
    CHECK(ok && ok2, "after a change: %s", am_errmsg());
    if (ok && ok2) am_test_close("after a change: y", y.data, yd.data, am_tensor_numel(&yd), 1e-5, 1e-6);

    /* Forward only: the frozen copy gives the source's output (both still hold the initial
     * BatchNorm statistics); backward is refused. */
    am_net_set_mode(none, AM_MODE_EVAL);
    am_net_set_mode(net, AM_MODE_EVAL);
    am_net_set_mode(deep, AM_MODE_EVAL);
    CHECK_OK(am_net_forward(none, &x, NULL, &y));
    CHECK_OK(am_net_forward(net, &x, NULL, &yd));
    am_test_close("frozen copy: y", y.data, yd.data, am_tensor_numel(&yd), 1e-5, 1e-6);
    CHECK_FAILS(am_net_backward(none, &y), AM_ERR_VALUE, "frozen");
    bad = net;
    CHECK_FAILS(am_net_share(&bad, none, AM_GRADS_SHARED), AM_ERR_VALUE, "no gradients");
    CHECK(bad == NULL, "a refused share gives NULL");

    /* Borrowed activations: a frozen network writing into own's buffers before own's forward and
     * backward leaves own's results as they were. */
    CHECK_FAILS(am_net_borrow_activations(own, deep), AM_ERR_VALUE, "frozen");
    am_net_freeze(deep);
    CHECK(am_net_is_frozen(deep) && am_net_find_param(deep, "fc.weight")->grad.data == NULL, "freeze frees gradients");
    CHECK_OK(am_net_borrow_activations(deep, own));
    am_net_set_mode(own, AM_MODE_EVAL);
    step(own, &xb, &y2, &g2, &ok);
    CHECK_OK(am_net_forward(deep, &xb, NULL, &yd));
    step(own, &xb, &y, &g, &ok2);
    CHECK(ok && ok2, "borrowing: %s", am_errmsg());
    if (ok && ok2) {
        am_test_close("borrowing: host's y", y.data, y2.data, am_tensor_numel(&y2), 1e-6, 1e-7);
        am_test_close("borrowing: host's grad", g.data, g2.data, am_tensor_numel(&g2), 1e-6, 1e-7);
        am_test_close("borrowing: borrower's y", yd.data, y2.data, am_tensor_numel(&y2), 1e-5, 1e-6);
    }
    CHECK_OK(am_net_borrow_activations(deep, NULL));
    CHECK_OK(am_net_forward(deep, &xb, NULL, &yd));
out:
    am_net_free(deep), am_net_free(own), am_net_free(own2), am_net_free(same), am_net_free(none);
    am_net_free(net);
    am_tensor_free(&x), am_tensor_free(&xb), am_tensor_free(&y), am_tensor_free(&yd), am_tensor_free(&y2);
    am_tensor_free(&g), am_tensor_free(&gd), am_tensor_free(&g2);
}

/* A residual block's shortcut is the child made by am_shortcut, whatever its name: one per block,
 * and only in a residual block. */
static void test_shortcut_marking(void)
{
    am_module *seq = am_sequential("s");
    CHECK_FAILS(am_module_add(seq, am_shortcut("downsample")), AM_ERR_VALUE, "belongs in a residual block");
    am_module_free(seq);
    am_module *b = am_residual("b");
    CHECK_OK(am_module_add(b, am_shortcut("first")));
    CHECK_FAILS(am_module_add(b, am_shortcut("second")), AM_ERR_VALUE, "has a shortcut already");
    am_module_free(b);
    /* a plain container named "downsample" is part of the body now: 1x1 conv 4->4 there, the
     * identity shortcut, so the block computes relu(conv(x) + x) */
    am_module *root = am_sequential(""), *blk = am_residual("0"), *body = am_sequential("downsample");
    am_status st = am_module_add(body, am_conv2d("0", 4, 4, 1, 1, 0, 0));
    if (st == AM_OK) st = am_module_add(blk, body);
    if (st == AM_OK) st = am_module_add(root, blk);
    am_net *net = NULL;
    if (st == AM_OK) st = am_net_create(&net, root, 5);
    CHECK_OK(st);
    if (!net) return;
    am_param *w = am_net_find_param(net, "0.downsample.0.weight");
    CHECK(w != NULL, "the body's conv");
    if (w) memset(w->value.data, 0, (size_t)am_tensor_numel(&w->value) * sizeof(float));
    am_net_params_changed(net);
    am_tensor x, y = {0};
    CHECK_OK(am_tensor_alloc4(&x, 1, 4, 3, 3));
    for (int64_t i = 0; i < am_tensor_numel(&x); i++) x.data[i] = (float)(i % 5) - 1.0f;
    CHECK_OK(am_net_forward(net, &x, NULL, &y));
    int ok = y.data != NULL;
    for (int64_t i = 0; ok && i < am_tensor_numel(&x); i++) ok = y.data[i] == (x.data[i] > 0 ? x.data[i] : 0.0f);
    CHECK(ok, "relu(0 + x): the zeroed conv is the body, the shortcut the identity");
    am_tensor_free(&x), am_tensor_free(&y);
    am_net_free(net);
}

int main(void)
{
    test_shortcut_marking();
    test_names_and_init();
    test_sharing();
    test_accumulation();
    test_sizes_clones_threads();
    test_stop_modes_errors();
    return am_test_finish();
}
