/* The embeddings of a whole data set through a model: each image read and fed as training fed
 * it, its morphology measured when asked, runs of equal-size images through the network
 * together, several runs side by side on forward-only copies of the model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/kmeans.h"
#include "astromorph/morphology.h"
#include "astromorph/pipeline.h"
#include "astromorph/progress.h"
#include "astromorph/runtime.h"
#include "dist/dist_internal.h"

void am_embed_options_default(am_embed_options *o)
{
    memset(o, 0, sizeof *o);
    o->hybrid = 1;
    o->progress = 1;
}

/* Consecutive images of one size go through the network together (eval mode: each image's
 * embedding is its own), up to EMBED_BATCH images or EMBED_MAX_VALUES input values. */
enum { EMBED_BATCH = 16, RUNS_PER_THREAD = 4 };
#define EMBED_MAX_VALUES ((int64_t)1 << 22)

typedef struct {
    am_model *m;
    am_dataset *ds;
    const am_embed_options *o;
    am_embeddings *E;
    int64_t lo, hi; /* the rows this process embeds (over MPI ranks, its share of the runs) */
    int64_t base; /* the row stored first in E: 0, or over ranks, on ranks other than 0, lo */
    int64_t n; /* rows in all */
    int morph_channels; /* with morphology_each: the first image's channel count */
    int64_t channels; /* the first image's channel count: every image must have it for the colours */
    int64_t nfeat; /* feature values per row: am_morphology_feature_count(channels) */
    float *feats; /* n × nfeat, or NULL: not wanted */
} job;

/* The data set's index of embedding row `row`. */
static int64_t item(const job *J, int64_t row) { return J->o->rows ? J->o->rows[row] : row; }

/* How many images from i on share image i's size (1 when sizes are not known before reading);
 * with views at a common size, any images. */
static int64_t same_size_run(const job *J, int64_t i, int64_t n)
{
    if (J->m->view_size > 0) return n - i < EMBED_BATCH ? n - i : EMBED_BATCH;
    int64_t first[3], next[3];
    if (am_dataset_item_shape(J->ds, item(J, i), first) != AM_OK) return 1;
    int64_t values = first[0] * first[1] * first[2], k = 1;
    while (i + k < n && k < EMBED_BATCH && (k + 1) * values <= EMBED_MAX_VALUES &&
           am_dataset_item_shape(J->ds, item(J, i + k), next) == AM_OK && memcmp(first, next, sizeof first) == 0)
        k++;
    return k;
}

/* The morphology of image `row`: its table columns into the statistics — of the channels' sum,
 * or of every channel in turn — and the feature vector of the sum for a hybrid. */
static am_status row_morphology(const job *J, const am_tensor *image, int64_t row, const char *name)
{
    float *stats = J->o->morphology ? J->E->stats : NULL;
    if (!stats && !J->feats) return AM_OK;
    am_morphology mo;
    double v[64];
    int each = J->o->morphology_each;
    int64_t c = image->shape[0], hw = image->shape[1] * image->shape[2];
    if (stats && each) {
        if (c != J->morph_channels)
            return am_error(AM_ERR_SHAPE, "%s: %lld channel(s), the first image %d (morphology_channels = \"each\")",
                            name, (long long)c, J->morph_channels);
        for (int64_t k = 0; k < c; k++) {
            am_status s = am_morphology_measure(image->data + k * hw, image->shape[1], image->shape[2], NULL, &mo);
            if (s != AM_OK) return am_error_prefix(s, "%s", name);
            int n = am_morphology_row(&mo, v);
            for (int j = 0; j < n; j++) stats[((row - J->base) * c + k) * n + j] = (float)v[j];
        }
    }
    if ((stats && !each) || J->feats) {
        if (am_morphology_colour_count(c) != am_morphology_colour_count(J->channels))
            return am_error(AM_ERR_SHAPE, "%s: %lld channel(s), the first image %lld (the colours need the same bands)",
                            name, (long long)c, (long long)J->channels);
        am_status s = am_morphology_measure_image(image, NULL, &mo);
        if (s != AM_OK) return am_error_prefix(s, "%s", name);
        int n = am_morphology_row(&mo, v);
        float *out = stats && !each ? stats + (row - J->base) * J->E->nstats : NULL;
        for (int j = 0; out && j < n; j++) out[j] = (float)v[j];
        for (int k = 0; out && k < mo.ncolours; k++) out[n + k] = (float)mo.colour[k];
        if (J->feats) am_morphology_features_all(&mo, J->feats + (row - J->base) * J->nfeat);
    }
    return AM_OK;
}

/* One image of a run read, measured (row_morphology) and made the network's input x, with its
 * metadata; *why: the reason when it fails (am_errmsg is the failing thread's own). */
static am_status image_input(const job *J, int64_t row, am_tensor *x, am_meta *meta, char **why)
{
    am_tensor img = {0};
    const char *name = am_dataset_name(J->ds, item(J, row));
    am_status s = am_dataset_get(J->ds, item(J, row), &img, meta);
    const int64_t channels = s == AM_OK ? img.shape[0] : 0;
    if (s == AM_OK) s = row_morphology(J, &img, row, name); /* of every band, before a sum */
    if (s == AM_OK && J->m->channel_sum) am_sum_channels(&img);
    if (s == AM_OK) s = am_network_input(&img, J->m->stacksize, J->m->normalization, J->m->view_size, x);
    if (s == AM_OK && x->shape[1] != J->m->in_channels)
        s = am_error(AM_ERR_SHAPE, "%s: %lld channel(s)%s x stacksize %d, the model takes %d", name,
                     (long long)channels, J->m->channel_sum ? " summed into 1" : "", J->m->stacksize,
                     J->m->in_channels);
    am_tensor_free(&img);
    if (s != AM_OK) *why = strdup(am_errmsg());
    return s;
}

/* Images i..i+k-1 as one k×C×H×W batch, each normalised on its own; metadata into E. The images
 * are independent, so they are read and measured side by side (the morphology of a hybrid fit
 * was most of its time on one thread); the first failure in row order is reported. */
static am_status batch_input(const job *J, int64_t i, int64_t k, am_tensor *batch)
{
    memset(batch, 0, sizeof *batch);
    am_tensor *x = calloc((size_t)k, sizeof *x);
    am_meta *meta = calloc((size_t)k, sizeof *meta);
    am_status *st = calloc((size_t)k, sizeof *st);
    char **why = calloc((size_t)k, sizeof *why);
    am_status s = x && meta && st && why ? AM_OK : am_error(AM_ERR_NOMEM, "embeddings: out of memory");
    if (s == AM_OK) {
#pragma omp parallel for schedule(dynamic, 1) if (k > 1)
        for (int64_t j = 0; j < k; j++) st[j] = image_input(J, i + j, &x[j], &meta[j], &why[j]);
    }
    for (int64_t j = 0; j < k && s == AM_OK; j++) {
        const char *name = am_dataset_name(J->ds, item(J, i + j));
        if (st[j] != AM_OK) s = am_error(st[j], "%s", why[j] ? why[j] : "embeddings: out of memory");
        else if (j == 0) s = am_tensor_alloc4(batch, k, x[0].shape[1], x[0].shape[2], x[0].shape[3]);
        if (s == AM_OK && am_tensor_numel(&x[j]) * k != am_tensor_numel(batch))
            s = am_error(AM_ERR_SHAPE, "%s: image size changed while reading", name);
        if (s == AM_OK) {
            memcpy(batch->data + j * am_tensor_numel(&x[j]), x[j].data, (size_t)am_tensor_numel(&x[j]) * sizeof(float));
            am_meta_free(&J->E->meta[i + j - J->base]);
            s = am_meta_copy(&J->E->meta[i + j - J->base], &meta[j]);
        }
    }
    for (int64_t j = 0; x && meta && st && why && j < k; j++) {
        am_tensor_free(&x[j]);
        am_meta_free(&meta[j]);
        free(why[j]);
    }
    free(x), free(meta), free(st), free(why);
    if (s != AM_OK) am_tensor_free(batch);
    return s;
}

/* One forward of k equal-size images (a run) on a model or replica. */
static am_status embed_run(am_byol *b, const am_tensor *batch, int64_t k, am_embeddings *E, int64_t i, const char *name)
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

/* The statistics' columns: morphology.h's and the colours of the bands (J->channels), or
 * <name>_c<k> channel by channel. */
static am_status stat_columns(job *J)
{
    int64_t ncol = 0;
    while (am_morphology_columns[ncol]) ncol++;
    const int each = J->o->morphology_each;
    J->morph_channels = (int)J->channels;
    const int64_t total = each ? ncol * J->channels : ncol + am_morphology_colour_count(J->channels);
    char **names = calloc((size_t)(total ? total : 1), sizeof *names);
    for (int64_t t = 0; names && t < total; t++) {
        char buf[80];
        if (!each && t < ncol) snprintf(buf, sizeof buf, "%s", am_morphology_columns[t]);
        else if (!each) am_morphology_colour_name(J->channels, (int)(t - ncol), buf, sizeof buf);
        else snprintf(buf, sizeof buf, "%s_c%lld", am_morphology_columns[t % ncol], (long long)(t / ncol));
        names[t] = strdup(buf);
    }
    int ok = names != NULL;
    for (int64_t t = 0; ok && t < total; t++) ok = names[t] != NULL;
    am_status s = ok ? am_embeddings_set_stats(J->E, total, (const char *const *)names, NULL)
                     : am_error(AM_ERR_NOMEM, "embeddings: out of memory");
    for (int64_t t = 0; names && t < total; t++) free(names[t]);
    free(names);
    return s;
}

/* The runs read for one round, embedded by am_replicas_run: run r on worker w's copy. */
typedef struct embed_round {
    job *J;
    am_byol **rep;
    am_tensor *batch;
    int64_t *start, *len;
} embed_round;

static am_status embed_job(void *user, int r, int worker)
{
    embed_round *R = user;
    return embed_run(R->rep[worker], &R->batch[r], R->len[r], R->J->E, R->start[r] - R->J->base,
                     am_dataset_name(R->J->ds, item(R->J, R->start[r])));
}

/* Runs are read in order on this thread, then embedded side by side, one run per worker on its
 * own forward-only copy of the model (which reads the model's weights): images of many sizes
 * cannot share a forward, and one image's layers are too small to keep all threads busy. */
static am_status embed_runs(job *J, am_progress *bar)
{
    int64_t n = J->hi;
    const int nthr = am_get_threads() > 0 ? am_get_threads() : 1;
    const int cap = RUNS_PER_THREAD * nthr;
    embed_round R = {.J = J};
    R.rep = calloc((size_t)nthr, sizeof *R.rep);
    R.batch = calloc((size_t)cap, sizeof *R.batch);
    R.start = calloc((size_t)cap, sizeof *R.start), R.len = calloc((size_t)cap, sizeof *R.len);
    am_status s = R.rep && R.batch && R.start && R.len ? AM_OK : am_error(AM_ERR_NOMEM, "embeddings: out of memory");
    if (s == AM_OK) R.rep[0] = J->m->byol;
    int nrep = 1;
    for (int64_t i = J->lo; i < n && s == AM_OK;) {
        int nrun = 0;
        for (; nrun < cap && i < n && s == AM_OK; nrun++) {
            R.start[nrun] = i, R.len[nrun] = same_size_run(J, i, n);
            s = batch_input(J, i, R.len[nrun], &R.batch[nrun]);
            i += R.len[nrun];
        }
        /* one run, or one thread: its layers get all the threads */
        int want = nrun < nthr ? nrun : nthr;
        for (; s == AM_OK && nrep < want; nrep++) s = am_byol_replica(&R.rep[nrep], J->m->byol, 0);
        if (s == AM_OK) s = am_replicas_run(nrun, want, embed_job, &R, NULL);
        for (int r = 0; r < nrun; r++) am_tensor_free(&R.batch[r]);
        if (bar) am_progress_update(bar, i - J->lo, NAN);
    }
    for (int r = 1; r < nrep; r++) am_byol_free(R.rep[r]);
    free(R.rep), free(R.batch), free(R.start), free(R.len);
    return s;
}

/* The learned embedding beside the statistics, as fitted in training (on the first h->nstat
 * of each row's nfeat: a model fitted before the colours or the structure statistics). */
static am_status apply_hybrid(const am_hybrid *h, am_embeddings *E, const float *feats, int64_t nfeat)
{
    int64_t d = h->dim + h->nstat;
    float *out = am_malloc((size_t)(E->n ? E->n * d : 1) * sizeof *out);
    if (!out) return am_error(AM_ERR_NOMEM, "embeddings: out of memory");
    for (int64_t i = 0; i < E->n; i++) am_hybrid_apply(h, E->data + i * E->dim, feats + i * nfeat, out + i * d);
    am_free(E->data);
    E->data = out, E->dim = d;
    return AM_OK;
}

/* Over MPI ranks: the runs one process would make, shared out as contiguous blocks of runs, so
 * that every image goes through the network in the same company as in one process (and so
 * gives the same bits). lo[r] .. lo[r+1] − 1 are rank r's rows: about n/size each, starting
 * on a multiple of AM_KMEANS_ALIGN rows where a run starts there (always with views at a
 * common size), so that k-means can run over the same shares. */
static am_status share_rows(const job *J, int64_t n, int64_t **lo)
{
    int size = am_dist_size();
    *lo = calloc((size_t)size + 1, sizeof **lo);
    int64_t *start = malloc((size_t)(n ? n : 1) * sizeof *start), nrun = 0;
    if (!*lo || !start) {
        free(start);
        return am_error(AM_ERR_NOMEM, "embeddings: out of memory");
    }
    for (int64_t i = 0; i < n; i += same_size_run(J, i, n)) start[nrun++] = i;
    for (int r = 0; r <= size; r++) {
        int64_t want = n * r / size / AM_KMEANS_ALIGN * AM_KMEANS_ALIGN, q = 0;
        while (q < nrun && start[q] < want) q++; /* the first run starting at or after it */
        int64_t at = r == size || q == nrun ? n : start[q];
        if (at != want && r < size) { /* no run starts there: the even share of runs */
            int64_t even = nrun * r / size;
            at = even < nrun ? start[even] : n;
        }
        (*lo)[r] = r > 0 && at < (*lo)[r - 1] ? (*lo)[r - 1] : at;
    }
    free(start);
    return AM_OK;
}

am_status am_pipeline_embed_with_features(am_model *m, am_dataset *ds, const am_embed_options *opt, am_embeddings *E,
                                          float **feats, int64_t *nfeat)
{
    am_embed_options o;
    if (opt) o = *opt;
    else am_embed_options_default(&o);
    if (feats) *feats = NULL;
    if (nfeat) *nfeat = 0;
    int64_t n = o.rows ? o.nrows : am_dataset_size(ds);
    for (int64_t r = 0; o.rows && r < n; r++)
        if (o.rows[r] < 0 || o.rows[r] >= am_dataset_size(ds))
            return am_error(AM_ERR_VALUE, "embeddings: row %lld names image %lld of %lld", (long long)r,
                            (long long)o.rows[r], (long long)am_dataset_size(ds));
    int hybrid = o.hybrid && m->hybrid.dim > 0;
    job J = {.m = m, .ds = ds, .o = &o, .E = E, .lo = 0, .hi = n, .n = n};
    int64_t *lo = NULL;
    const int shared = am_dist_size() > 1 && !o.local;
    if (shared) {
        AM_TRY(share_rows(&J, n, &lo));
        J.lo = lo[am_dist_rank()], J.hi = lo[am_dist_rank() + 1];
    }
    /* over ranks, rank 0 holds every row (it receives the others'), the others only their own */
    J.base = shared && am_dist_rank() != 0 ? J.lo : 0;
    const int64_t held = shared && am_dist_rank() != 0 ? J.hi - J.lo : n;
    am_status s = am_embeddings_alloc(E, held, am_byol_get_options(m->byol)->representation_size);
    if (s != AM_OK) {
        free(lo);
        return s;
    }
    E->row0 = J.base;
    /* the first image's channels fix the colours every row has */
    int64_t first[3] = {1, 0, 0};
    if (n > 0) s = am_dataset_item_shape_read(ds, item(&J, 0), first);
    J.channels = first[0], J.nfeat = am_morphology_feature_count(first[0]);
    if (s == AM_OK && o.morphology) s = stat_columns(&J);
    /* a model fitted before the colours, or before the structure statistics, uses a prefix */
    if (s == AM_OK && hybrid &&
        (m->hybrid.dim != E->dim || (m->hybrid.nstat != J.nfeat && m->hybrid.nstat != AM_MORPH_FEATURES &&
                                     m->hybrid.nstat != AM_MORPH_FEATURES_V1)))
        s = am_error(AM_ERR_FORMAT, "the model's hybrid fit is for %lld + %lld values, the network gives %lld + %lld",
                     (long long)m->hybrid.dim, (long long)m->hybrid.nstat, (long long)E->dim, (long long)J.nfeat);
    if (s == AM_OK && (hybrid || feats) &&
        !(J.feats = malloc((size_t)(held ? held : 1) * (size_t)J.nfeat * sizeof *J.feats)))
        s = am_error(AM_ERR_NOMEM, "embeddings: out of memory");
    am_mode was = am_byol_mode(m->byol);
    am_byol_set_mode(m->byol, AM_MODE_EVAL);
    am_progress *bar = NULL;
    if (s == AM_OK && o.progress && am_dist_rank() == 0) {
        if (am_progress_create(&bar, "embeddings", J.hi - J.lo, stderr, AM_PROGRESS_AUTO) != AM_OK) bar = NULL;
        else am_progress_update(bar, 0, NAN);
    }
    if (s == AM_OK) s = embed_runs(&J, bar);
    am_progress_finish(bar);
    if (shared) {
        s = am_dist_agree(s);
        if (s == AM_OK) s = am_dist_gather_rows(E, lo, J.feats, J.feats ? J.nfeat : 0);
        free(lo);
    }
    am_byol_set_mode(m->byol, was);
    if (s == AM_OK && hybrid) s = apply_hybrid(&m->hybrid, E, J.feats, J.nfeat);
    if (s == AM_OK && feats) *feats = J.feats, *nfeat = J.nfeat;
    else free(J.feats);
    if (s != AM_OK) am_embeddings_free(E);
    return s;
}

am_status am_pipeline_embed(am_model *m, am_dataset *ds, const am_embed_options *o, am_embeddings *E)
{
    return am_pipeline_embed_with_features(m, ds, o, E, NULL, NULL);
}
