/* The poolings to 1×1 besides the average: intensity-weighted (am_intensity_pool2d) and
 * generalized mean (am_gem_pool2d). Forward against a reference written here in double from the
 * definitions in nn.h; backward (the map's gradient and, for the intensity weights, the network
 * input's) against central differences; in amm, the embedding at "avgpool" against the
 * reference on amm's own last map, and a BYOL step.
 *
 * The networks: input x (N×C×9×7) → MaxPool2d(kernel 1, stride 2), which picks every other pixel
 * (5×4) exactly, → the pooling. A change of one input value then changes the pooled map at most
 * at one pixel and, through the intensity weights, the outputs of its image.
 *
 * Tolerance of the central differences (derived as the spread penalty's test does): x holds
 * multiples of 2^-10 below 4 in magnitude, so x ± h with h = 2^-6 is exact. Each output is made
 * in double and rounded once to float (error ≤ 2^-24 |y|), and the loss Σ r·y (|r| ≤ 1) is
 * summed in double, where the outputs that a change leaves alone cancel exactly; so the
 * quotient's rounding error is at most k · 2 · 2^-24 · max|y| / (2h), k the outputs that change
 * (1 for GeM, C for the intensity weights). Between kinks both poolings are smooth, with third
 * derivatives of order 1/hw (hw = 20 pixels pooled): the truncation h²/6 |y'''| is below 2e-5
 * (GeM at p = 3: y''' ~ 6/(hw y²); intensity: ratios of sums over 20 cells). Positions within
 * reach of a kink (GeM's clamp at eps, the clip of an intensity cell at 0) are left out. Every
 * check also asks that the largest gradient be 20 times the tolerance, so that a wrong term (a
 * gradient off by its own size) cannot hide in it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "astromorph/byol.h"
#include "astromorph/models.h"
#include "astromorph/nn.h"
#include "astromorph/pipeline.h"
#include "astromorph/rng.h"
#include "test_util.h"

enum { N = 3, H = 9, W = 7, MH = 5, MW = 4 };
static const double h_step = 1.0 / 64;

/* Image 0 above 0 everywhere, image 1 of both signs, image 2 below 0 everywhere (intensity
 * weights: the plain average). Multiples of 2^-10; none within 2h of 0 (GeM's clamp). */
static void fill_input(am_tensor *x, int c, uint64_t seed)
{
    am_rng rng;
    am_rng_init(&rng, seed, 0);
    CHECK_OK(am_tensor_alloc4(x, N, c, H, W));
    for (int64_t i = 0; i < am_tensor_numel(x); i++) {
        int64_t n = i / ((int64_t)c * H * W);
        double v = 0.1 + 1.9 * am_rng_uniform(&rng);
        if (n == 1 && am_rng_uniform(&rng) < 0.4) v = -v;
        if (n == 2) v = -v;
        x->data[i] = (float)(round(v * 1024) / 1024);
    }
}

static am_module *make_net(am_module_kind kind)
{
    am_module *root = am_sequential("");
    am_module *pool = kind == AM_MOD_INTENSITY_POOL2D ? am_intensity_pool2d("pool")
                      : kind == AM_MOD_GEM_POOL2D     ? am_gem_pool2d("pool")
                                                      : am_adaptive_avgpool2d("pool");
    if (am_module_add(root, am_maxpool2d("sub", 1, 2, 0)) != AM_OK || am_module_add(root, pool) != AM_OK) {
        am_module_free(root);
        return NULL;
    }
    return root;
}

/* Overlap of [a0, a1) with [b, b + 1). */
static double overlap(double a0, double a1, double b) { return fmax(0.0, fmin(a1, b + 1) - fmax(a0, b)); }

/* The intensity cells of image n before the clip (h × w), straight from the definition: each
 * cell the mean over the input area it covers of the channel mean. */
static void ref_cells(const float *x, int c, int ih, int iw, int n, int h, int w, double *a)
{
    double sy = (double)ih / h, sx = (double)iw / w;
    for (int o = 0; o < h; o++)
        for (int q = 0; q < w; q++) {
            double acc = 0;
            for (int yy = 0; yy < ih; yy++)
                for (int xx = 0; xx < iw; xx++) {
                    double wt = overlap(o * sy, (o + 1) * sy, yy) * overlap(q * sx, (q + 1) * sx, xx) / (sy * sx);
                    if (wt == 0) continue;
                    double m = 0;
                    for (int k = 0; k < c; k++) m += x[((int64_t)(n * c + k) * ih + yy) * iw + xx];
                    acc += wt * m / c;
                }
            a[o * w + q] = acc;
        }
}

/* The reference pooling (average, intensity or GeM) of map (N×c×h×w, NCHW) with the input x (N×cin×ih×iw) for the weights. */
static void ref_pool(am_module_kind kind, const float *map, int c, int h, int w, const float *x, int cin, int ih,
                     int iw, int n_img, double *y)
{
    double a[64], wt[64];
    for (int n = 0; n < n_img; n++) {
        double sum = 0;
        if (kind == AM_MOD_INTENSITY_POOL2D) {
            ref_cells(x, cin, ih, iw, n, h, w, a);
            for (int i = 0; i < h * w; i++) sum += fmax(a[i], 0);
            for (int i = 0; i < h * w; i++) wt[i] = sum > 0 ? fmax(a[i], 0) / sum : 1.0 / (h * w);
        }
        for (int k = 0; k < c; k++) {
            const float *p = map + (int64_t)(n * c + k) * h * w;
            double acc = 0;
            for (int i = 0; i < h * w; i++)
                acc += kind == AM_MOD_INTENSITY_POOL2D ? wt[i] * p[i]
                       : kind == AM_MOD_GEM_POOL2D     ? pow(fmax(p[i], AM_GEM_EPS), AM_GEM_P)
                                                       : p[i];
            y[n * c + k] = kind == AM_MOD_INTENSITY_POOL2D ? acc
                           : kind == AM_MOD_GEM_POOL2D     ? pow(acc / (h * w), 1 / AM_GEM_P)
                                                           : acc / (h * w);
        }
    }
}

/* The input's picked pixels, as MaxPool2d(1, 2) makes the map. */
static void subsample(const float *x, int c, float *map)
{
    for (int n = 0; n < N * c; n++)
        for (int o = 0; o < MH; o++)
            for (int q = 0; q < MW; q++) map[(n * MH + o) * MW + q] = x[(n * H + 2 * o) * W + 2 * q];
}

static double loss(am_net *net, const am_tensor *x, const am_tensor *r, am_tensor *y)
{
    if (am_net_forward(net, x, NULL, y) != AM_OK) return NAN;
    double s = 0;
    for (int64_t i = 0; i < am_tensor_numel(y); i++) s += (double)y->data[i] * r->data[i];
    return s;
}

/* Near a kink? GeM: the value within 2h of eps; intensity: a cell that this input pixel covers
 * with |a| < 2h (a change of h moves a cell by at most h). */
static int near_kink(am_module_kind kind, const am_tensor *x, int c, int64_t i)
{
    if (kind == AM_MOD_GEM_POOL2D) return fabs(x->data[i] - AM_GEM_EPS) < 2 * h_step;
    if (kind != AM_MOD_INTENSITY_POOL2D) return 0;
    int n = (int)(i / ((int64_t)c * H * W)), yy = (int)(i / W % H), xx = (int)(i % W);
    double a[MH * MW], sy = (double)H / MH, sx = (double)W / MW;
    ref_cells(x->data, c, H, W, n, MH, MW, a);
    for (int o = 0; o < MH; o++)
        for (int q = 0; q < MW; q++)
            if (overlap(o * sy, (o + 1) * sy, yy) * overlap(q * sx, (q + 1) * sx, xx) > 0 &&
                fabs(a[o * MW + q]) < 2 * h_step)
                return 1;
    return 0;
}

static void check_kind(am_module_kind kind, int c)
{
    const char *what = kind == AM_MOD_INTENSITY_POOL2D ? "intensity" : "gem";
    am_net *net = NULL;
    CHECK_OK(am_net_create(&net, make_net(kind), 1));
    if (!net) return;
    am_net_set_mode(net, AM_MODE_TRAIN);
    am_tensor x, y = {0}, r;
    fill_input(&x, c, 5 + (uint64_t)c);
    CHECK_OK(am_net_forward(net, &x, NULL, &y));
    CHECK(am_tensor_numel(&y) == N * c && y.ndim == 4 && y.shape[2] == 1 && y.shape[3] == 1,
          "%s C=%d: output %lld values", what, c, (long long)am_tensor_numel(&y));

    /* forward against the reference */
    static float map[N * 16 * MH * MW];
    double ref[N * 16], ymax = 0;
    subsample(x.data, c, map);
    ref_pool(kind, map, c, MH, MW, x.data, c, H, W, N, ref);
    float reff[N * 16];
    for (int i = 0; i < N * c; i++) reff[i] = (float)ref[i], ymax = fmax(ymax, fabs(ref[i]));
    char label[96];
    snprintf(label, sizeof label, "%s C=%d forward", what, c);
    am_test_close(label, y.data, reff, N * c, 1e-6, 1e-6);
    if (kind == AM_MOD_INTENSITY_POOL2D) {
        /* image 2 has no intensity above 0: the plain average */
        for (int k = 0; k < c; k++) {
            double m = 0;
            for (int i = 0; i < MH * MW; i++) m += map[(2 * c + k) * MH * MW + i];
            CHECK(fabs(y.data[2 * c + k] - m / (MH * MW)) < 1e-6, "%s: the fallback is the average", what);
        }
    } else {
        /* image 2 is below eps everywhere: eps */
        CHECK(y.data[2 * c] == (float)AM_GEM_EPS, "gem of a negative map: %g", y.data[2 * c]);
    }

    /* backward: dL/dx against central differences */
    am_rng rng;
    am_rng_init(&rng, 77, (uint64_t)c);
    CHECK_OK(am_tensor_clone(&r, &y));
    for (int64_t i = 0; i < am_tensor_numel(&r); i++) r.data[i] = (float)(2 * am_rng_uniform(&rng) - 1);
    am_net_zero_grad(net);
    CHECK_OK(am_net_forward(net, &x, NULL, &y));
    CHECK_OK(am_net_backward(net, &r));
    const am_tensor *dx = am_net_input_grad(net);
    CHECK(dx != NULL, "%s: input gradient: %s", what, am_errmsg());
    if (dx) {
        const int k_out = kind == AM_MOD_INTENSITY_POOL2D ? c : 1;
        const double tol = k_out * 2 * ldexp(ymax, -24) / (2 * h_step) + 2e-5;
        double worst = 0, largest = 0, weights_path = 0;
        int used = 0, n = (int)am_tensor_numel(&x);
        for (int i = 0; i < n; i++) {
            if (near_kink(kind, &x, c, i)) continue;
            float keep = x.data[i];
            x.data[i] = (float)(keep + h_step);
            double lp = loss(net, &x, &r, &y);
            x.data[i] = (float)(keep - h_step);
            double lm = loss(net, &x, &r, &y);
            x.data[i] = keep;
            double fd = (lp - lm) / (2 * h_step);
            worst = fmax(worst, fabs(fd - dx->data[i]));
            largest = fmax(largest, fabs(dx->data[i]));
            /* a pixel the map does not pick changes y only through the weights */
            int yy = i / W % H, xx = i % W;
            if (yy % 2 || xx % 2) weights_path = fmax(weights_path, fabs(dx->data[i]));
            used++;
        }
        CHECK(4 * used >= 3 * n, "%s C=%d: %d of %d positions near a kink", what, c, n - used, n);
        CHECK(worst <= tol && largest >= 20 * tol,
              "%s C=%d: dL/dx vs central differences: worst %.3g, tolerance %.3g, largest %.3g", what, c, worst, tol,
              largest);
        if (kind == AM_MOD_INTENSITY_POOL2D)
            CHECK(weights_path >= 20 * tol, "%s C=%d: the gradient through the weights is checked (%.3g)", what, c,
                  weights_path);
        else CHECK(weights_path == 0, "gem C=%d: no gradient to pixels outside the map", c);
    }
    am_tensor_free(&x), am_tensor_free(&y), am_tensor_free(&r);
    am_net_free(net);
}

/* A constant positive input: the intensity weights are uniform, GeM gives the constant. */
static void check_constant(void)
{
    am_tensor x, ya = {0}, yi = {0}, yg = {0};
    CHECK_OK(am_tensor_alloc4(&x, 2, 3, H, W));
    for (int64_t i = 0; i < am_tensor_numel(&x); i++) x.data[i] = i < am_tensor_numel(&x) / 2 ? 0.75f : 1.5f;
    am_net *a = NULL, *in = NULL, *g = NULL;
    CHECK_OK(am_net_create(&a, make_net(AM_MOD_ADAPTIVE_AVGPOOL2D), 1));
    CHECK_OK(am_net_create(&in, make_net(AM_MOD_INTENSITY_POOL2D), 1));
    CHECK_OK(am_net_create(&g, make_net(AM_MOD_GEM_POOL2D), 1));
    if (a && in && g) {
        CHECK_OK(am_net_forward(a, &x, NULL, &ya));
        CHECK_OK(am_net_forward(in, &x, NULL, &yi));
        CHECK_OK(am_net_forward(g, &x, NULL, &yg));
        am_test_close("intensity of a constant image = average", yi.data, ya.data, 6, 1e-6, 1e-6);
        am_test_close("gem of a constant image = the constant", yg.data, ya.data, 6, 1e-6, 1e-6);
    }
    am_net_free(a), am_net_free(in), am_net_free(g);
    am_tensor_free(&x), am_tensor_free(&ya), am_tensor_free(&yi), am_tensor_free(&yg);
}

/* amm with each pooling: "avgpool" holds the right kind, the embedding is the reference pooling
 * of amm's own last map (layer2) with the view's weights, at a size that divides (64 → 8) and one
 * that does not (50 → 7); a BYOL step trains it. */
static void check_amm(am_pooling pooling, am_module_kind kind)
{
    const char *what = am_pooling_name(pooling);
    am_model_spec spec = {"amm", NULL, 1, pooling, 1};
    am_net *net = NULL;
    CHECK_OK(am_model_create(&net, &spec, 3));
    if (!net) return;
    am_module *m = am_net_find_module(net, AM_MODEL_HIDDEN_LAYER);
    CHECK(m && am_module_kind_of(m) == kind, "amm %s: avgpool is a %s", what,
          m ? am_module_kind_name(am_module_kind_of(m)) : "(none)");
    am_net_set_mode(net, AM_MODE_EVAL);
    const int sizes[2] = {64, 50};
    for (int t = 0; t < 2; t++) {
        int s = sizes[t];
        am_tensor x, map = {0}, y = {0};
        CHECK_OK(am_tensor_alloc4(&x, 2, 1, s, s));
        for (int64_t i = 0; i < am_tensor_numel(&x); i++) {
            int64_t px = i % s, py = i / s % s;
            double r2 = (double)((px - s / 3) * (px - s / 3) + (py - s / 2) * (py - s / 2));
            x.data[i] = (float)(exp(-r2 / (double)(s * s / 30)) - 0.05 + 0.02 * sin((double)i));
        }
        CHECK_OK(am_net_forward(net, &x, "layer2", &map));
        CHECK_OK(am_net_forward(net, &x, AM_MODEL_HIDDEN_LAYER, &y));
        int c = (int)map.shape[1], mh = (int)map.shape[2], mw = (int)map.shape[3];
        double ref[2 * 128];
        float reff[2 * 128];
        ref_pool(kind, map.data, c, mh, mw, x.data, 1, s, s, 2, ref);
        for (int i = 0; i < 2 * c; i++) reff[i] = (float)ref[i];
        char label[96];
        snprintf(label, sizeof label, "amm %s at %dx%d (map %dx%d)", what, s, s, mh, mw);
        CHECK(am_tensor_numel(&y) == 2 * c, "%s: %lld features", label, (long long)am_tensor_numel(&y));
        am_test_close(label, y.data, reff, 2 * c, 1e-5, 1e-6);
        am_tensor_free(&x), am_tensor_free(&map), am_tensor_free(&y);
    }
    am_byol_options o;
    am_byol_options_default(&o);
    o.projection_size = 8, o.projection_hidden_size = 16, o.seed = 2, o.loss = AM_BYOL_LOSS_SYMMETRIC;
    am_byol *b = NULL;
    CHECK_OK(am_byol_create(&b, net, &o));
    if (!b) return;
    am_byol_set_mode(b, AM_MODE_TRAIN);
    am_tensor v1, v2;
    CHECK_OK(am_tensor_alloc4(&v1, 4, 1, 32, 32));
    CHECK_OK(am_tensor_alloc4(&v2, 4, 1, 32, 32));
    for (int64_t i = 0; i < am_tensor_numel(&v1); i++) {
        v1.data[i] = (float)(0.5 + 0.5 * sin(0.37 * (double)i));
        v2.data[i] = (float)(0.5 + 0.5 * cos(0.11 * (double)i));
    }
    double l;
    am_byol_zero_grad(b);
    CHECK_OK(am_byol_step(b, &v1, &v2, 1.0f, &l));
    double g = 0;
    for (size_t i = 0; i < am_byol_param_count(b); i++) {
        am_param *p = am_byol_param(b, i);
        if (strcmp(p->name, "conv1.weight") != 0) continue;
        for (int64_t k = 0; k < am_tensor_numel(&p->grad); k++) g += fabs(p->grad.data[k]);
    }
    CHECK(isfinite(l) && g > 0, "amm %s: a BYOL step (loss %g) reaches conv1 (|grad| %g)", what, l, g);
    am_tensor_free(&v1), am_tensor_free(&v2);
    am_byol_free(b);
}

/* A model file records the pooling and am_model_open rebuilds it, so that inference embeds as
 * training did; a file without the key is the average (older files); an unknown one is refused. */
static void check_model_file(void)
{
    const char *dir = am_test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/gem.safetensors", dir);
    am_model_spec spec = {"amm", NULL, 1, AM_POOLING_GEM, 1};
    am_net *net = NULL;
    am_byol *b = NULL;
    am_byol_options o;
    am_byol_options_default(&o);
    o.projection_size = 8, o.projection_hidden_size = 16;
    CHECK_OK(am_model_create(&net, &spec, 4));
    CHECK_OK(am_byol_create(&b, net, &o));
    if (!b) return;
    const char *keys[] = {AM_META_NETWORK, AM_META_CHANNELS, AM_META_STACKSIZE, AM_META_POOLING};
    const char *vals[] = {"amm", "1", "1", "gem"};
    for (int t = 0; t < 3; t++) {
        vals[3] = t == 0 ? "gem" : t == 1 ? "max" : "average";
        CHECK_OK(am_byol_save(b, path, keys, vals, t == 2 ? 3 : 4)); /* t = 2: no pooling key */
        am_model m;
        am_status st = am_model_open(&m, path);
        if (t == 1) {
            CHECK(st == AM_ERR_FORMAT && strstr(am_errmsg(), "pooling"), "an unknown pooling is refused: %s",
                  am_errmsg());
            continue;
        }
        CHECK_OK(st);
        if (st != AM_OK) continue;
        am_pooling want = t == 0 ? AM_POOLING_GEM : AM_POOLING_AVERAGE;
        am_module *pool = am_net_find_module(am_byol_network(m.byol), AM_MODEL_HIDDEN_LAYER);
        CHECK(m.pooling == want && pool &&
                  am_module_kind_of(pool) == (t == 0 ? AM_MOD_GEM_POOL2D : AM_MOD_ADAPTIVE_AVGPOOL2D),
              "model file %d: pooling %s rebuilt", t, am_pooling_name(m.pooling));
        if (t == 0) {
            am_tensor x, e1 = {0}, e2 = {0};
            CHECK_OK(am_tensor_alloc4(&x, 2, 1, 40, 40));
            for (int64_t i = 0; i < am_tensor_numel(&x); i++) x.data[i] = (float)(0.5 + 0.5 * sin(0.21 * (double)i));
            am_byol_set_mode(b, AM_MODE_EVAL);
            CHECK_OK(am_byol_embed(b, &x, &e1));
            CHECK_OK(am_byol_embed(m.byol, &x, &e2));
            am_test_close("the opened gem model embeds as the trained one", e2.data, e1.data, am_tensor_numel(&e1),
                          1e-6, 1e-6);
            am_tensor_free(&x), am_tensor_free(&e1), am_tensor_free(&e2);
        }
        am_model_close(&m);
    }
    am_byol_free(b);
}

int main(void)
{
    check_kind(AM_MOD_INTENSITY_POOL2D, 3);
    check_kind(AM_MOD_INTENSITY_POOL2D, 16); /* oneDNN's blocked layout */
    check_kind(AM_MOD_GEM_POOL2D, 3);
    check_kind(AM_MOD_GEM_POOL2D, 16);
    check_constant();
    check_amm(AM_POOLING_AVERAGE, AM_MOD_ADAPTIVE_AVGPOOL2D);
    check_amm(AM_POOLING_INTENSITY, AM_MOD_INTENSITY_POOL2D);
    check_amm(AM_POOLING_GEM, AM_MOD_GEM_POOL2D);
    check_model_file();
    return am_test_finish();
}
