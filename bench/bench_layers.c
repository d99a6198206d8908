/* Layer benchmark: the ResNet18 convolutions of a 4×3×100×100 batch, forward and backward
 * (weights and data) GFLOP/s per layer, and a whole hand-built ResNet18 training step (forward +
 * backward through everything: convolutions, BatchNorm, ReLU, pooling, residual adds, fc), each
 * against this machine's FP32 FMA peak measured in the same run.
 *   bench_layers [threads=2] [iterations=10]
 * FLOPs are 2 × multiply-adds of convolutions and linear layers; a backward pass costs twice the
 * forward (weights + data), except that the first convolution's data gradient is never needed. */
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "astromorph/nn.h"
#include "astromorph/rng.h"
#include "astromorph/runtime.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* 12 independent FMA chains per thread hide the FMA latency (4 cycles × 2 ports + slack). */
__attribute__((target("avx512f"))) static float fma_avx512(long iters)
{
    __m512 a[12], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int k = 0; k < 12; k++) a[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 12; k++) a[k] = _mm512_fmadd_ps(a[k], m, c);
    __m512 s = a[0];
    for (int k = 1; k < 12; k++) s = _mm512_add_ps(s, a[k]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_avx2(long iters)
{
    __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int k = 0; k < 12; k++) a[k] = _mm256_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 12; k++) a[k] = _mm256_fmadd_ps(a[k], m, c);
    float out[8];
    __m256 s = a[0];
    for (int k = 1; k < 12; k++) s = _mm256_add_ps(s, a[k]);
    _mm256_storeu_ps(out, s);
    return out[0] + out[7];
}

/* FP32 FMA peak of `threads` threads, GFLOP/s (best of 3). */
static double fma_peak(int threads, const char **isa)
{
    int wide = __builtin_cpu_supports("avx512f");
    int lanes = wide ? 16 : 8;
    long iters = 20000000;
    double best = 0;
    volatile float sink = 0;
    *isa = wide ? "AVX-512" : "AVX2";
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
#pragma omp parallel num_threads(threads)
        {
            float r = wide ? fma_avx512(iters) : fma_avx2(iters);
#pragma omp atomic
            sink += r;
        }
        double t = now() - t0;
        best = fmax(best, 2.0 * lanes * 12 * (double)iters * threads / t * 1e-9);
    }
    (void)sink;
    return best;
}

static void fill(am_tensor *t, uint64_t seed)
{
    am_rng r;
    am_rng_init(&r, seed, 0);
    for (int64_t i = 0; i < am_tensor_numel(t); i++) t->data[i] = (float)am_rng_normal(&r);
}

static int die(const char *what)
{
    fprintf(stderr, "bench_layers: %s: %s\n", what, am_errmsg());
    exit(1);
}

typedef struct conv_case {
    const char *name;
    int cin, cout, k, s, p, hw, count;
} conv_case;

/* Median of n timings. */
static double median(double *t, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Times one convolution: forward, backward-weights, backward-data (seconds, medians). */
static void time_conv(const conv_case *c, int iters, double *tf, double *tw, double *td, double *flops)
{
    am_net *net;
    am_tensor x, y = {0}, dy;
    double f[64], w[64], d[64];
    if (am_net_create(&net, am_conv2d("conv", c->cin, c->cout, c->k, c->s, c->p, 0), 1) != AM_OK) die(c->name);
    if (am_tensor_alloc4(&x, 4, c->cin, c->hw, c->hw) != AM_OK) die(c->name);
    fill(&x, 2);
    int64_t shape[4] = {4, c->cin, c->hw, c->hw};
    *flops = am_net_forward_flops(net, shape, NULL);
    if (am_net_forward(net, &x, NULL, &y) != AM_OK) die(c->name);
    if (am_tensor_clone(&dy, &y) != AM_OK) die(c->name);
    fill(&dy, 3);
    for (int i = -2; i < iters; i++) { /* two warm-up rounds */
        double t0 = now();
        if (am_net_forward(net, &x, NULL, &y) != AM_OK) die(c->name);
        double t1 = now();
        if (am_net_backward(net, &dy) != AM_OK) die(c->name);
        double t2 = now();
        if (!am_net_input_grad(net)) die(c->name);
        double t3 = now();
        if (i >= 0) f[i] = t1 - t0, w[i] = t2 - t1, d[i] = t3 - t2;
    }
    *tf = median(f, iters);
    *tw = median(w, iters);
    *td = median(d, iters);
    am_tensor_free(&x);
    am_tensor_free(&y);
    am_tensor_free(&dy);
    am_net_free(net);
}

/* torchvision's resnet18 (BasicBlock ×2 per stage, fc 512→1000), with its module names. */
static am_module *resnet18(void)
{
    am_module *root = am_sequential("");
    am_status st = AM_OK;
    static const int width[4] = {64, 128, 256, 512};
    int cin = 64;
    char name[16];
#define ADD(p, c) \
    if (st == AM_OK) st = am_module_add(p, c)
    ADD(root, am_conv2d("conv1", 3, 64, 7, 2, 3, 0));
    ADD(root, am_batchnorm2d("bn1", 64));
    ADD(root, am_relu("relu"));
    ADD(root, am_maxpool2d("maxpool", 3, 2, 1));
    for (int l = 0; l < 4 && st == AM_OK; l++) {
        snprintf(name, sizeof name, "layer%d", l + 1);
        am_module *layer = am_sequential(name);
        for (int b = 0; b < 2; b++) {
            int stride = (l > 0 && b == 0) ? 2 : 1, w = width[l];
            snprintf(name, sizeof name, "%d", b);
            am_module *blk = am_residual(name);
            ADD(blk, am_conv2d("conv1", cin, w, 3, stride, 1, 0));
            ADD(blk, am_batchnorm2d("bn1", w));
            ADD(blk, am_relu("relu"));
            ADD(blk, am_conv2d("conv2", w, w, 3, 1, 1, 0));
            ADD(blk, am_batchnorm2d("bn2", w));
            if (stride != 1 || cin != w) {
                am_module *ds = am_sequential("downsample");
                ADD(ds, am_conv2d("0", cin, w, 1, stride, 0, 0));
                ADD(ds, am_batchnorm2d("1", w));
                ADD(blk, ds);
            }
            ADD(layer, blk);
            cin = w;
        }
        ADD(root, layer);
    }
    ADD(root, am_adaptive_avgpool2d("avgpool"));
    ADD(root, am_flatten("flatten"));
    ADD(root, am_linear("fc", 512, 1000, 1));
#undef ADD
    if (st != AM_OK) die("building resnet18");
    return root;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2, iters = argc > 2 ? atoi(argv[2]) : 10;
    if (threads < 1) threads = 1;
    if (iters < 1 || iters > 64) iters = 10;
    am_set_threads(threads);
    const char *isa;
    double peak = fma_peak(threads, &isa);
    printf("threads %d, FP32 FMA peak (%s, measured) %.1f GFLOP/s; medians of %d runs; timings on a shared\n"
           "machine are noisy: compare the ratios, not the absolute numbers\n\n",
           threads, isa, peak, iters);

    static const conv_case cases[] = {
        {"conv1 7x7/2", 3, 64, 7, 2, 3, 100, 1},        {"layer1 3x3", 64, 64, 3, 1, 1, 25, 4},
        {"layer2.0.conv1 3x3/2", 64, 128, 3, 2, 1, 25, 1}, {"layer2 3x3", 128, 128, 3, 1, 1, 13, 3},
        {"layer2 downsample 1x1/2", 64, 128, 1, 2, 0, 25, 1}, {"layer3.0.conv1 3x3/2", 128, 256, 3, 2, 1, 13, 1},
        {"layer3 3x3", 256, 256, 3, 1, 1, 7, 3},        {"layer3 downsample 1x1/2", 128, 256, 1, 2, 0, 13, 1},
        {"layer4.0.conv1 3x3/2", 256, 512, 3, 2, 1, 7, 1}, {"layer4 3x3", 512, 512, 3, 1, 1, 4, 3},
        {"layer4 downsample 1x1/2", 256, 512, 1, 2, 0, 7, 1},
    };
    printf("%-26s %5s %8s | %8s %7s | %8s %7s | %8s %7s\n", "ResNet18 conv (4x3x100x100)", "count", "GFLOP", "fwd ms",
           "GFLOP/s", "bwd-w ms", "GFLOP/s", "bwd-d ms", "GFLOP/s");
    double tot_flops = 0, tot_time = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const conv_case *c = &cases[i];
        double tf, tw, td, fl;
        time_conv(c, iters, &tf, &tw, &td, &fl);
        int first = i == 0; /* the network input needs no gradient */
        printf("%-26s %5d %8.3f | %8.3f %7.1f | %8.3f %7.1f | %8.3f %7.1f%s\n", c->name, c->count, fl * 1e-9, tf * 1e3,
               fl / tf * 1e-9, tw * 1e3, fl / tw * 1e-9, td * 1e3, fl / td * 1e-9, first ? " (not needed)" : "");
        tot_flops += c->count * fl * (first ? 2 : 3);
        tot_time += c->count * (tf + tw + (first ? 0 : td));
    }
    printf("%-26s %5s %8.3f | all convolutions, forward + backward: %.1f ms, %.1f GFLOP/s = %.0f %% of peak\n\n",
           "total", "", tot_flops * 1e-9, tot_time * 1e3, tot_flops / tot_time * 1e-9,
           100 * tot_flops / tot_time * 1e-9 / peak);

    am_net *net;
    am_tensor x, y = {0}, dy;
    double tf[64], tb[64];
    if (am_net_create(&net, resnet18(), 1) != AM_OK) die("resnet18");
    if (am_tensor_alloc4(&x, 4, 3, 100, 100) != AM_OK) die("input");
    fill(&x, 5);
    int64_t shape[4] = {4, 3, 100, 100};
    double fwd = am_net_forward_flops(net, shape, NULL), first = am_net_forward_flops(net, shape, "conv1");
    double step = 3 * fwd - first;
    if (am_net_forward(net, &x, NULL, &y) != AM_OK) die("resnet18 forward");
    if (am_tensor_clone(&dy, &y) != AM_OK) die("dy");
    fill(&dy, 6);
    for (int i = -2; i < iters; i++) {
        double t0 = now();
        if (am_net_forward(net, &x, NULL, &y) != AM_OK) die("resnet18 forward");
        double t1 = now();
        am_net_zero_grad(net);
        if (am_net_backward(net, &dy) != AM_OK) die("resnet18 backward");
        double t2 = now();
        if (i >= 0) tf[i] = t1 - t0, tb[i] = t2 - t1;
    }
    double mf = median(tf, iters), mb = median(tb, iters);
    printf("ResNet18 training step (train mode, 4x3x100x100, everything incl. BatchNorm/ReLU/pool/add/fc):\n"
           "  forward %.2f ms (%.1f GFLOP/s), backward %.2f ms (%.1f GFLOP/s)\n"
           "  forward + backward %.2f ms for %.2f GFLOP: %.1f GFLOP/s = %.0f %% of the measured FMA peak\n",
           mf * 1e3, fwd / mf * 1e-9, mb * 1e3, (step - fwd) / mb * 1e-9, (mf + mb) * 1e3, step * 1e-9,
           step / (mf + mb) * 1e-9, 100 * step / (mf + mb) * 1e-9 / peak);
    am_tensor_free(&x);
    am_tensor_free(&y);
    am_tensor_free(&dy);
    am_net_free(net);
    return 0;
}
