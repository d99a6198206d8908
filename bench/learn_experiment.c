/* Does training help? Leave-one-out 5-nearest-neighbour accuracy (cosine) of the class labels
 * of a synthetic set (bench/synthetic_set) from raw pixels, from the untrained network's
 * embeddings and from the embeddings after BYOL training with the given settings.
 *
 *   learn_experiment DATADIR [--epochs 10] [--lr 3e-4] [--norm train|compat|frozen] [--ipf 4]
 *       [--batch 16] [--net amm|amm-gn|resnet] [--proj 256] [--hidden 1024] [--symmetric]
 *       [--no-momentum] [--replicas 0] [--seed 42] [--original] [--precision fp32|bf16]
 *
 * --original takes the original package's trainer settings (lr 5e-6, compat BatchNorm, one
 * image per forward); options after it still apply. Prints one line per measurement. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "astromorph/augment.h"
#include "astromorph/byol.h"
#include "astromorph/dataset.h"
#include "astromorph/models.h"
#include "astromorph/runtime.h"
#include "astromorph/train.h"

typedef struct data {
    am_dataset *ds;
    am_augment aug;
} data;

static am_status get(void *user, int64_t i, am_tensor *out)
{
    data *d = user;
    am_tensor img = {0};
    AM_TRY(am_dataset_get(d->ds, i, &img, NULL));
    am_status s = am_d2_copies(&img, 1, out);
    am_tensor_free(&img);
    return s;
}

static am_status augment(void *user, const am_tensor *x, am_rng *rng, am_tensor *out)
{
    data *d = user;
    AM_TRY(am_tensor_clone(out, x));
    return am_augment_apply(&d->aug, out, rng);
}

static void prefetch(void *user, const int64_t *order, int64_t n) { am_dataset_prefetch(((data *)user)->ds, order, n); }

static const char *name(void *user, int64_t i) { return am_dataset_name(((data *)user)->ds, i); }

/* Leave-one-out k-NN accuracy with cosine similarity; votes weighted by similarity. */
static double knn_accuracy(const float *x, int64_t n, int64_t d, const int *label, int k)
{
    double *norm = malloc((size_t)n * sizeof *norm);
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) s += (double)x[i * d + j] * x[i * d + j];
        norm[i] = sqrt(s) > 1e-30 ? sqrt(s) : 1e-30;
    }
    int correct = 0;
    double *sim = malloc((size_t)n * sizeof *sim);
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t c = 0; c < d; c++) s += (double)x[i * d + c] * x[j * d + c];
            sim[j] = j == i ? -INFINITY : s / (norm[i] * norm[j]);
        }
        double votes[64] = {0};
        for (int t = 0; t < k; t++) {
            int64_t best = 0;
            for (int64_t j = 1; j < n; j++)
                if (sim[j] > sim[best]) best = j;
            votes[label[best] & 63] += 1.0 + 1e-6 * sim[best]; /* ties go to the closer class */
            sim[best] = -INFINITY;
        }
        int arg = 0;
        for (int c = 1; c < 64; c++)
            if (votes[c] > votes[arg]) arg = c;
        correct += arg == label[i];
    }
    free(sim), free(norm);
    return (double)correct / (double)n;
}

/* Embeddings of every image (EVAL, min-max normalised, no augmentation), or raw pixels. */
static am_status embed_all(am_byol *b, am_dataset *ds, int64_t n, float **out, int64_t *dim)
{
    *out = NULL;
    if (b) am_byol_set_mode(b, AM_MODE_EVAL);
    for (int64_t i = 0; i < n; i++) {
        am_tensor img = {0}, x = {0}, e = {0};
        AM_TRY(am_dataset_get(ds, i, &img, NULL));
        am_status s = am_stack_channels(&img, 1, &x);
        am_tensor_free(&img);
        AM_TRY(s);
        am_normalize_batch(&x);
        if (b) {
            s = am_byol_embed(b, &x, &e);
            am_tensor_free(&x);
            AM_TRY(s);
        } else {
            e = x;
        }
        int64_t d = am_tensor_numel(&e);
        if (!*out) *out = malloc((size_t)(n * d) * sizeof(float)), *dim = d;
        if (d != *dim) {
            am_tensor_free(&e);
            return am_error(AM_ERR_SHAPE, "raw pixels need images of one size");
        }
        memcpy(*out + i * d, e.data, (size_t)d * sizeof(float));
        am_tensor_free(&e);
    }
    return AM_OK;
}

/* amm with GroupNorm (8 groups) in place of every BatchNorm2d, same names. */
static am_status amm_groupnorm(am_net **net, uint64_t seed)
{
    am_module *root = am_sequential("");
    am_module_add(root, am_conv2d("conv1", 1, 32, 7, 2, 3, 1));
    am_module_add(root, am_groupnorm("bn1", 8, 32));
    am_module_add(root, am_relu("relu"));
    am_module_add(root, am_maxpool2d("maxpool", 3, 2, 1));
    const int ch[2][3] = {{32, 32, 32}, {32, 64, 128}};
    for (int l = 0; l < 2; l++) {
        am_module *s = am_sequential(l == 0 ? "layer1" : "layer2");
        am_module_add(s, am_conv2d("0", ch[l][0], ch[l][1], 3, l == 0 ? 1 : 2, 1, 1));
        am_module_add(s, am_groupnorm("1", 8, ch[l][1]));
        am_module_add(s, am_relu("2"));
        am_module_add(s, am_conv2d("3", ch[l][1], ch[l][2], 3, 1, 1, 1));
        am_module_add(s, am_groupnorm("4", 8, ch[l][2]));
        am_module_add(root, s);
    }
    am_module_add(root, am_adaptive_avgpool2d("avgpool"));
    am_module_add(root, am_linear("fc", 128, 64, 1));
    return am_net_create(net, root, seed);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void on_epoch_end(void *user, int epoch, double train, double test, double secs)
{
    (void)user;
    printf("  epoch %3d  train %.4f  test %.4f  %.1f s\n", epoch, train, test, secs);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATADIR [options] (see the source's first comment)\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    am_train_settings ts;
    am_train_default_settings(&ts);
    const char *netname = "amm";
    am_byol_options bo;
    am_byol_default_options(&bo);
    bo.seed = 42;
    uint64_t seed = 42;
    int bf16 = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--original")) {
            am_train_original_settings(&ts);
            continue;
        }
        if (!strcmp(a, "--symmetric")) {
            bo.loss = AM_BYOL_LOSS_SYMMETRIC;
            continue;
        }
        if (!strcmp(a, "--no-momentum")) {
            bo.use_momentum = 0;
            continue;
        }
        i++;
        if (!strcmp(a, "--epochs")) ts.epochs = atoi(v);
        else if (!strcmp(a, "--lr")) ts.learning_rate = atof(v);
        else if (!strcmp(a, "--batch")) ts.batch_size = atoi(v);
        else if (!strcmp(a, "--ipf")) ts.images_per_forward = atoi(v);
        else if (!strcmp(a, "--replicas")) ts.replicas = atoi(v);
        else if (!strcmp(a, "--proj")) bo.projection_size = atoi(v);
        else if (!strcmp(a, "--hidden")) bo.projection_hidden_size = atoi(v);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--net")) netname = v;
        else if (!strcmp(a, "--precision")) bf16 = !strcmp(v, "bf16");
        else if (!strcmp(a, "--cosine")) ts.schedule = AM_LR_COSINE, ts.warmup_epochs = atoi(v);
        else if (!strcmp(a, "--norm"))
            ts.norm = !strcmp(v, "compat") ? AM_NORM_COMPAT : !strcmp(v, "frozen") ? AM_NORM_FROZEN : AM_NORM_TRAIN;
        else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
    }
    ts.seed = seed, bo.seed = seed;

    char path[4096];
    snprintf(path, sizeof path, "%s/labels.txt", dir);
    FILE *lf = fopen(path, "r");
    if (!lf) {
        fprintf(stderr, "%s: cannot open (run synthetic_set first)\n", path);
        return 1;
    }
    int *label = NULL, nl = 0, cap = 0, v;
    while (fscanf(lf, "%d", &v) == 1) {
        if (nl == cap) label = realloc(label, (size_t)(cap = cap ? 2 * cap : 256) * sizeof *label);
        label[nl++] = v;
    }
    fclose(lf);

    data d = {0};
    am_dataset_options dopt;
    am_dataset_options_default(&dopt);
    snprintf(path, sizeof path, "%s/files.txt", dir);
    am_status st = am_dataset_open(&d.ds, path, &dopt);
    am_augment_default(&d.aug);
    int64_t n = st == AM_OK ? am_dataset_size(d.ds) : 0;
    if (st == AM_OK && n != nl) st = am_error(AM_ERR_VALUE, "%lld images but %d labels", (long long)n, nl);

    am_net *net = NULL;
    if (st == AM_OK) {
        if (!strcmp(netname, "amm-gn")) st = amm_groupnorm(&net, seed);
        else {
            am_model_spec spec = {!strcmp(netname, "resnet") ? "n_layer_resnet" : "amm", NULL, 1};
            st = am_model_create(&net, &spec, seed);
        }
    }
    am_byol *b = NULL;
    if (st == AM_OK && bf16) st = am_net_set_precision(net, AM_PRECISION_BF16);
    if (st == AM_OK) st = am_byol_create(&b, net, &bo);
    float *raw = NULL, *before = NULL, *after = NULL;
    int64_t dr = 0, de = 0;
    /* Raw pixels need one image size; a set of several sizes has no raw baseline. */
    if (st == AM_OK && embed_all(NULL, d.ds, n, &raw, &dr) != AM_OK) free(raw), raw = NULL;
    if (st == AM_OK) st = embed_all(b, d.ds, n, &before, &de);
    if (st == AM_OK) {
        printf("%s: %lld images, net %s, lr %g, epochs %d, batch %d, norm %s, images/forward %d, proj %d/%d%s%s%s\n", dir,
               (long long)n, netname, ts.learning_rate, ts.epochs, ts.batch_size,
               ts.norm == AM_NORM_COMPAT ? "compat" : ts.norm == AM_NORM_FROZEN ? "frozen" : "train",
               ts.images_per_forward, bo.projection_size, bo.projection_hidden_size,
               bo.loss == AM_BYOL_LOSS_SYMMETRIC ? ", symmetric" : "", bo.use_momentum ? "" : ", no momentum",
               bf16 ? ", BF16" : "");
        if (raw) printf("raw pixels   5-NN accuracy %.3f\n", knn_accuracy(raw, n, dr, label, 5));
        else printf("raw pixels   n/a (images of several sizes)\n");
        printf("untrained    5-NN accuracy %.3f\n", knn_accuracy(before, n, de, label, 5));
        fflush(stdout);
        am_train_source src = {n, get, augment, name, 1, &d, prefetch, 0};
        am_train_hooks hooks = {.on_epoch_end = on_epoch_end};
        am_trainer *t = NULL;
        double t0 = now_s();
        st = am_trainer_create(&t, b, &src, &ts, &hooks);
        if (st == AM_OK) st = am_trainer_run(t);
        am_trainer_free(t);
        double secs = now_s() - t0;
        if (st == AM_OK) st = embed_all(b, d.ds, n, &after, &de);
        if (st == AM_OK)
            printf("trained      5-NN accuracy %.3f  (%.0f s, %.1f images/s)\n", knn_accuracy(after, n, de, label, 5),
                   secs, (double)n * 0.8 * ts.epochs / secs);
    }
    if (st != AM_OK) fprintf(stderr, "learn_experiment: %s\n", am_errmsg());
    free(raw), free(before), free(after), free(label);
    am_byol_free(b);
    if (d.ds) am_dataset_free(d.ds);
    return st == AM_OK ? 0 : 1;
}
