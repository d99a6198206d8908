/* Training and inference speed and memory of the whole method, through the library's public API
 * (dataset, trainer, BYOL core), on generated FITS sets. One configuration per process, so the
 * peak RSS printed is that configuration's own.
 *
 *   bench_train crop OUTDIR --data LIST --min A --max B [--seed K]
 *       the variable-size set: a random A..B × A..B window near the centre of each image of LIST
 *       (a bench/synthetic_set set of larger images), written as OUTDIR/img_NNNN.fits + files.txt
 *   bench_train peak                        measured FP32 FMA peak of this machine (GFLOP/s)
 *   bench_train train  --data LIST [options]  trainer run: images/s, GFLOP/s, % of peak, RSS
 *   bench_train infer  --data LIST [options]  embeddings: one at a time, parallel, batched
 *   bench_train phases --data LIST [options]  a trainer run, then where its last epoch's time went
 *                                              (am_trainer_times: the path users run)
 * options: --network resnet|amm (resnet = n_layer_resnet to layer4, stacksize 3; amm: stacksize 1)
 *          --images N (first N of the list) --epochs E --threads T --batch B
 *          --settings original|ours (trainer defaults; original: one image per forward)
 *          --precision fp32|bf16 (BF16 convolutions, FP32 master weights)
 *          --replicas R (trainer replicas, 0: the trainer's default)
 * Every mode ends with one line "RESULT key=value ..." for scripts/bench and compare_reference. */
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "astromorph/augment.h"
#include "astromorph/byol.h"
#include "astromorph/dataset.h"
#include "astromorph/fits.h"
#include "astromorph/models.h"
#include "astromorph/pipeline.h"
#include "astromorph/rng.h"
#include "astromorph/runtime.h"
#include "astromorph/train.h"
#include "core/internal.h"

#define CHECK(expr)                                                                                                    \
    do {                                                                                                               \
        am_status chk_ = (expr);                                                                                       \
        if (chk_ != AM_OK) {                                                                                           \
            fprintf(stderr, "bench_train: %s (%s)\n", am_errmsg(), am_status_name(chk_));                              \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
}

/* ---- FMA peak: independent accumulators so the loop is bound by FMA throughput, not latency ---- */

#define PEAK_ACC 12
__attribute__((target("avx512f"))) static float fma_avx512(long iters)
{
    __m512 acc[PEAK_ACC];
    const __m512 b = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-4f);
    for (int k = 0; k < PEAK_ACC; k++) acc[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 16 /* keeps acc[] in registers */
        for (int k = 0; k < PEAK_ACC; k++) acc[k] = _mm512_fmadd_ps(acc[k], b, c);
    __m512 s = acc[0];
    for (int k = 1; k < PEAK_ACC; k++) s = _mm512_add_ps(s, acc[k]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_avx2(long iters)
{
    __m256 acc[PEAK_ACC];
    const __m256 b = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-4f);
    for (int k = 0; k < PEAK_ACC; k++) acc[k] = _mm256_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 16 /* keeps acc[] in registers */
        for (int k = 0; k < PEAK_ACC; k++) acc[k] = _mm256_fmadd_ps(acc[k], b, c);
    __m256 s = acc[0];
    for (int k = 1; k < PEAK_ACC; k++) s = _mm256_add_ps(s, acc[k]);
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0] + v[7];
}

static volatile float peak_sink;

/* GFLOP/s of `threads` threads: bursts in rounds of >= 20 ms, the best round counts (other loads
 * on a shared machine only ever add time). */
static double fma_rounds(int threads, int avx512)
{
    const long iters = 100000;
    const double flop = (double)iters * PEAK_ACC * (avx512 ? 16 : 8) * 2 * threads;
    double best = 0;
    for (int round = 0; round < 15; round++) {
        long bursts = 0;
        double t0 = am_monotonic_seconds(), t;
        do {
#pragma omp parallel num_threads(threads)
            {
                float r = avx512 ? fma_avx512(iters) : fma_avx2(iters);
#pragma omp atomic
                peak_sink += r;
            }
            bursts++;
            t = am_monotonic_seconds() - t0;
        } while (t < 0.02);
        double g = flop * (double)bursts / t * 1e-9;
        if (g > best) best = g;
    }
    return best;
}

/* The machine's FP32 FMA peak for up to `threads` threads: the best of 1 and `threads` threads
 * (two vCPUs may share one core's FMA units). */
static double fma_peak_gflops(int threads, const char **isa)
{
    const int avx512 = __builtin_cpu_supports("avx512f");
    *isa = avx512 ? "AVX-512" : "AVX2";
    double one = fma_rounds(1, avx512), all = threads > 1 ? fma_rounds(threads, avx512) : one;
    return one > all ? one : all;
}

/* ---- options ---- */

typedef struct {
    const char *mode, *data, *dir, *network, *settings, *precision;
    int min, max, images, epochs, threads, batch, replicas;
    uint64_t seed;
} opts;

static void usage(void)
{
    fprintf(stderr, "usage: bench_train crop OUTDIR --data LIST --min A --max B [--seed K]\n"
                    "       bench_train peak [--threads T]\n"
                    "       bench_train train|infer|phases --data LIST [--network resnet|amm] [--images N]\n"
                    "                   [--epochs E] [--threads T] [--batch B] [--settings original|ours]\n"
                    "                   [--precision fp32|bf16] [--replicas R]\n");
    exit(2);
}

static opts parse(int argc, char **argv)
{
    opts o = {.network = "resnet",
              .settings = "original",
              .precision = "fp32",
              .epochs = 2,
              .threads = 0,
              .batch = 16,
              .seed = 1};
    if (argc < 2) usage();
    o.mode = argv[1];
    int i = 2;
    if (!strcmp(o.mode, "crop")) {
        if (argc < 3) usage();
        o.dir = argv[2];
        i = 3;
    }
    for (; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (!strcmp(a, "--data")) o.data = v;
        else if (!strcmp(a, "--network")) o.network = v;
        else if (!strcmp(a, "--settings")) o.settings = v;
        else if (!strcmp(a, "--precision")) o.precision = v;
        else if (!strcmp(a, "--min")) o.min = atoi(v);
        else if (!strcmp(a, "--max")) o.max = atoi(v);
        else if (!strcmp(a, "--images")) o.images = atoi(v);
        else if (!strcmp(a, "--epochs")) o.epochs = atoi(v);
        else if (!strcmp(a, "--threads")) o.threads = atoi(v);
        else if (!strcmp(a, "--batch")) o.batch = atoi(v);
        else if (!strcmp(a, "--replicas")) o.replicas = atoi(v);
        else if (!strcmp(a, "--seed")) o.seed = strtoull(v, NULL, 10);
        else usage();
    }
    if (strcmp(o.network, "resnet") && strcmp(o.network, "amm")) usage();
    if (strcmp(o.precision, "fp32") && strcmp(o.precision, "bf16")) usage();
    return o;
}

/* ---- crop: the variable-size set, cut from bench/synthetic_set's images (the generator
 * writes one size per set): a random H×W window of each, near its centre where the object is ---- */

static int crop_set(const opts *o)
{
    if (o->min < 8 || o->max < o->min || !o->data) usage();
    am_dataset *ds;
    CHECK(am_dataset_open(&ds, o->data, NULL));
    char path[4096];
    CHECK(am_mkdirs(o->dir));
    snprintf(path, sizeof path, "%s/files.txt", o->dir);
    FILE *list = fopen(path, "w");
    if (!list) {
        fprintf(stderr, "bench_train: cannot write %s\n", path);
        return 1;
    }
    double pixels = 0;
    int64_t n = am_dataset_size(ds);
    for (int64_t i = 0; i < n; i++) {
        am_tensor img, out;
        am_meta meta;
        CHECK(am_dataset_get(ds, i, &img, &meta));
        const int64_t c = img.shape[0], H = img.shape[1], W = img.shape[2];
        am_rng r;
        am_rng_init(&r, o->seed, am_rng_stream(0xc209, (uint64_t)i, 0));
        int64_t h = o->min + am_rng_below(&r, (uint32_t)(o->max - o->min + 1));
        int64_t w = o->min + am_rng_below(&r, (uint32_t)(o->max - o->min + 1));
        h = h < H ? h : H, w = w < W ? w : W;
        int64_t y0 =
            (H - h) / 2 + ((H - h) / 4 ? (int64_t)am_rng_below(&r, (uint32_t)((H - h) / 2 + 1)) - (H - h) / 4 : 0);
        int64_t x0 =
            (W - w) / 2 + ((W - w) / 4 ? (int64_t)am_rng_below(&r, (uint32_t)((W - w) / 2 + 1)) - (W - w) / 4 : 0);
        const int64_t shape[3] = {c, h, w};
        CHECK(am_tensor_alloc(&out, 3, shape));
        for (int64_t k = 0; k < c; k++)
            for (int64_t y = 0; y < h; y++)
                memcpy(out.data + (k * h + y) * w, img.data + (k * H + y0 + y) * W + x0, (size_t)w * sizeof(float));
        snprintf(path, sizeof path, "%s/img_%04lld.fits", o->dir, (long long)i);
        CHECK(am_fits_write(path, &out, &meta));
        fprintf(list, "img_%04lld.fits\n", (long long)i);
        pixels += (double)(h * w);
        am_tensor_free(&img), am_tensor_free(&out);
        am_meta_free(&meta);
    }
    fclose(list);
    am_dataset_free(ds);
    printf("RESULT mode=crop dir=%s images=%lld mean_pixels=%.0f\n", o->dir, (long long)n, pixels / (double)n);
    return 0;
}

/* ---- the data set and the model, as `astromorph training` builds them ---- */

typedef struct {
    am_dataset *ds;
    int64_t count;
    int stacksize;
    am_augment aug;
    am_dataset_source feed; /* the trainer's source, as am_pipeline_train makes it */
} source;

static void open_source(source *s, const opts *o)
{
    memset(s, 0, sizeof *s);
    if (!o->data) usage();
    CHECK(am_dataset_open(&s->ds, o->data, NULL));
    char *report = NULL;
    CHECK(am_dataset_validate(s->ds, &report));
    free(report);
    s->count = am_dataset_size(s->ds);
    if (o->images > 0 && o->images < s->count) s->count = o->images;
    s->stacksize = strcmp(o->network, "resnet") == 0 ? 3 : 1;
    am_augment_original(&s->aug);
    s->feed = (am_dataset_source){.ds = s->ds, .augment = &s->aug, .stacksize = s->stacksize};
}

static am_byol *make_byol(const opts *o, int channels)
{
    am_model_spec spec = {.network_name = strcmp(o->network, "resnet") == 0 ? "n_layer_resnet" : "amm",
                          .last_layer = "layer4",
                          .in_channels = channels};
    int dim;
    CHECK(am_model_embedding_dim(&spec, &dim));
    am_net *net;
    CHECK(am_model_create(&net, &spec, 42));
    /* Set before wrapping: the target and the replicas are clones and inherit it. */
    if (!strcmp(o->precision, "bf16")) CHECK(am_net_set_precision(net, AM_PRECISION_BF16));
    am_byol_options bo;
    am_byol_options_default(&bo);
    bo.representation_size = dim;
    bo.probe_channels = channels;
    am_byol *b;
    CHECK(am_byol_create(&b, net, &bo));
    return b;
}

/* FLOP of one forward of the online network to the embedding for an n-image batch of item i's
 * shape; a training image costs 4 of these for its 4 D2 copies: target forward, online forward,
 * backward (2×). */
static double item_flops(am_byol *b, const source *s, int64_t i, int64_t n)
{
    int64_t sh[3];
    CHECK(am_dataset_item_shape(s->ds, i, sh));
    const int64_t nchw[4] = {n, sh[0] * s->stacksize, sh[1], sh[2]};
    return am_net_forward_flops(am_byol_network(b), nchw, AM_MODEL_HIDDEN_LAYER);
}

static double mean_pixels(const source *s, const int64_t *idx, int64_t n)
{
    double px = 0;
    for (int64_t k = 0; k < n; k++) {
        int64_t sh[3];
        CHECK(am_dataset_item_shape(s->ds, idx ? idx[k] : k, sh));
        px += (double)sh[1] * (double)sh[2];
    }
    return n ? px / (double)n : 0;
}

static void header(const opts *o, double peak, const char *isa, int threads)
{
    char cpu[256] = "unknown CPU";
    FILE *fp = fopen("/proc/cpuinfo", "r");
    for (char line[512]; fp && fgets(line, sizeof line, fp);)
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            snprintf(cpu, sizeof cpu, "%s", strchr(line, ':') + 2);
            cpu[strcspn(cpu, "\n")] = 0;
            break;
        }
    if (fp) fclose(fp);
    printf("# %s, data %s, threads %d, FP32 FMA peak %.1f GFLOP/s (%s, measured now)\n", o->network, o->data, threads,
           peak, isa);
    printf("# CPU %s; oneDNN dispatches %s; precision %s\n", cpu, am_cpu_isa_name(), o->precision);
}

/* ---- train ---- */

typedef struct {
    double epoch_start, last_batch;
    double *train_s, *epoch_s;
    int64_t ntrain, ntest;
    const int64_t *train_idx;
    am_trainer *trainer;
    int last_epoch;
    am_train_times last_start; /* the trainer's times when the last epoch began */
} timing;

static void on_split(void *user, const int64_t *train_idx, int64_t ntrain, const int64_t *test_idx, int64_t ntest)
{
    timing *t = user;
    t->ntrain = ntrain, t->ntest = ntest;
    int64_t *copy = malloc((size_t)ntrain * sizeof *copy);
    if (copy) memcpy(copy, train_idx, (size_t)ntrain * sizeof *copy);
    t->train_idx = copy;
}

static void on_epoch_start(void *user, int epoch, double lr)
{
    timing *t = user;
    t->epoch_start = am_monotonic_seconds();
    if (epoch == t->last_epoch && t->trainer) am_trainer_times(t->trainer, &t->last_start);
}
static void on_batch(void *user, int epoch, int64_t step, double loss)
{
    ((timing *)user)->last_batch = am_monotonic_seconds();
}

static void on_epoch_end(void *user, int epoch, double train_loss, double test_loss, double seconds)
{
    timing *t = user;
    double tr = t->last_batch - t->epoch_start;
    t->train_s[epoch - 1] = tr, t->epoch_s[epoch - 1] = seconds;
    printf("epoch %d: training %.2f s (%.2f images/s), test pass %.2f s, loss %.4f / %.4f, peak RSS %.0f MiB\n", epoch,
           tr, (double)t->ntrain / tr, seconds - tr, train_loss, test_loss, peak_rss_mib());
    fflush(stdout);
}

static void print_phases(const timing *tm, int threads);

static int train(const opts *o, double peak, const char *isa, int threads, int phases)
{
    source s;
    open_source(&s, o);
    am_byol *b = make_byol(o, s.stacksize);
    am_train_settings ts;
    if (!strcmp(o->settings, "ours")) am_train_settings_default(&ts);
    else am_train_settings_original(&ts);
    ts.epochs = o->epochs;
    ts.batch_size = o->batch;
    if (o->replicas > 0) ts.replicas = o->replicas;
    ts.profile = phases;
    double rss0 = peak_rss_mib();
    timing tm = {0};
    tm.train_s = calloc((size_t)o->epochs, sizeof(double));
    tm.epoch_s = calloc((size_t)o->epochs, sizeof(double));
    am_train_source src = am_dataset_source_make(&s.feed, s.count);
    am_train_hooks h = {.on_split = on_split,
                        .on_epoch_start = on_epoch_start,
                        .on_batch = on_batch,
                        .on_epoch_end = on_epoch_end,
                        .user = &tm};
    am_trainer *t;
    CHECK(am_trainer_create(&t, b, &src, &ts, &h));
    tm.trainer = t, tm.last_epoch = o->epochs;
    header(o, peak, isa, threads);
    printf("# train: %lld images, %s settings, %s: batch %d, %d image(s) per forward, %d replica(s)\n",
           (long long)s.count, o->settings, o->precision, ts.batch_size, ts.images_per_forward, am_trainer_replicas(t));
    fflush(stdout);
    double t0 = am_monotonic_seconds();
    CHECK(am_trainer_run(t));
    double total = am_monotonic_seconds() - t0;

    /* Steady state: the epochs after the first (which also creates the primitives). */
    double steady = 0;
    int ne = 0;
    for (int e = o->epochs > 1 ? 1 : 0; e < o->epochs; e++) steady += tm.train_s[e], ne++;
    steady /= ne;
    double ips = (double)tm.ntrain / steady, flops = 0;
    for (int64_t k = 0; k < tm.ntrain; k++) flops += 4.0 * item_flops(b, &s, tm.train_idx[k], 4);
    flops /= (double)tm.ntrain;
    double gflops = flops * ips * 1e-9, px = mean_pixels(&s, tm.train_idx, tm.ntrain);
    double epoch_s = 0;
    for (int e = o->epochs > 1 ? 1 : 0; e < o->epochs; e++) epoch_s += tm.epoch_s[e];
    epoch_s /= ne;
    printf("training: %.2f images/s (steady, epochs %d..%d), %.1f GFLOP/image, %.1f GFLOP/s = %.0f%% of peak, "
           "%.2f us/pixel\n",
           ips, o->epochs > 1 ? 2 : 1, o->epochs, flops * 1e-9, gflops, 100 * gflops / peak, 1e6 / ips / px);
    printf("epoch (train + test pass): %.2f s; whole run %.2f s; load+D2+normalise %.1f%%, augment %.1f%% of thread "
           "time\n",
           epoch_s, total, 100 * s.feed.seconds_get / total, 100 * s.feed.seconds_augment / (total * threads));
    printf("peak RSS %.0f MiB (%.0f MiB before training)\n", peak_rss_mib(), rss0);
    printf("# oneDNN's implementation of each layer (issue 15):\n");
    am_dnn_print_impls(stdout, "#   ");
    printf(
        "RESULT mode=train network=%s settings=%s precision=%s images=%lld ntrain=%lld epochs=%d threads=%d ips=%.3f "
        "gflop_per_image=%.3f gflops=%.1f peak=%.1f frac_peak=%.3f epoch_s=%.3f mean_pixels=%.0f us_per_pixel=%.4f "
        "rss_mib=%.0f\n",
        o->network, o->settings, o->precision, (long long)s.count, (long long)tm.ntrain, o->epochs, threads, ips,
        flops * 1e-9, gflops, peak, gflops / peak, epoch_s, px, 1e6 / ips / px, peak_rss_mib());
    if (phases) print_phases(&tm, am_trainer_replicas(t) < threads ? am_trainer_replicas(t) : threads);
    am_trainer_free(t);
    am_byol_free(b);
    am_dataset_free(s.ds);
    free((void *)tm.train_idx), free(tm.train_s), free(tm.epoch_s);
    return 0;
}

/* ---- phases: where the last epoch's time went, from the trainer's own clocks ---- */

static void print_phases(const timing *tm, int side_by_side)
{
    am_train_times end, d;
    am_trainer_times(tm->trainer, &end);
    const am_train_times *a = &tm->last_start;
    d.read = end.read - a->read, d.views = end.views - a->views, d.step = end.step - a->step;
    d.reduce = end.reduce - a->reduce, d.optimizer = end.optimizer - a->optimizer, d.ema = end.ema - a->ema;
    d.test = end.test - a->test, d.checkpoint = end.checkpoint - a->checkpoint, d.images = end.images - a->images;
    if (d.images <= 0) return;
    /* the replicas' parts ran side by side: their share of the wall is thread time / replicas */
    const char *name[] = {"read (source items)",
                          "views (augment, 2 per image)",
                          "step (forwards, loss, backward)",
                          "reduce (gradients, BN statistics)",
                          "optimizer (Adam)",
                          "EMA of target",
                          "test pass",
                          "checkpoint"};
    const char *key[] = {"read", "views", "step", "reduce", "adam", "ema", "test", "checkpoint"};
    double w[] = {d.read,      d.views / side_by_side, d.step / side_by_side, d.reduce, d.optimizer, d.ema, d.test,
                  d.checkpoint};
    double sum = 0;
    for (int p = 0; p < 8; p++) sum += w[p];
    printf("# the last epoch by phase (am_trainer_times; replicas' parts / %d side by side), ms per training image\n",
           side_by_side);
    printf("%-36s %10s %8s\n", "phase", "ms/image", "share");
    for (int p = 0; p < 8; p++)
        printf("%-36s %10.2f %7.1f%%\n", name[p], 1e3 * w[p] / (double)d.images, 100 * w[p] / sum);
    printf("# online networks by layer kind, whole run, ms per image step (forward, backward)\n");
    const am_net_profile *pr = &end.layers;
    const double per = 1e3 / side_by_side / (double)end.images;
    for (int k = 0; k < AM_MOD_KINDS; k++)
        if (pr->forward_s[k] + pr->backward_s[k] > 0)
            printf("%-36s %10.2f %10.2f\n", am_module_kind_name((am_module_kind)k), per * pr->forward_s[k],
                   per * pr->backward_s[k]);
    printf("RESULT mode=phases images=%lld", (long long)d.images);
    for (int p = 0; p < 8; p++) printf(" %s_ms=%.3f", key[p], 1e3 * w[p] / (double)d.images);
    printf(" conv_fwd_ms=%.3f conv_bwd_ms=%.3f bn_fwd_ms=%.3f bn_bwd_ms=%.3f\n", per * pr->forward_s[AM_MOD_CONV2D],
           per * pr->backward_s[AM_MOD_CONV2D], per * pr->forward_s[AM_MOD_BATCHNORM2D],
           per * pr->backward_s[AM_MOD_BATCHNORM2D]);
}

/* ---- infer ---- */

/* Groups of consecutive equal-size inputs (group g: x[start[g] .. start[g+1])), one forward
 * each, the groups side by side on the replicas through am_replicas_run, as inference runs. */
typedef struct {
    am_byol **rep;
    const am_tensor *x;
    const int64_t *start;
    int64_t dim;
    float *E;
} embed_groups;

static am_status embed_group(void *user, int g, int worker)
{
    embed_groups *G = user;
    const am_tensor *first = &G->x[G->start[g]];
    int64_t n = G->start[g + 1] - G->start[g], each = am_tensor_numel(first);
    am_tensor in = {0}, e = {0};
    int64_t shape[4] = {n, first->shape[1], first->shape[2], first->shape[3]};
    AM_TRY(am_tensor_alloc(&in, 4, shape));
    for (int64_t k = 0; k < n; k++) memcpy(in.data + k * each, first[k].data, (size_t)each * sizeof(float));
    am_status s = am_byol_embed(G->rep[worker], &in, &e);
    if (s == AM_OK) memcpy(G->E + G->start[g] * G->dim, e.data, (size_t)(n * G->dim) * sizeof(float));
    am_tensor_free(&e);
    am_tensor_free(&in);
    return s;
}

/* Seconds to embed the groups on `threads` replicas. */
static double parallel_embed(embed_groups *G, int64_t ngroups, int threads)
{
    double t0 = am_monotonic_seconds();
    CHECK(am_replicas_run((int)ngroups, threads, embed_group, G, NULL));
    return am_monotonic_seconds() - t0;
}

static int infer(const opts *o, double peak, const char *isa, int threads)
{
    source s;
    open_source(&s, o);
    am_byol *b = make_byol(o, s.stacksize);
    am_byol_set_mode(b, AM_MODE_EVAL);
    am_byol_freeze(b); /* as `astromorph inference`: no gradients */
    header(o, peak, isa, threads);
    /* The network inputs, prepared as `astromorph inference` does (timed apart from the network). */
    double t0 = am_monotonic_seconds();
    am_tensor *x = calloc((size_t)s.count, sizeof *x);
    for (int64_t i = 0; i < s.count; i++) {
        am_tensor img;
        CHECK(am_dataset_get(s.ds, i, &img, NULL));
        CHECK(am_stack_channels(&img, s.stacksize, &x[i]));
        am_normalize_batch(&x[i]);
        am_tensor_free(&img);
    }
    double t_load = am_monotonic_seconds() - t0, flops = 0;
    for (int64_t i = 0; i < s.count; i++) flops += item_flops(b, &s, i, 1);
    flops /= (double)s.count;
    const int64_t dim = am_byol_get_options(b)->representation_size;
    float *E = malloc((size_t)(s.count * dim) * sizeof *E);
    printf("# inference: %lld images, inputs loaded in %.2f s, %.2f GFLOP/image\n", (long long)s.count, t_load,
           flops * 1e-9);

    /* Replicas for the parallel modes. Their first pass over the data is "cold": for a set of
     * many sizes it includes making the primitives of every new shape, as a single real run does. */
    am_byol **rep = calloc((size_t)threads, sizeof *rep);
    for (int r = 0; r < threads; r++) {
        CHECK(am_byol_replica(&rep[r], b, 0)); /* forward-only copies reading b's weights */
        am_byol_set_mode(rep[r], AM_MODE_EVAL);
    }
    /* 2. one image per forward, the images side by side on the copies */
    int64_t *ones = malloc((size_t)(s.count + 1) * sizeof *ones);
    for (int64_t i = 0; i <= s.count; i++) ones[i] = i;
    embed_groups G = {.rep = rep, .x = x, .start = ones, .dim = dim, .E = E};
    double t_cold = parallel_embed(&G, s.count, threads);
    double ips_par = (double)s.count / parallel_embed(&G, s.count, threads);

    /* One image at a time, threads inside the layers (as the original does, and our CLI today). */
    am_tensor emb = {0};
    CHECK(am_byol_embed(b, &x[0], &emb)); /* warm-up: this network's plans for the first shape */
    am_tensor_free(&emb);
    t0 = am_monotonic_seconds();
    for (int64_t i = 0; i < s.count; i++) {
        CHECK(am_byol_embed(b, &x[i], &emb));
        memcpy(E + i * dim, emb.data, (size_t)dim * sizeof(float));
        am_tensor_free(&emb);
    }
    double ips_serial = (double)s.count / (am_monotonic_seconds() - t0);

    /* 3. consecutive equal-size images stacked into batches of up to --batch, the batches run in
     * parallel on the copies (variable sizes rarely match: this then equals 2.) */
    int64_t *gstart = malloc((size_t)(s.count + 1) * sizeof *gstart), ng = 0;
    for (int64_t i = 0; i < s.count; i++)
        if (!ng || i - gstart[ng - 1] >= o->batch || !am_tensor_same_shape(&x[i], &x[gstart[ng - 1]])) gstart[ng++] = i;
    gstart[ng] = s.count;
    double t_batched = 0;
    G.start = gstart;
    for (int pass = 0; pass < 2; pass++) t_batched = parallel_embed(&G, ng, threads); /* pass 0 warms the shapes up */
    double ips_batch = (double)s.count / t_batched;
    free(ones);
    double px = mean_pixels(&s, NULL, s.count), best = ips_batch > ips_par ? ips_batch : ips_par;
    printf("parallel, first (cold) pass: %.1f images/s\n", (double)s.count / t_cold);
    printf("one at a time: %.1f images/s (%.1f GFLOP/s)\n", ips_serial, ips_serial * flops * 1e-9);
    printf("parallel (%d copies): %.1f images/s (%.1f GFLOP/s)\n", threads, ips_par, ips_par * flops * 1e-9);
    printf("batched (%lld batches of <= %d, in parallel): %.1f images/s (%.1f GFLOP/s = %.0f%% of peak)\n",
           (long long)ng, o->batch, ips_batch, ips_batch * flops * 1e-9, 100 * ips_batch * flops * 1e-9 / peak);
    printf("peak RSS %.0f MiB\n", peak_rss_mib());
    printf("# oneDNN's implementation of each layer (issue 15):\n");
    am_dnn_print_impls(stdout, "#   ");
    printf("RESULT mode=infer network=%s images=%lld threads=%d ips_cold=%.2f ips_serial=%.2f ips_parallel=%.2f "
           "ips_batched=%.2f "
           "ips=%.2f gflop_per_image=%.4f gflops=%.1f peak=%.1f frac_peak=%.3f load_s=%.3f mean_pixels=%.0f "
           "us_per_pixel=%.4f rss_mib=%.0f\n",
           o->network, (long long)s.count, threads, (double)s.count / t_cold, ips_serial, ips_par, ips_batch, best,
           flops * 1e-9, best * flops * 1e-9, peak, best * flops * 1e-9 / peak, t_load, px, 1e6 / best / px,
           peak_rss_mib());
    for (int r = 0; r < threads; r++) am_byol_free(rep[r]);
    for (int64_t i = 0; i < s.count; i++) am_tensor_free(&x[i]);
    free(rep), free(x), free(E), free(gstart);
    am_byol_free(b);
    am_dataset_free(s.ds);
    return 0;
}

int main(int argc, char **argv)
{
    opts o = parse(argc, argv);
    if (!strcmp(o.mode, "crop")) return crop_set(&o);
    am_set_threads(o.threads);
    int threads = am_get_threads();
    const char *isa;
    double peak = fma_peak_gflops(threads, &isa);
    if (!strcmp(o.mode, "peak")) {
        printf("FP32 FMA peak on %d thread(s): %.1f GFLOP/s (%s)\n", threads, peak, isa);
        printf("RESULT mode=peak threads=%d peak=%.1f\n", threads, peak);
        return 0;
    }
    if (!strcmp(o.mode, "train")) return train(&o, peak, isa, threads, 0);
    if (!strcmp(o.mode, "infer")) return infer(&o, peak, isa, threads);
    if (!strcmp(o.mode, "phases")) return train(&o, peak, isa, threads, 1);
    usage();
    return 2;
}
