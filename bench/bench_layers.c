/* Layer benchmark: the ResNet18 convolutions of a 4×3×100×100 batch, forward and backward
 * (weights and data) GFLOP/s per layer, and a whole hand-built ResNet18 training step (forward +
 * backward through everything: convolutions, BatchNorm, ReLU, pooling, residual adds, fc), each
 * against this machine's FP32 FMA peak measured in the same run.
 *   bench_layers [threads=2] [rounds=5]
 * FLOPs are 2 × multiply-adds of convolutions and linear layers; a backward pass costs twice the
 * forward (weights + data), except that the first convolution's data gradient is never needed.
 * On a shared machine run it with OMP_WAIT_POLICY=passive: libgomp's spinning threads otherwise
 * fight the other loads for the cores (measured: a forward pass 20x slower). */
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

/* 12 independent FMA chains per thread hide the FMA latency (4 cycles × 2 ports + slack); named
 * variables, not an array, so that they stay in registers. */
#define FMA12(fma, a, m, c)                                                                                            \
    a##0 = fma(a##0, m, c), a##1 = fma(a##1, m, c), a##2 = fma(a##2, m, c), a##3 = fma(a##3, m, c),                    \
    a##4 = fma(a##4, m, c), a##5 = fma(a##5, m, c), a##6 = fma(a##6, m, c), a##7 = fma(a##7, m, c),                    \
    a##8 = fma(a##8, m, c), a##9 = fma(a##9, m, c), a##10 = fma(a##10, m, c), a##11 = fma(a##11, m, c)
#define SUM12(add, a)                                                                                                  \
    add(add(add(add(a##0, a##1), add(a##2, a##3)), add(add(a##4, a##5), add(a##6, a##7))),                             \
        add(add(a##8, a##9), add(a##10, a##11)))

__attribute__((target("avx512f"))) static float fma_avx512(long iters)
{
    __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3);
    __m512 a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5), a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7);
    __m512 a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9), a10 = _mm512_set1_ps(10), a11 = _mm512_set1_ps(11);
    for (long i = 0; i < iters; i++) FMA12(_mm512_fmadd_ps, a, m, c);
    return _mm512_reduce_add_ps(SUM12(_mm512_add_ps, a));
}

__attribute__((target("avx2,fma"))) static float fma_avx2(long iters)
{
    __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2), a3 = _mm256_set1_ps(3);
    __m256 a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5), a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7);
    __m256 a8 = _mm256_set1_ps(8), a9 = _mm256_set1_ps(9), a10 = _mm256_set1_ps(10), a11 = _mm256_set1_ps(11);
    for (long i = 0; i < iters; i++) FMA12(_mm256_fmadd_ps, a, m, c);
    float out[8];
    _mm256_storeu_ps(out, SUM12(_mm256_add_ps, a));
    return out[0] + out[7];
}

/* Seconds per call of fn(ctx): calls run in rounds of at least 20 ms, and the best round of
 * `rounds` counts. On a shared machine other loads only ever add time, and short intervals are
 * unreliable, so the FMA peak and the layers are measured the same way. */
typedef double (*work_fn)(void *ctx); /* returns the seconds of the part being measured */

static double per_call(work_fn fn, void *ctx, int rounds)
{
    double bestt = 1e30;
    fn(ctx); /* warm-up: primitive creation, first touch */
    for (int r = 0; r < rounds; r++) {
        long calls = 0;
        double t0 = am_monotonic_seconds(), part = 0;
        do {
            part += fn(ctx);
            calls++;
        } while (am_monotonic_seconds() - t0 < 0.02);
        bestt = fmin(bestt, part / (double)calls);
    }
    return bestt;
}

typedef struct fma_ctx {
    int threads, wide;
    volatile float sink;
} fma_ctx;

#define FMA_ITERS 100000L

static double fma_burst(void *p)
{
    fma_ctx *c = p;
    double t0 = am_monotonic_seconds();
#pragma omp parallel num_threads(c->threads)
    {
        float r = c->wide ? fma_avx512(FMA_ITERS) : fma_avx2(FMA_ITERS);
#pragma omp atomic
        c->sink += r;
    }
    return am_monotonic_seconds() - t0;
}

/* FP32 FMA peak of `threads` threads, GFLOP/s. */
static double fma_peak(int threads, int rounds, const char **isa)
{
    fma_ctx c = {threads, __builtin_cpu_supports("avx512f"), 0};
    *isa = c.wide ? "AVX-512" : "AVX2";
    double t = per_call(fma_burst, &c, rounds);
    return 2.0 * (c.wide ? 16 : 8) * 12 * (double)FMA_ITERS * threads / t * 1e-9;
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

typedef struct net_ctx {
    am_net *net;
    am_tensor x, y, dy;
    int what; /* 0 forward, 1 backward, 2 input gradient (after an untimed backward), 3 forward + backward */
} net_ctx;

static double net_work(void *p)
{
    net_ctx *c = p;
    double t0 = am_monotonic_seconds();
    if (c->what == 0 || c->what == 3)
        if (am_net_forward(c->net, &c->x, NULL, &c->y) != AM_OK) die("forward");
    if (c->what >= 1) {
        am_net_zero_grad(c->net);
        if (am_net_backward(c->net, &c->dy) != AM_OK) die("backward");
    }
    if (c->what == 2) {
        t0 = am_monotonic_seconds();
        if (!am_net_input_grad(c->net)) die("input gradient");
    }
    return am_monotonic_seconds() - t0;
}

static void net_ctx_init(net_ctx *c, am_module *root, int64_t ch, int64_t hw)
{
    memset(c, 0, sizeof *c);
    if (am_net_create(&c->net, root, 1) != AM_OK) die("network");
    if (am_tensor_alloc4(&c->x, 4, ch, hw, hw) != AM_OK) die("input");
    fill(&c->x, 2);
    if (am_net_forward(c->net, &c->x, NULL, &c->y) != AM_OK) die("forward");
    if (am_tensor_clone(&c->dy, &c->y) != AM_OK) die("gradient");
    fill(&c->dy, 3);
}

static void net_ctx_free(net_ctx *c)
{
    am_tensor_free(&c->x);
    am_tensor_free(&c->y);
    am_tensor_free(&c->dy);
    am_net_free(c->net);
}

/* Times one convolution: forward, backward-weights, backward-data (seconds per call). */
static void time_conv(const conv_case *c, int rounds, double *tf, double *tw, double *td, double *flops)
{
    net_ctx n;
    net_ctx_init(&n, am_conv2d("conv", c->cin, c->cout, c->k, c->s, c->p, 0), c->cin, c->hw);
    int64_t shape[4] = {4, c->cin, c->hw, c->hw};
    *flops = am_net_forward_flops(n.net, shape, NULL);
    n.what = 0;
    *tf = per_call(net_work, &n, rounds);
    n.what = 1;
    *tw = per_call(net_work, &n, rounds);
    n.what = 2;
    *td = per_call(net_work, &n, rounds);
    net_ctx_free(&n);
}

/* torchvision's resnet18 (BasicBlock ×2 per stage, fc 512→1000), with its module names. */
static am_module *resnet18(void)
{
    am_module *root = am_sequential("");
    am_status st = AM_OK;
    static const int width[4] = {64, 128, 256, 512};
    int cin = 64;
    char name[16];
#define ADD(p, c)                                                                                                      \
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
    int threads = argc > 1 ? atoi(argv[1]) : 2, rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (threads < 1) threads = 1;
    if (rounds < 1) rounds = 5;
    am_set_threads(threads);
    const char *isa;
    double peak = fma_peak(threads, 4 * rounds, &isa);
    printf("threads %d, FP32 FMA peak (%s, measured) %.1f GFLOP/s; best of %d rounds of >= 20 ms; timings\n"
           "on a shared machine are noisy: compare the ratios, not the absolute numbers\n\n",
           threads, isa, peak, rounds);
    static const conv_case cases[] = {
        {"conv1 7x7/2", 3, 64, 7, 2, 3, 100, 1},
        {"layer1 3x3", 64, 64, 3, 1, 1, 25, 4},
        {"layer2.0.conv1 3x3/2", 64, 128, 3, 2, 1, 25, 1},
        {"layer2 3x3", 128, 128, 3, 1, 1, 13, 3},
        {"layer2 downsample 1x1/2", 64, 128, 1, 2, 0, 25, 1},
        {"layer3.0.conv1 3x3/2", 128, 256, 3, 2, 1, 13, 1},
        {"layer3 3x3", 256, 256, 3, 1, 1, 7, 3},
        {"layer3 downsample 1x1/2", 128, 256, 1, 2, 0, 13, 1},
        {"layer4.0.conv1 3x3/2", 256, 512, 3, 2, 1, 7, 1},
        {"layer4 3x3", 512, 512, 3, 1, 1, 4, 3},
        {"layer4 downsample 1x1/2", 256, 512, 1, 2, 0, 7, 1},
    };
    printf("%-26s %5s %8s | %8s %7s | %8s %7s | %8s %7s\n", "ResNet18 conv (4x3x100x100)", "count", "GFLOP", "fwd ms",
           "GFLOP/s", "bwd-w ms", "GFLOP/s", "bwd-d ms", "GFLOP/s");
    double tot_flops = 0, tot_time = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const conv_case *c = &cases[i];
        double tf, tw, td, fl;
        time_conv(c, rounds, &tf, &tw, &td, &fl);
        int first = i == 0; /* the network input needs no gradient */
        printf("%-26s %5d %8.3f | %8.3f %7.1f | %8.3f %7.1f | %8.3f %7.1f%s\n", c->name, c->count, fl * 1e-9, tf * 1e3,
               fl / tf * 1e-9, tw * 1e3, fl / tw * 1e-9, td * 1e3, fl / td * 1e-9, first ? " (not needed)" : "");
        tot_flops += c->count * fl * (first ? 2 : 3);
        tot_time += c->count * (tf + tw + (first ? 0 : td));
    }
    printf("%-26s %5s %8.3f | all convolutions, forward + backward: %.1f ms, %.1f GFLOP/s = %.0f %% of peak\n\n",
           "total", "", tot_flops * 1e-9, tot_time * 1e3, tot_flops / tot_time * 1e-9,
           100 * tot_flops / tot_time * 1e-9 / peak);

    net_ctx n;
    net_ctx_init(&n, resnet18(), 3, 100);
    int64_t shape[4] = {4, 3, 100, 100};
    double fwd = am_net_forward_flops(n.net, shape, NULL), first = am_net_forward_flops(n.net, shape, "conv1");
    double step = 3 * fwd - first;
    printf("ResNet18 training step (train mode, 4x3x100x100, everything incl. BatchNorm/ReLU/pool/add/fc):\n");
    for (int prec = 0; prec < 2; prec++) {
        if (am_net_set_precision(n.net, prec ? AM_PRECISION_BF16 : AM_PRECISION_FP32) != AM_OK) die("precision");
        n.what = 0;
        double mf = per_call(net_work, &n, rounds);
        n.what = 1;
        double mb = per_call(net_work, &n, rounds);
        n.what = 3;
        double ms = per_call(net_work, &n, rounds);
        printf("  %s: forward %.2f ms (%.1f GFLOP/s), backward %.2f ms (%.1f GFLOP/s), timed apart\n"
               "        forward + backward %.2f ms for %.2f GFLOP: %.1f GFLOP/s = %.0f %% of the FP32 FMA peak\n",
               prec ? "BF16" : "FP32", mf * 1e3, fwd / mf * 1e-9, mb * 1e3, (step - fwd) / mb * 1e-9, ms * 1e3,
               step * 1e-9, step / ms * 1e-9, 100 * step / ms * 1e-9 / peak);
    }
    if (am_net_set_precision(n.net, AM_PRECISION_FP32) != AM_OK) die("precision");
    /* Where a step's time goes, per layer kind. */
    am_net_set_profiling(n.net, 1);
    int steps = 2 * rounds;
    for (int i = 0; i < steps; i++) (void)net_work(&n);
    const am_net_profile *pr = am_net_get_profile(n.net);
    printf("\n  FP32, per step, by layer kind (profiled, %d steps):\n  %-18s %6s %9s %9s\n", steps, "kind", "calls",
           "fwd ms", "bwd ms");
    double sum = 0;
    for (int k = 0; k < AM_MOD_KINDS; k++) {
        if (!pr->forward_calls[k] && !pr->backward_calls[k]) continue;
        printf("  %-18s %6ld %9.2f %9.2f\n", am_module_kind_name((am_module_kind)k), pr->forward_calls[k] / steps,
               pr->forward_s[k] / steps * 1e3, pr->backward_s[k] / steps * 1e3);
        sum += (pr->forward_s[k] + pr->backward_s[k]) / steps;
    }
    printf("  %-18s %6s %19.2f (Residual: its own add + ReLU)\n", "sum", "", sum * 1e3);
    net_ctx_free(&n);
    return 0;
}
