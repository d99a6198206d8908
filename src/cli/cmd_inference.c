/* `astromorph inference`: the original's pipeline_02_inference — embeddings of every image
 * (online network up to the hidden layer, eval mode), k-means labels, the TensorBoard projector
 * in runs/<model>/, exported/<model>.csv — plus exported/<model>.safetensors, the embeddings
 * file the analysis commands read. */
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/augment.h"
#include "astromorph/byol.h"
#include "astromorph/dataset.h"
#include "astromorph/embeddings.h"
#include "astromorph/hybrid.h"
#include "astromorph/kmeans.h"
#include "astromorph/models.h"
#include "astromorph/morphology.h"
#include "astromorph/progress.h"
#include "astromorph/projector.h"
#include "astromorph/runtime.h"
#include "astromorph/thumbnail.h"
#include "cli/commands.h"
#include "cli/run_log.h"
#include "cli/settings.h"

typedef struct {
    am_byol *byol;
    char network[32], last_layer[32];
    int in_channels, stacksize;
    int view_size;                    /* 0: images at their own size */
    am_normalization normalization;
    am_hybrid hybrid;                 /* hybrid.dim 0: the learned embedding alone */
    int morph_each, morph_channels;   /* statistics per channel (of morph_channels), else of the sum */
    float *feats;                     /* n × AM_MORPH_FEATURES while a hybrid is made */
} model;

static am_status meta_int(const am_safetensors *st, const char *path, const char *key, int *out)
{
    const char *v = am_st_meta(st, key);
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x < 1 || x > 1 << 20)
        return am_error(AM_ERR_FORMAT, "%s: metadata '%s' missing or invalid (not a model from astromorph training?)",
                        path, key);
    *out = (int)x;
    return AM_OK;
}

static am_status load_model(model *m, const char *path)
{
    am_safetensors st;
    AM_TRY(am_st_read(&st, path));
    am_status s = AM_OK;
    const char *net = am_st_meta(&st, AM_META_NETWORK), *layer = am_st_meta(&st, AM_META_LAST_LAYER);
    if (!net) s = am_error(AM_ERR_FORMAT, "%s: metadata '%s' missing (not a model from astromorph training?)", path,
                           AM_META_NETWORK);
    if (s == AM_OK) s = meta_int(&st, path, AM_META_CHANNELS, &m->in_channels);
    if (s == AM_OK) s = meta_int(&st, path, AM_META_STACKSIZE, &m->stacksize);
    const char *view = am_st_meta(&st, AM_META_VIEW_SIZE), *norm = am_st_meta(&st, AM_META_NORMALIZATION);
    m->view_size = 0, m->normalization = AM_NORMALIZE_MINMAX;
    if (s == AM_OK && view && strcmp(view, "0") != 0) s = meta_int(&st, path, AM_META_VIEW_SIZE, &m->view_size);
    if (s == AM_OK && norm && am_normalization_parse(norm, &m->normalization) != AM_OK)
        s = am_error(AM_ERR_FORMAT, "%s: metadata '%s' = \"%s\" is not minmax or asinh", path, AM_META_NORMALIZATION, norm);
    const char *hy = am_st_meta(&st, AM_META_HYBRID);
    memset(&m->hybrid, 0, sizeof m->hybrid);
    if (s == AM_OK && hy) s = am_hybrid_from_json(&m->hybrid, hy, path);
    if (s == AM_OK) {
        snprintf(m->network, sizeof m->network, "%s", net);
        snprintf(m->last_layer, sizeof m->last_layer, "%s", layer ? layer : "layer4");
    }
    am_byol_options bo;
    am_byol_default_options(&bo);
    if (s == AM_OK) s = am_byol_options_from_file(&bo, &st);
    am_model_spec spec = {.network_name = m->network, .last_layer = m->last_layer, .in_channels = m->in_channels};
    am_net *n = NULL;
    if (s == AM_OK) s = am_model_create(&n, &spec, 0);
    bo.probe_channels = m->in_channels;
    if (s == AM_OK) s = am_byol_create(&m->byol, n, &bo);
    if (s == AM_OK) s = am_byol_load_state(m->byol, &st);
    /* a model whose training diverged would fail much later, in k-means: name it here */
    for (size_t i = 0; s == AM_OK && i < am_byol_state_count(m->byol); i++) {
        const char *pname = NULL;
        am_param *prm = am_byol_state(m->byol, i, &pname);
        if (!am_tensor_all_finite(&prm->value))
            s = am_error(AM_ERR_NUMERIC, "%s: weight %s holds NaN or Inf (did its training diverge?)", path, pname);
    }
    if (s != AM_OK) s = am_error_prefix(s, "%s", path);
    am_st_free(&st);
    if (s == AM_OK) am_byol_set_mode(m->byol, AM_MODE_EVAL);
    if (s == AM_OK) am_byol_freeze(m->byol); /* embedding only: no gradients */
    return s;
}

/* The original's model_basename: the file name without folders, cut at its first '.'. */
static void model_basename(const char *path, char *out, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strcspn(base, ".");
    snprintf(out, size, "%.*s", (int)n, base);
}

/* Image i as the network input: channels stacked, normalised as in training (the original's
 * MinMaxNorm by default) and, for a model trained on views at a common size, the whole image
 * area-averaged to that size. */
static am_status network_input(const model *m, am_dataset *ds, int64_t i, am_tensor *image, am_meta *meta,
                               am_tensor *x)
{
    AM_TRY(am_dataset_get(ds, i, image, meta));
    am_status s = am_network_input(image, m->stacksize, m->normalization, m->view_size, x);
    if (s != AM_OK) {
        am_tensor_free(image);
        if (meta) am_meta_free(meta);
    }
    return s;
}

/* Consecutive images of one size go through the network together (eval mode: each image's
 * embedding is its own), up to INFER_BATCH images or INFER_MAX_VALUES input values. */
enum { INFER_BATCH = 16 };
#define INFER_MAX_VALUES ((int64_t)1 << 22)

/* How many images from i on share image i's size (0 when sizes are not known before reading);
 * with views at a common size, any images. */
static int64_t same_size_run(const model *m, am_dataset *ds, int64_t i, int64_t n)
{
    if (m->view_size > 0) return n - i < INFER_BATCH ? n - i : INFER_BATCH;
    int64_t first[3], next[3];
    if (am_dataset_item_shape(ds, i, first) != AM_OK) return 1;
    int64_t values = first[0] * first[1] * first[2], k = 1;
    while (i + k < n && k < INFER_BATCH && (k + 1) * values <= INFER_MAX_VALUES &&
           am_dataset_item_shape(ds, i + k, next) == AM_OK && memcmp(first, next, sizeof first) == 0)
        k++;
    return k;
}

/* Images i..i+k-1 as one k×C×H×W batch, each normalised on its own; metadata into E. */
/* The morphology of image: its table columns into row of stats — of the channels' sum, or with
 * m->morph_each of every channel in turn — and the feature vector of the sum into row of feats
 * (either NULL: not wanted). */
static am_status row_morphology(const model *m, const am_tensor *image, float *stats, float *feats, int64_t row,
                                const char *name)
{
    if (!stats && !feats) return AM_OK;
    am_morphology mo;
    double v[64];
    int64_t c = image->shape[0], hw = image->shape[1] * image->shape[2];
    if (stats && m->morph_each) {
        if (c != m->morph_channels)
            return am_error(AM_ERR_SHAPE, "%s: %lld channel(s), the first image %d (morphology_channels = \"each\")", name,
                            (long long)c, m->morph_channels);
        for (int64_t k = 0; k < c; k++) {
            am_status s = am_morphology_measure(image->data + k * hw, image->shape[1], image->shape[2], NULL, &mo);
            if (s != AM_OK) return am_error_prefix(s, "%s", name);
            int n = am_morphology_row(&mo, v);
            for (int j = 0; j < n; j++) stats[(row * c + k) * n + j] = (float)v[j];
        }
    }
    if ((stats && !m->morph_each) || feats) {
        am_status s = am_morphology_measure_image(image, NULL, &mo);
        if (s != AM_OK) return am_error_prefix(s, "%s", name);
        int n = am_morphology_row(&mo, v);
        for (int j = 0; stats && !m->morph_each && j < n; j++) stats[row * n + j] = (float)v[j];
        if (feats) am_morphology_features(&mo, feats + row * AM_MORPH_FEATURES);
    }
    return AM_OK;
}

static am_status batch_input(model *m, am_dataset *ds, int64_t i, int64_t k, am_embeddings *E, am_tensor *batch)
{
    memset(batch, 0, sizeof *batch);
    am_status s = AM_OK;
    for (int64_t j = 0; j < k && s == AM_OK; j++) {
        am_tensor img, x;
        am_meta meta;
        if ((s = network_input(m, ds, i + j, &img, &meta, &x)) != AM_OK) break;
        s = row_morphology(m, &img, E->stats, m->feats, i + j, am_dataset_name(ds, i + j));
        if (s == AM_OK && x.shape[1] != m->in_channels)
            s = am_error(AM_ERR_SHAPE, "%s: %lld channel(s) x stacksize %d, the model takes %d",
                         am_dataset_name(ds, i + j), (long long)img.shape[0], m->stacksize, m->in_channels);
        if (s == AM_OK && j == 0) s = am_tensor_alloc4(batch, k, x.shape[1], x.shape[2], x.shape[3]);
        if (s == AM_OK && am_tensor_numel(&x) * k != am_tensor_numel(batch))
            s = am_error(AM_ERR_SHAPE, "%s: image size changed while reading", am_dataset_name(ds, i + j));
        if (s == AM_OK) {
            memcpy(batch->data + j * am_tensor_numel(&x), x.data, (size_t)am_tensor_numel(&x) * sizeof(float));
            am_meta_free(&E->meta[i + j]);
            s = am_meta_copy(&E->meta[i + j], &meta);
        }
        am_tensor_free(&x);
        am_tensor_free(&img);
        am_meta_free(&meta);
    }
    if (s != AM_OK) am_tensor_free(batch);
    return s;
}

/* One forward of k equal-size images (a run) on a model or replica. */
static am_status embed_run(am_byol *b, const am_tensor *batch, int64_t k, am_embeddings *E, int64_t i,
                           const char *name)
{
    am_tensor emb;
    AM_TRY(am_byol_embed(b, batch, &emb));
    am_status s = AM_OK;
    if (emb.shape[0] != k || emb.shape[1] != E->dim)
        s = am_error(AM_ERR_SHAPE, "embedding of %s has %lld values, expected %lld", name, (long long)emb.shape[1],
                     (long long)E->dim);
    if (s == AM_OK) memcpy(E->data + i * E->dim, emb.data, (size_t)(k * E->dim) * sizeof(float));
    am_tensor_free(&emb);
    return s;
}

/* Runs of equal-size images (up to INFER_BATCH per forward) are read in order on this thread,
 * then embedded side by side, one run per thread on its own forward-only copy of the model (which
 * reads the model's weights): images of many sizes cannot share a forward, and one image's layers
 * are too small to keep all threads busy. Each run's embedding is the same on any thread. */
enum { RUNS_PER_THREAD = 4 };

static am_status embed_all(model *m, am_dataset *ds, am_embeddings *E, int morphology)
{
    int64_t n = am_dataset_size(ds);
    am_progress *bar = NULL;
    if (am_progress_create(&bar, "embeddings", n, stderr, AM_PROGRESS_AUTO) != AM_OK) bar = NULL;
    else am_progress_update(bar, 0, NAN);
    am_status s = am_embeddings_alloc(E, n, am_byol_get_options(m->byol)->representation_size);
    if (s == AM_OK && morphology) {
        int64_t ncol = 0, shape[3] = {1, 0, 0};
        while (am_morphology_columns[ncol]) ncol++;
        if (m->morph_each && n > 0) s = am_dataset_item_shape(ds, 0, shape);
        m->morph_channels = (int)shape[0];
        if (s == AM_OK && m->morph_each) { /* <name>_c<k>, channel by channel */
            int64_t total = ncol * shape[0];
            char **names = calloc((size_t)total, sizeof *names);
            for (int64_t k = 0; names && k < shape[0]; k++)
                for (int64_t j = 0; j < ncol; j++) {
                    char buf[80];
                    snprintf(buf, sizeof buf, "%s_c%lld", am_morphology_columns[j], (long long)k);
                    names[k * ncol + j] = strdup(buf);
                }
            int ok = names != NULL;
            for (int64_t t = 0; ok && t < total; t++) ok = names[t] != NULL;
            s = ok ? am_embeddings_set_stats(E, total, (const char *const *)names, NULL)
                   : am_error(AM_ERR_NOMEM, "inference: out of memory");
            for (int64_t t = 0; names && t < total; t++) free(names[t]);
            free(names);
        } else if (s == AM_OK) {
            s = am_embeddings_set_stats(E, ncol, am_morphology_columns, NULL);
        }
    }
    if (s == AM_OK && m->hybrid.dim) {
        if (m->hybrid.dim != E->dim || m->hybrid.nstat != AM_MORPH_FEATURES)
            s = am_error(AM_ERR_FORMAT, "the model's hybrid fit is for %lld + %lld values, the network gives %lld + %d",
                         (long long)m->hybrid.dim, (long long)m->hybrid.nstat, (long long)E->dim, AM_MORPH_FEATURES);
        else if (!(m->feats = malloc((size_t)(n ? n : 1) * AM_MORPH_FEATURES * sizeof *m->feats)))
            s = am_error(AM_ERR_NOMEM, "inference: out of memory");
    }
    const int nthr = am_get_threads() > 0 ? am_get_threads() : 1;
    const int cap = RUNS_PER_THREAD * nthr;
    am_byol **rep = calloc((size_t)nthr, sizeof *rep);
    am_tensor *batch = calloc((size_t)cap, sizeof *batch);
    int64_t *start = calloc((size_t)cap, sizeof *start), *len = calloc((size_t)cap, sizeof *len);
    am_status *rs = calloc((size_t)cap, sizeof *rs);
    char (*msg)[256] = calloc((size_t)cap, sizeof *msg);
    if (s == AM_OK && (!rep || !batch || !start || !len || !rs || !msg)) s = am_error(AM_ERR_NOMEM, "inference: out of memory");
    if (s == AM_OK) rep[0] = m->byol;
    int nrep = 1;
    for (int64_t i = 0; i < n && s == AM_OK;) {
        int nrun = 0;
        for (; nrun < cap && i < n && s == AM_OK; nrun++) {
            start[nrun] = i, len[nrun] = same_size_run(m, ds, i, n);
            s = batch_input(m, ds, i, len[nrun], E, &batch[nrun]);
            i += len[nrun];
        }
        int want = nrun < nthr ? nrun : nthr;
        for (; s == AM_OK && nrep < want; nrep++) s = am_byol_replica(&rep[nrep], m->byol, 0);
        if (want == 1) { /* one thread, or one run: its layers get all the threads */
            for (int r = 0; r < nrun && s == AM_OK; r++)
                s = embed_run(rep[0], &batch[r], len[r], E, start[r], am_dataset_name(ds, start[r]));
        } else if (s == AM_OK) {
#pragma omp parallel for num_threads(want) schedule(dynamic, 1)
            for (int r = 0; r < nrun; r++) {
                rs[r] = embed_run(rep[omp_get_thread_num()], &batch[r], len[r], E, start[r],
                                  am_dataset_name(ds, start[r]));
                if (rs[r] != AM_OK) snprintf(msg[r], sizeof msg[r], "%s", am_errmsg()); /* thread-local */
            }
            for (int r = 0; r < nrun && s == AM_OK; r++)
                if (rs[r] != AM_OK) s = am_error(rs[r], "%s", msg[r]);
        }
        for (int r = 0; r < nrun; r++) am_tensor_free(&batch[r]);
        if (bar) am_progress_update(bar, i, NAN);
    }
    for (int r = 1; r < nrep; r++) am_byol_free(rep[r]);
    free(rep), free(batch), free(start), free(len), free(rs), free(msg);
    am_progress_finish(bar);
    if (s == AM_OK && m->feats) { /* the learned embedding beside the statistics, as fitted in training */
        int64_t d = m->hybrid.dim + m->hybrid.nstat;
        float *h = am_malloc((size_t)(n ? n * d : 1) * sizeof *h);
        if (!h) s = am_error(AM_ERR_NOMEM, "inference: out of memory");
        for (int64_t i = 0; h && i < n; i++)
            am_hybrid_apply(&m->hybrid, E->data + i * E->dim, m->feats + i * AM_MORPH_FEATURES, h + i * d);
        if (h) am_free(E->data), E->data = h, E->dim = d;
    }
    free(m->feats);
    m->feats = NULL;
    return s;
}

/* runs/<model>/: the projector files, with a 144-px thumbnail of every image in the sprite. */
static am_status write_projector(const char *dir, am_dataset *ds, const am_embeddings *E, int sprite)
{
    am_projector *p;
    AM_TRY(am_projector_open(&p, dir, E->n, E->dim, sprite));
    int size = am_projector_thumb_size(p);
    am_status s = AM_OK;
    for (int64_t i = 0; i < E->n && s == AM_OK; i++) {
        am_thumbnail th = {0};
        if (sprite) {
            am_tensor img;
            if ((s = am_dataset_get(ds, i, &img, NULL)) != AM_OK) break;
            s = am_thumbnail_make(img.data, (int)img.shape[0], (int)img.shape[1], (int)img.shape[2], size, NULL, &th,
                                  NULL);
            am_tensor_free(&img);
        }
        if (s == AM_OK)
            s = am_projector_add(p, E->data + i * E->dim, E->labels ? E->labels[i] : -1, &E->meta[i],
                                 sprite ? &th : NULL);
        am_thumbnail_free(&th);
    }
    if (s != AM_OK) {
        am_projector_abort(p);
        return s;
    }
    return am_projector_commit(p);
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: astromorph inference [-c FILE] [-d DATAFILE] [-m MASKFILE] [-n MODEL] [-k K]\n\n"
                "Embeds every image with a trained model and writes:\n"
                "  runs/<model>/          TensorBoard projector (tensors, metadata, sprite)\n"
                "  exported/<model>.safetensors  embeddings + metadata (for similar/project/cluster/outliers)\n"
                "  exported/<model>.csv   the original's ';'-separated export (export_to_csv = true)\n\n"
                "  -c, --configfile FILE            settings (TOML); options below override it\n"
                "  -d, --datafile FILE              list of FITS files, or a folder of them\n"
                "  -m, --maskfile FILE              mask: the datafile is then one image cut into objects\n"
                "  -n, --trained_network_name FILE  model from astromorph training\n"
                "  -k, --clusters K                 k-means clusters (default 10)\n"
                "  --csv                            also write exported/<model>.csv\n"
                "  -h, --help                       this help\n");
}

static am_status infer(am_cli_settings *s)
{
    model m = {0};
    am_dataset *ds = NULL;
    am_embeddings E = {0};
    am_kmeans_result km = {0};
    char name[256], path[1024];
    if (s->core_limit > 0) am_set_threads(s->core_limit);
    am_log(AM_LOG_INFO, "Loading pretrained model %s...", s->trained_network_name);
    am_status st = load_model(&m, s->trained_network_name);
    if (st == AM_OK && s->network_name && strcmp(s->network_name, m.network) != 0)
        am_log(AM_LOG_WARN, "the settings name network_name = \"%s\", but %s is a %s model: using the model's",
               s->network_name, s->trained_network_name, m.network);
    if (st == AM_OK && s->stacksize != 1 && s->stacksize != m.stacksize)
        am_log(AM_LOG_WARN, "data_settings.stacksize = %d, but the model was trained with %d: using %d", s->stacksize,
               m.stacksize, m.stacksize);
    if (st == AM_OK) {
        if (s->maskfile) st = am_dataset_open_mask(&ds, s->datafile, s->maskfile, &s->data);
        else st = am_dataset_open(&ds, s->datafile, &s->data);
    }
    char *report = NULL;
    if (st == AM_OK) st = am_dataset_validate(ds, &report);
    free(report);
    if (st == AM_OK && am_dataset_size(ds) < 1) st = am_error(AM_ERR_VALUE, "%s: no usable images", s->datafile);
    if (st == AM_OK) {
        am_log(AM_LOG_INFO, "Calculating embeddings of %lld images...", (long long)am_dataset_size(ds));
        m.morph_each = s->morphology_each;
        st = embed_all(&m, ds, &E, s->morphology);
    }
    model_basename(s->trained_network_name, name, sizeof name);
    if (st == AM_OK) st = am_embeddings_set_model(&E, name);
    if (st == AM_OK) {
        am_kmeans_opts ko;
        am_kmeans_defaults(&ko);
        ko.k = s->n_clusters;
        ko.seed = s->train.seed;
        if (ko.k > E.n) {
            am_log(AM_LOG_WARN, "n_clusters = %d but only %lld images: using %lld clusters", ko.k, (long long)E.n,
                   (long long)E.n);
            ko.k = (int)E.n;
        }
        am_log(AM_LOG_INFO, "Clustering embeddings (k = %d)...", ko.k);
        st = am_kmeans(E.data, E.n, E.dim, &ko, &km);
        if (st == AM_OK) st = am_embeddings_set_labels(&E, km.labels);
    }
    if (st == AM_OK) {
        am_log(AM_LOG_INFO, "Producing thumbnails and projector files...");
        snprintf(path, sizeof path, "runs/%s", name);
        st = write_projector(path, ds, &E, s->sprite);
        if (st == AM_OK) printf("projector:  %s/ (tensorboard --logdir runs)\n", path);
    }
    if (st == AM_OK) st = am_mkdirs("exported");
    if (st == AM_OK) {
        snprintf(path, sizeof path, "exported/%s.safetensors", name);
        st = am_embeddings_write(&E, path);
        if (st == AM_OK) printf("embeddings: %s (%lld x %lld)\n", path, (long long)E.n, (long long)E.dim);
    }
    if (st == AM_OK && s->export_to_csv) {
        snprintf(path, sizeof path, "exported/%s.csv", name);
        st = am_embeddings_write_csv(&E, path);
        if (st == AM_OK) printf("csv:        %s\n", path);
    }
    am_kmeans_result_free(&km);
    am_embeddings_free(&E);
    am_dataset_free(ds);
    am_byol_free(m.byol);
    am_hybrid_free(&m.hybrid);
    return st;
}

int am_cmd_inference(int argc, char **argv)
{
    static const struct option opts[] = {{"configfile", required_argument, NULL, 'c'},
                                         {"datafile", required_argument, NULL, 'd'},
                                         {"maskfile", required_argument, NULL, 'm'},
                                         {"trained_network_name", required_argument, NULL, 'n'},
                                         {"clusters", required_argument, NULL, 'k'},
                                         {"csv", no_argument, NULL, 'x'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config = NULL;
    am_cli_overrides ov = {0};
    int clusters = 0, csv = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:d:m:n:k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'd': ov.datafile = optarg; break;
        case 'm': ov.maskfile = optarg; break;
        case 'n': ov.trained_network_name = optarg; break;
        case 'k': {
            char *end;
            long k = strtol(optarg, &end, 10);
            if (*end || k < 1 || k > 100000) {
                fprintf(stderr, "astromorph inference: --clusters %s: must be an integer from 1 to 100000\n", optarg);
                return 2;
            }
            clusters = (int)k;
            break;
        }
        case 'x': csv = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "astromorph inference: unexpected argument '%s' (try --help)\n", argv[optind]);
        return 2;
    }
    am_cli_settings s;
    if (am_cli_settings_load(&s, config, AM_CLI_INFERENCE, &ov) != AM_OK) return am_cli_fail("inference");
    if (clusters) s.n_clusters = clusters;
    if (csv) s.export_to_csv = 1;
    am_cli_log_close(); /* INFO lines on the terminal, as the original's logger */
    am_status st = infer(&s);
    am_cli_settings_free(&s);
    return st == AM_OK ? 0 : am_cli_fail("inference");
}
