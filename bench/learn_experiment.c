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
#include "astromorph/evaluate.h"
#include "astromorph/models.h"
#include "astromorph/pipeline.h"
#include "astromorph/runtime.h"
#include "astromorph/train.h"

/* Leave-one-out 5-NN accuracy, cosine: the evaluate library's, as `astromorph evaluate` reports it. */
static am_status knn5(const float *x, int64_t n, int64_t d, const int32_t *label, int nclass, double *acc)
{
    int32_t *pred = malloc((size_t)n * sizeof *pred);
    if (!pred) return am_error(AM_ERR_NOMEM, "out of memory");
    am_status s = am_eval_knn(x, n, d, label, nclass, 5, AM_EVAL_COSINE, pred);
    if (s == AM_OK) *acc = am_eval_accuracy(label, pred, n, nclass, NULL, NULL);
    free(pred);
    return s;
}

/* The raw-pixel baseline: each image min-max normalised (one size needed). */
static am_status pixels(am_dataset *ds, int64_t n, float **out, int64_t *dim)
{
    *out = NULL;
    for (int64_t i = 0; i < n; i++) {
        am_tensor img = {0};
        AM_TRY(am_dataset_get(ds, i, &img, NULL));
        am_normalize_batch_as(&img, AM_NORMALIZE_MINMAX);
        int64_t d = am_tensor_numel(&img);
        if (!*out && !(*out = malloc((size_t)(n * d) * sizeof(float)))) return am_error(AM_ERR_NOMEM, "out of memory");
        if (!i) *dim = d;
        if (d != *dim) {
            am_tensor_free(&img);
            return am_error(AM_ERR_SHAPE, "raw pixels need images of one size");
        }
        memcpy(*out + i * d, img.data, (size_t)d * sizeof(float));
        am_tensor_free(&img);
    }
    return AM_OK;
}

/* The embeddings of every image as inference makes them (am_pipeline_embed), its 5-NN accuracy. */
static am_status embedded_knn5(am_byol *b, am_dataset *ds, const am_augment *aug, const int32_t *label, int nclass,
                               double *acc)
{
    am_model m;
    am_model_wrap(&m, b, 1, 1, aug->view_size, aug->normalization);
    am_embed_options o;
    am_embed_options_default(&o);
    o.progress = 0;
    am_embeddings E = {0};
    am_status s = am_pipeline_embed(&m, ds, &o, &E);
    if (s == AM_OK) s = knn5(E.data, E.n, E.dim, label, nclass, acc);
    am_embeddings_free(&E);
    am_model_close(&m);
    return s;
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
    am_train_settings_default(&ts);
    const char *netname = "amm";
    am_byol_options bo;
    am_byol_options_default(&bo);
    bo.seed = 42;
    uint64_t seed = 42;
    int bf16 = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--original")) {
            am_train_settings_original(&ts);
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
    int32_t *label = NULL;
    int nl = 0, cap = 0, v, nclass = 0;
    while (fscanf(lf, "%d", &v) == 1 && v >= 0 && v < 1000) {
        if (nl == cap) {
            int32_t *grown = realloc(label, (size_t)(cap = cap ? 2 * cap : 256) * sizeof *label);
            if (!grown) break;
            label = grown;
        }
        label[nl++] = v;
        if (v + 1 > nclass) nclass = v + 1;
    }
    fclose(lf);

    struct {
        am_dataset *ds;
        am_augment aug;
    } d = {0};
    am_dataset_options dopt;
    am_dataset_options_default(&dopt);
    snprintf(path, sizeof path, "%s/files.txt", dir);
    am_status st = am_dataset_open(&d.ds, path, &dopt);
    am_augment_original(&d.aug);
    int64_t n = st == AM_OK ? am_dataset_size(d.ds) : 0;
    if (st == AM_OK && n != nl) st = am_error(AM_ERR_VALUE, "%lld images but %d labels", (long long)n, nl);

    am_net *net = NULL;
    if (st == AM_OK) {
        if (!strcmp(netname, "amm-gn")) st = amm_groupnorm(&net, seed);
        else {
            am_model_spec spec = {!strcmp(netname, "resnet") ? "n_layer_resnet" : "amm", NULL, 1, AM_POOLING_AVERAGE,
                                  1};
            st = am_model_create(&net, &spec, seed);
        }
    }
    am_byol *b = NULL;
    if (st == AM_OK && bf16) st = am_net_set_precision(net, AM_PRECISION_BF16);
    if (st == AM_OK) st = am_byol_create(&b, net, &bo);
    else am_net_free(net);
    float *raw = NULL;
    int64_t dr = 0;
    double acc_raw = NAN, before = NAN, after = NAN;
    /* Raw pixels need one image size; a set of several sizes has no raw baseline. */
    if (st == AM_OK && (pixels(d.ds, n, &raw, &dr) != AM_OK || knn5(raw, n, dr, label, nclass, &acc_raw) != AM_OK))
        acc_raw = NAN;
    if (st == AM_OK) st = embedded_knn5(b, d.ds, &d.aug, label, nclass, &before);
    if (st == AM_OK) {
        printf("%s: %lld images, net %s, lr %g, epochs %d, batch %d, norm %s, images/forward %d, proj %d/%d%s%s%s\n",
               dir, (long long)n, netname, ts.learning_rate, ts.epochs, ts.batch_size,
               ts.norm == AM_NORM_COMPAT   ? "compat"
               : ts.norm == AM_NORM_FROZEN ? "frozen"
                                           : "train",
               ts.images_per_forward, bo.projection_size, bo.projection_hidden_size,
               bo.loss == AM_BYOL_LOSS_SYMMETRIC ? ", symmetric" : "", bo.use_momentum ? "" : ", no momentum",
               bf16 ? ", BF16" : "");
        if (!isnan(acc_raw)) printf("raw pixels   5-NN accuracy %.3f\n", acc_raw);
        else printf("raw pixels   n/a (images of several sizes)\n");
        printf("untrained    5-NN accuracy %.3f\n", before);
        fflush(stdout);
        /* fed as am_pipeline_train feeds the trainer */
        am_dataset_source feed = {.ds = d.ds, .augment = &d.aug, .stacksize = 1};
        am_train_source src = am_dataset_source_make(&feed, n);
        am_train_hooks hooks = {.on_epoch_end = on_epoch_end};
        am_trainer *t = NULL;
        double t0 = am_monotonic_seconds();
        st = am_trainer_create(&t, b, &src, &ts, &hooks);
        if (st == AM_OK) st = am_trainer_run(t);
        am_trainer_free(t);
        double secs = am_monotonic_seconds() - t0;
        if (st == AM_OK) st = embedded_knn5(b, d.ds, &d.aug, label, nclass, &after);
        if (st == AM_OK)
            printf("trained      5-NN accuracy %.3f  (%.0f s, %.1f images/s)\n", after, secs,
                   (double)n * 0.8 * ts.epochs / secs);
    }
    if (st != AM_OK) fprintf(stderr, "learn_experiment: %s\n", am_errmsg());
    free(raw), free(label);
    am_byol_free(b);
    if (d.ds) am_dataset_free(d.ds);
    return st == AM_OK ? 0 : 1;
}
