/* A training run as the library runs it: the original's pipeline_01_training with its outputs
 * (logs/<time>.log, runs/<time>/ TensorBoard scalars, saved_models/improved_net_e_<epochs>_<time>
 * .safetensors + saved_models/.gitignore), plus checkpoints, cancellation, resume, the lock on
 * the run, the collapse monitors and the hybrid fit. The data set is adapted to the trainer's
 * source here (src_*), its hooks write the log, progress bar and TensorBoard (on_*). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "astromorph/augment.h"
#include "astromorph/byol.h"
#include "astromorph/dataset.h"
#include "astromorph/evaluate.h"
#include "astromorph/hybrid.h"
#include "astromorph/morphology.h"
#include "astromorph/models.h"
#include "astromorph/pipeline.h"
#include "astromorph/progress.h"
#include "astromorph/runtime.h"
#include "astromorph/safetensors.h"
#include "astromorph/settings.h"
#include "astromorph/tfevents.h"
#include "astromorph/train.h"
#include "core/internal.h"
#include "dist/dist_internal.h"

#define SAVEDIR "saved_models"
enum { LABEL_LEN = 24, MONITOR_MAX = 256 };
/* The command's clocks (log_times): its start, then the end of each part. */
enum { PH_START, PH_SETTINGS, PH_DATA, PH_NET, PH_TRAINER, PH_EPOCHS, PH_FIT, PH_MODEL, PH_END, PH_N };

/* The run's lock, held until the program ends (released by the kernel with the process). */
static am_lock run_lock = {-1};

typedef struct {
    const am_settings *s;
    am_dataset *ds;
    am_tfevents *tb;
    am_progress *bar;
    int64_t ntrain;
    am_status tb_status; /* the first TensorBoard write error, reported at the end */
    am_dataset_source data; /* the trainer's source */
    am_byol *byol; /* for the collapse monitors */
    int in_channels;
    int64_t *monitor_idx, nmonitor; /* test images whose embeddings are monitored */
    double first_epoch_s, last_epoch_s, epochs_s; /* the first epoch this run trained makes the primitives */
    double epoch_cpu0, first_epoch_cpu, last_epoch_cpu, epochs_cpu; /* the same in process CPU time */
    double wall[PH_N], cpu[PH_N]; /* the command's clocks */
    double prim_s; /* oneDNN primitive creation so far (thread time), for each epoch's share */
    int64_t prims;
    double monitor_s; /* the collapse monitors' embeddings */
} run;

/* ---- trainer hooks: log, progress bar, TensorBoard ---- */

static void scalar(run *r, const char *tag, int64_t step, double v)
{
    if (!r->tb || !isfinite(v)) return;
    am_status s = am_tfevents_scalar(r->tb, tag, step, v);
    if (s != AM_OK && r->tb_status == AM_OK) {
        r->tb_status = s;
        am_log(AM_LOG_WARN, "TensorBoard: %s", am_errmsg());
    }
}

static void on_split(void *user, const int64_t *train_idx, int64_t ntrain, const int64_t *test_idx, int64_t ntest)
{
    run *r = user;
    r->ntrain = ntrain;
    /* monitored: evenly spaced test images (the test split is already a random draw) */
    free(r->monitor_idx);
    r->nmonitor = ntest < MONITOR_MAX ? ntest : MONITOR_MAX;
    r->monitor_idx = r->nmonitor ? malloc((size_t)r->nmonitor * sizeof *r->monitor_idx) : NULL;
    if (!r->monitor_idx) r->nmonitor = 0;
    for (int64_t k = 0; k < r->nmonitor; k++) r->monitor_idx[k] = test_idx[k * ntest / r->nmonitor];
    am_log(AM_LOG_INFO, "train/test split (seed %llu): %lld training images, %lld test images",
           (unsigned long long)r->s->train.seed, (long long)ntrain, (long long)ntest);
    for (int64_t i = 0; i < ntrain; i++) am_log(AM_LOG_DEBUG, "train %s", am_dataset_name(r->ds, train_idx[i]));
    for (int64_t i = 0; i < ntest; i++) am_log(AM_LOG_DEBUG, "test %s", am_dataset_name(r->ds, test_idx[i]));
}

/* Collapse monitors after each epoch: the spread and effective rank of the embeddings of (up to
 * MONITOR_MAX) test images, as inference would compute them. BYOL's failure is a collapse of
 * every image onto one point, which the losses alone do not show. */

/* The hybrid embedding's fit (include/astromorph/hybrid.h) over every image of the set, embedded
 * as inference embeds them (am_pipeline_embed), as a JSON text for the model file. */
static am_status fit_hybrid(run *r, int in_channels, char **json)
{
    am_model m;
    am_model_wrap(&m, r->byol, in_channels, r->s->stacksize, r->s->augment.view_size, r->s->augment.normalization);
    m.channel_sum = r->data.channel_sum;
    am_embed_options o;
    am_embed_options_default(&o);
    am_embeddings E = {0};
    float *f = NULL;
    int64_t nfeat = 0;
    am_status s = am_pipeline_embed_with_features(&m, r->ds, &o, &E, &f, &nfeat);
    am_hybrid h;
    /* over MPI ranks the embedding is shared out and its rows gathered at rank 0, which fits */
    if (s == AM_OK && am_dist_rank() == 0)
        s = am_hybrid_fit_with(&h, E.data, E.n, E.dim, f, nfeat,
                               &(am_hybrid_options){.weight = r->s->hybrid_weight,
                                                    .learned = r->s->hybrid_learned_scale,
                                                    .stats = r->s->hybrid_stats_scale});
    if (s == AM_OK && am_dist_rank() == 0) {
        *json = am_hybrid_to_json(&h);
        if (!*json) s = am_error(AM_ERR_NOMEM, "hybrid: out of memory");
        am_hybrid_free(&h);
    }
    am_embeddings_free(&E);
    free(f);
    am_model_close(&m);
    return s;
}

static void monitor(run *r, int epoch)
{
    if (!r->byol || r->nmonitor < 2) return;
    const double t0 = am_monotonic_seconds();
    am_model m;
    am_model_wrap(&m, r->byol, r->in_channels, r->s->stacksize, r->s->augment.view_size, r->s->augment.normalization);
    m.channel_sum = r->data.channel_sum;
    am_embed_options o;
    am_embed_options_default(&o);
    o.progress = 0, o.rows = r->monitor_idx, o.nrows = r->nmonitor;
    am_embeddings E = {0};
    am_status s = am_pipeline_embed(&m, r->ds, &o, &E);
    double spread = NAN, erank = NAN;
    int dim = (int)E.dim;
    if (s == AM_OK && am_dist_rank() != 0) s = AM_ERR_INTERRUPTED; /* rank 0 has the rows and reports */
    if (s == AM_OK) s = am_embedding_spread(E.data, E.n, dim, &spread, &erank);
    am_embeddings_free(&E);
    am_model_close(&m);
    r->monitor_s += am_monotonic_seconds() - t0;
    if (s == AM_ERR_INTERRUPTED) return;
    if (s != AM_OK) {
        am_log(AM_LOG_WARN, "collapse monitor: %s", am_errmsg());
        return;
    }
    am_log(AM_LOG_INFO,
           "[Epoch %d] Embeddings of %lld test images: spread %.3f (1: even, 0: collapsed), effective rank %.1f of %d",
           epoch, (long long)r->nmonitor, spread, erank, dim);
    scalar(r, "Embedding spread", epoch, spread);
    scalar(r, "Effective rank", epoch, erank);
}

/* Process CPU time: on a shared machine it moves less with the load than the wall clock does. */
static double cpu_seconds(void)
{
    struct timespec ts;
    return clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0 ? (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec : 0;
}

static void stamp(run *r, int phase)
{
    r->wall[phase] = am_monotonic_seconds();
    r->cpu[phase] = cpu_seconds();
}

static void on_epoch_start(void *user, int epoch, double lr)
{
    run *r = user;
    r->epoch_cpu0 = cpu_seconds();
    char label[64];
    snprintf(label, sizeof label, "epoch %d/%d", epoch, r->s->train.epochs);
    am_log(AM_LOG_INFO, "[Epoch %d] Learning rate: %.3e", epoch, lr);
    am_progress_finish(r->bar);
    r->bar = NULL;
    if (am_progress_create(&r->bar, label, r->ntrain, stderr, AM_PROGRESS_AUTO) != AM_OK) r->bar = NULL;
    else am_progress_update(r->bar, 0, NAN); /* the clock starts with the epoch, not its first batch */
}

static void on_batch(void *user, int epoch, int64_t step, double loss) { scalar(user, "Batch loss", step, loss); }

static void on_progress(void *user, int epoch, int testing, int64_t done, int64_t total, double running)
{
    run *r = user;
    if (!r->bar) return;
    if (testing) { /* the training part of the epoch is over */
        am_progress_finish(r->bar);
        r->bar = NULL;
        return;
    }
    am_progress_update(r->bar, done, running);
}

static void on_epoch_end(void *user, int epoch, double train_loss, double test_loss, double seconds)
{
    run *r = user;
    am_progress_finish(r->bar);
    r->bar = NULL;
    am_log(AM_LOG_INFO, "[Epoch %d] Training loss: %.3e", epoch, train_loss);
    am_log(AM_LOG_INFO, "[Epoch %d] Test OOS loss: %.3e", epoch, test_loss);
    double prim_s;
    int64_t prims;
    am_dnn_creation(&prim_s, &prims);
    am_log(AM_LOG_INFO, "[Epoch %d] %.1f s (%.1f images/s; %lld oneDNN primitives made in %.2f s)", epoch, seconds,
           seconds > 0 ? (double)r->ntrain / seconds : 0.0, (long long)(prims - r->prims), prim_s - r->prim_s);
    r->prim_s = prim_s, r->prims = prims;
    const double cpu = cpu_seconds() - r->epoch_cpu0;
    if (r->first_epoch_s == 0) r->first_epoch_s = seconds, r->first_epoch_cpu = cpu;
    r->last_epoch_s = seconds, r->last_epoch_cpu = cpu;
    r->epochs_s += seconds, r->epochs_cpu += cpu;
    /* epochs count from 1, as the original's writer.add_scalar(..., epoch) */
    scalar(r, "Train loss", epoch, train_loss);
    scalar(r, "Test loss", epoch, test_loss);
    monitor(r, epoch);
}

static void on_checkpoint(void *user, const char *path, int epoch)
{
    am_log(AM_LOG_DEBUG, "checkpoint after epoch %d: %s", epoch, path);
}

/* ---- files ---- */

static am_status write_gitignore(void)
{
    char path[] = SAVEDIR "/.gitignore";
    if (am_file_exists(path)) return AM_OK;
    am_atomic_file af;
    AM_TRY(am_atomic_open(&af, path, 0));
    fputs(".gitignore\n*.pt\n*.safetensors\n", af.fp);
    return am_atomic_commit(&af);
}

/* The newest saved_models/checkpoint_<time>.safetensors, for --resume without a file. */
static am_status newest_checkpoint(char *out, size_t size)
{
    static const char *const kinds[] = {".safetensors", NULL};
    am_status s = am_newest_file(SAVEDIR, "checkpoint_", kinds, out, size);
    if (s == AM_ERR_IO)
        return am_error(AM_ERR_NOTFOUND, "resume: no %s/ folder here, so no checkpoint to resume from", SAVEDIR);
    if (s != AM_OK) return am_error(AM_ERR_NOTFOUND, "resume: no checkpoint_*.safetensors in %s/", SAVEDIR);
    return AM_OK;
}

/* checkpoint_<label>.safetensors → label, so a resumed run keeps its names. */
static void label_from_checkpoint(const char *path, char label[LABEL_LEN])
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (strncmp(base, "checkpoint_", 11) == 0 && n > 11 + 12 && n - 11 - 12 < LABEL_LEN)
        snprintf(label, LABEL_LEN, "%.*s", (int)(n - 11 - 12), base + 11);
}

/* The original names runs by the minute; a second run in the same minute gets "_2", "_3", ...
 * rather than mixing its log, scalars and checkpoint into the first one's. */
static void unique_label(char label[LABEL_LEN])
{
    char base[LABEL_LEN], log[64], runs[64];
    snprintf(base, sizeof base, "%s", label);
    for (int k = 2; k < 1000; k++) {
        snprintf(log, sizeof log, "logs/%s.log", label);
        snprintf(runs, sizeof runs, "runs/%s", label);
        if (!am_file_exists(log) && !am_file_exists(runs)) return;
        snprintf(label, LABEL_LEN, "%.13s_%d", base, k);
    }
}

/* network_settings.pretrained: a model from astromorph training (its metadata names the network;
 * it must be this run's network on as many input channels), kept read in *st for its BYOL state,
 * or torchvision ResNet18 weights (*from_model 0; st freed). */
static am_status open_start(const char *path, const am_model_spec *spec, am_safetensors *st, int *from_model)
{
    AM_TRY(am_st_read(st, path));
    const char *net = am_st_meta(st, AM_META_NETWORK), *ch = am_st_meta(st, AM_META_CHANNELS);
    const char *layer = am_st_meta(st, AM_META_LAST_LAYER), *width = am_st_meta(st, AM_META_AMM_WIDTH);
    am_status s = AM_OK;
    *from_model = net != NULL;
    if (net && strcmp(net, spec->network_name) != 0)
        s = am_error(AM_ERR_VALUE, "network_settings.pretrained: %s is a %s model, this run trains %s", path, net,
                     spec->network_name);
    else if (net && (!ch || atoi(ch) != spec->in_channels))
        s = am_error(AM_ERR_VALUE, "network_settings.pretrained: %s takes %s input channel(s), these images give %d",
                     path, ch ? ch : "an unknown number of", spec->in_channels);
    else if (net && !strcmp(net, "n_layer_resnet") && layer && strcmp(layer, spec->last_layer) != 0)
        s = am_error(AM_ERR_VALUE, "network_settings.pretrained: %s ends at %s, this run's last_layer is %s", path,
                     layer, spec->last_layer);
    else if (net && atoi(width ? width : "1") != spec->amm_width)
        s = am_error(AM_ERR_VALUE, "network_settings.pretrained: %s has amm_width %s, this run's amm_width is %d", path,
                     width ? width : "1", spec->amm_width);
    if (s != AM_OK || !*from_model) am_st_free(st), memset(st, 0, sizeof *st);
    return s;
}

/* Over MPI ranks: what the exchange cost each rank, per optimizer step, into rank 0's log. The
 * gradient and BatchNorm sums are the trainer's reduce phase; the rest of the time in MPI is
 * spent waiting at the ranks' agreements for the slowest rank (docs/cluster.md). */
static void log_communication(const am_trainer *t, double seconds)
{
    const int size = am_dist_size();
    am_train_times tt;
    am_trainer_times(t, &tt);
    am_dist_stats ds;
    am_dist_get_stats(&ds);
    enum { W = 5 };
    double *v = calloc((size_t)size * W, sizeof *v);
    if (!v) return;
    const double steps = (double)(am_trainer_steps_done(t) > 0 ? am_trainer_steps_done(t) : 1);
    const double mine[W] = {seconds / steps, tt.reduce / steps, tt.reduce_comm / steps, ds.seconds / steps,
                            (double)ds.bytes_sent / steps};
    if (am_dist_allgather(mine, sizeof mine, v) == AM_OK)
        for (int r = 0; r < size; r++)
            am_log(AM_LOG_INFO,
                   "MPI rank %d: %.1f ms per step, %.1f ms summing gradients and statistics (%.1f ms of it in MPI), "
                   "%.1f ms in MPI in all, %.2f MB sent per step",
                   r, 1e3 * v[W * r], 1e3 * v[W * r + 1], 1e3 * v[W * r + 2], 1e3 * v[W * r + 3], 1e-6 * v[W * r + 4]);
    free(v);
}

/* Where the command's time went (issue 15: the whole command, not just the epochs), from the
 * clocks at the command's start, then after the settings, data, network, trainer, epochs,
 * hybrid fit, model file and settings file: a line for the user, and for bench/whole_command one
 * of wall time and one of process CPU time. */
static void log_times(const run *r, const am_trainer *t)
{
    am_train_times tt;
    am_trainer_times(t, &tt);
    double prim_s;
    int64_t prims;
    am_dnn_creation(&prim_s, &prims);
    const double *c = r->wall, *u = r->cpu;
    am_log(AM_LOG_INFO,
           "Training took %.1f s: settings %.2f s, data %.2f s, network %.2f s, trainer %.2f s, epochs %.1f s (the "
           "first %.1f s, the last %.1f s; test passes %.2f s, collapse monitors %.2f s, checkpoints %.2f s; %lld "
           "oneDNN primitives made in %.2f s of thread time), hybrid fit %.2f s, model file %.2f s, settings file "
           "%.2f s",
           c[PH_END] - c[PH_START], c[1] - c[0], c[2] - c[1], c[3] - c[2], c[4] - c[3], c[5] - c[4], r->first_epoch_s,
           r->last_epoch_s, tt.test, r->monitor_s, tt.checkpoint, (long long)prims, prim_s, c[6] - c[5], c[7] - c[6],
           c[8] - c[7]);
    am_log(AM_LOG_DEBUG,
           "phases: total=%.4f settings=%.4f data=%.4f network=%.4f trainer=%.4f epochs=%.4f epoch_sum=%.4f "
           "epoch_first=%.4f epoch_last=%.4f epochs_done=%d read=%.4f test=%.4f monitor=%.4f checkpoint=%.4f "
           "primitives=%.4f primitive_count=%lld hybrid=%.4f model=%.4f settings_file=%.4f",
           c[8] - c[0], c[1] - c[0], c[2] - c[1], c[3] - c[2], c[4] - c[3], c[5] - c[4], r->epochs_s, r->first_epoch_s,
           r->last_epoch_s, am_trainer_epochs_done(t), tt.read, tt.test, r->monitor_s, tt.checkpoint, prim_s,
           (long long)prims, c[6] - c[5], c[7] - c[6], c[8] - c[7]);
    /* CPU: the settings part from the process's start (program loading included) */
    am_log(AM_LOG_DEBUG,
           "phases_cpu: total=%.4f settings=%.4f data=%.4f network=%.4f trainer=%.4f epochs=%.4f epoch_sum=%.4f "
           "epoch_first=%.4f epoch_last=%.4f hybrid=%.4f model=%.4f settings_file=%.4f",
           u[8], u[1], u[2] - u[1], u[3] - u[2], u[4] - u[3], u[5] - u[4], r->epochs_cpu, r->first_epoch_cpu,
           r->last_epoch_cpu, u[6] - u[5], u[7] - u[6], u[8] - u[7]);
}

/* Everything after the settings: data, network, trainer, outputs. */
am_status am_pipeline_train(am_settings *s, am_train_run *out)
{
    const char *resume_from = out->resume_from;
    int check_only = out->check_only;
    char *model_path = out->model_path;
    size_t msize = sizeof out->model_path;
    am_status st;
    run r = {.s = s};
    am_safetensors start = {0}; /* network_settings.pretrained, when it is an astromorph model */
    char *fingerprint = NULL, *fingerprint_defaults = NULL;
    am_byol *byol = NULL;
    am_trainer *trainer = NULL;
    char *label = out->label, *ckpt = out->checkpoint_path, resume_path[1024] = "";
    _Static_assert(sizeof out->label == LABEL_LEN, "am_train_run.label holds a label");
    label[0] = ckpt[0] = model_path[0] = 0;

    stamp(&r, PH_SETTINGS);
    r.wall[PH_START] = out->started > 0 && out->started <= r.wall[PH_SETTINGS] ? out->started : r.wall[PH_SETTINGS];
    const int lead = am_dist_rank() == 0; /* over MPI, rank 0 alone writes the run's files */
    am_time_label(label);
    st = AM_OK;
    if (s->resume || resume_from) {
        if (resume_from) snprintf(resume_path, sizeof resume_path, "%s", resume_from);
        else if (lead) st = newest_checkpoint(resume_path, sizeof resume_path);
        label_from_checkpoint(resume_path, label);
    } else if (!check_only && lead) {
        unique_label(label);
    }
    /* every rank names the run and its checkpoint as rank 0 does */
    AM_TRY(am_dist_agree(st));
    AM_TRY(am_dist_bcast(label, LABEL_LEN, 0));
    AM_TRY(am_dist_bcast(resume_path, sizeof resume_path, 0));
    if (!check_only && lead) {
        /* one process per run: a second one (a resume while the first still trains) would mix
         * its log, events and checkpoints into the first one's */
        char lockpath[96], what[64];
        AM_TRY(am_mkdirs(SAVEDIR));
        snprintf(lockpath, sizeof lockpath, SAVEDIR "/.run_%s.lock", label);
        snprintf(what, sizeof what, "training run %s", label);
        if (run_lock.fd < 0) AM_TRY(am_lock_take(&run_lock, lockpath, what));
        int stale = am_atomic_clean_stale(SAVEDIR);
        char logpath[64];
        snprintf(logpath, sizeof logpath, "logs/%s.log", label);
        AM_TRY(am_run_log_open(logpath));
        if (stale)
            am_log(AM_LOG_INFO, "removed %d temporary file(s) left in %s/ by processes that ended", stale, SAVEDIR);
    } else {
        am_run_log_close(); /* a check writes no log file, but says what it found */
    }
    if (am_dist_size() > 1) am_log(AM_LOG_INFO, "%d MPI ranks", am_dist_size());
    am_log(AM_LOG_INFO, "%s training run %s with settings:",
           check_only       ? "Checking"
           : resume_path[0] ? "Resuming"
                            : "Starting",
           label);
    FILE *lf = am_run_log_file();
    if (lead) am_settings_print(s, lf ? lf : stdout);
    if (lf) fflush(lf);
    if (s->core_limit > 0) am_set_threads(s->core_limit);

    /* data: every file checked before anything is trained */
    if (s->maskfile) st = am_dataset_open_mask(&r.ds, s->datafile, s->maskfile, &s->data);
    else st = am_dataset_open(&r.ds, s->datafile, &s->data);
    if (st != AM_OK) return st;
    char *report = NULL;
    st = am_dataset_validate(r.ds, &report);
    free(report);
    int64_t n = am_dataset_size(r.ds);
    if (st == AM_OK && n < 2)
        st = am_error(AM_ERR_VALUE, "%s: %lld usable image(s); training needs at least 2", s->datafile, (long long)n);
    int64_t shape[3] = {0, 0, 0};
    if (st == AM_OK) st = am_dataset_item_shape(r.ds, 0, shape);
    for (int64_t i = 1; st == AM_OK && i < n; i++) {
        int64_t sh[3];
        st = am_dataset_item_shape(r.ds, i, sh);
        if (st == AM_OK && sh[0] != shape[0])
            st = am_error(AM_ERR_SHAPE, "%s has %lld channel(s) but %s has %lld: one network takes one channel count",
                          am_dataset_name(r.ds, i), (long long)sh[0], am_dataset_name(r.ds, 0), (long long)shape[0]);
    }
    if (st != AM_OK) goto done;
    am_log(AM_LOG_INFO, "%lld images of %lld channel(s) from %s (%lld left out)", (long long)n, (long long)shape[0],
           s->datafile, (long long)am_dataset_n_skipped(r.ds));
    stamp(&r, PH_DATA);

    /* network and BYOL */
    const int channel_sum = am_settings_channel_sum(s, shape[0]);
    if (channel_sum)
        am_log(AM_LOG_INFO, "the network sees the sum of the %lld channels; their colours go to the hybrid embedding",
               (long long)shape[0]);
    am_model_spec spec = {.network_name = s->network_name,
                          .last_layer = s->last_layer,
                          .in_channels = (channel_sum ? 1 : (int)shape[0]) * s->stacksize,
                          .pooling = s->pooling,
                          .amm_width = s->amm_width};
    int dim = 0;
    if ((st = am_model_check(&spec)) != AM_OK || (st = am_model_embedding_dim(&spec, &dim)) != AM_OK) goto done;
    if (s->representation_size && s->representation_size != dim)
        am_log(AM_LOG_WARN, "byol_settings.representation_size = %d does not match %s's %d features at '%s'; using %d",
               s->representation_size, s->network_name, dim, s->byol.hidden_layer, dim);
    char widened[32] = "";
    if (s->amm_width != 1) snprintf(widened, sizeof widened, " x%d wide", s->amm_width);
    am_log(AM_LOG_INFO, "network %s%s (%d input channel(s)): %d features at '%s'%s%s", s->network_name, widened,
           spec.in_channels, dim, s->byol.hidden_layer, s->pooling != AM_POOLING_AVERAGE ? ", pooling " : "",
           s->pooling != AM_POOLING_AVERAGE ? am_pooling_name(s->pooling) : "");
    if (check_only) goto done;
    am_byol_options bo = s->byol;
    bo.representation_size = dim;
    bo.probe_channels = spec.in_channels;
    am_net *net = NULL;
    int from_model = 0;
    if (s->pretrained && (st = open_start(s->pretrained, &spec, &start, &from_model)) != AM_OK) goto done;
    if ((st = am_model_create(&net, &spec, s->train.seed)) != AM_OK) goto done;
    /* set before BYOL wraps it: the target network and the replicas inherit it */
    const am_precision prec = am_settings_precision(s);
    am_net_set_precision(net, prec);
    am_log(AM_LOG_INFO, "convolutions in %s%s (oneDNN dispatches %s)", prec == AM_PRECISION_BF16 ? "BF16" : "FP32",
           s->precision == 2 ? ", chosen for this CPU" : "", am_cpu_isa_name());
    if (s->pretrained && !from_model && (st = am_model_load_pretrained(net, &spec, s->pretrained)) != AM_OK) {
        am_net_free(net);
        goto done;
    }
    if ((st = am_byol_create(&byol, net, &bo)) != AM_OK) goto done;
    r.byol = byol, r.in_channels = spec.in_channels;
    /* an astromorph model: the whole BYOL state (online, projector, predictor, target) */
    if (from_model && (st = am_byol_load_state(byol, &start)) != AM_OK) {
        st = am_error_prefix(st, "%s", s->pretrained);
        goto done;
    }
    am_st_free(&start), memset(&start, 0, sizeof start);
    if (s->pretrained)
        am_log(AM_LOG_INFO, "starting from %s (%s)", s->pretrained,
               from_model ? "an astromorph model" : "torchvision ImageNet weights");
    stamp(&r, PH_NET);

    /* outputs */
    if (lead && ((st = am_mkdirs(SAVEDIR)) != AM_OK || (st = write_gitignore()) != AM_OK)) goto agree;
    snprintf(ckpt, sizeof out->checkpoint_path, SAVEDIR "/checkpoint_%s.safetensors", label);
    snprintf(model_path, msize, SAVEDIR "/improved_net_e_%d_%s.safetensors", s->train.epochs, label);
    char logdir[64];
    snprintf(logdir, sizeof logdir, "runs/%s/", label);
    if (lead) st = am_tfevents_open(&r.tb, logdir);
agree:
    if ((st = am_dist_agree(st)) != AM_OK) goto done;

    /* what inference needs to see images as training did: in the model and every checkpoint */
    char channels[16], stack[16], view[16], width[16];
    snprintf(channels, sizeof channels, "%d", spec.in_channels);
    snprintf(width, sizeof width, "%d", s->amm_width);
    snprintf(stack, sizeof stack, "%d", s->stacksize);
    snprintf(view, sizeof view, "%d", s->augment.view_size);
    const char *keys[] = {AM_META_NETWORK,    AM_META_LAST_LAYER, AM_META_CHANNELS,      AM_META_STACKSIZE,
                          AM_META_NAN_POLICY, AM_META_VIEW_SIZE,  AM_META_NORMALIZATION, AM_META_POOLING,
                          AM_META_AMM_WIDTH,  AM_META_PRECISION,  AM_META_CHANNEL_SUM,   AM_META_HYBRID};
    const char *vals[] = {s->network_name,
                          s->last_layer,
                          channels,
                          stack,
                          am_nan_policy_name(s->data.fits.nan_policy),
                          view,
                          am_normalization_name(s->augment.normalization),
                          am_pooling_name(s->pooling),
                          width,
                          prec == AM_PRECISION_BF16 ? "bf16" : "fp32",
                          channel_sum ? "1" : "0",
                          NULL};
    enum { N_META = 11 }; /* the hybrid fit, at the end, only in the model */
    am_train_settings ts = s->train;
    ts.checkpoint_path = ckpt;
    ts.meta_keys = keys, ts.meta_values = vals, ts.n_meta = N_META;
    fingerprint = am_settings_fingerprint(s);
    if (!fingerprint) {
        st = am_error(AM_ERR_NOMEM, "out of memory");
        goto done;
    }
    ts.fingerprint = fingerprint;
    /* a checkpoint of an older version lacks the keys added since: they had their defaults */
    fingerprint_defaults = am_settings_fingerprint_defaults(s);
    if (!fingerprint_defaults) {
        st = am_error(AM_ERR_NOMEM, "out of memory");
        goto done;
    }
    ts.fingerprint_defaults = fingerprint_defaults;
    ts.cancel = am_interrupt_flag();
    r.data =
        (am_dataset_source){.ds = r.ds, .augment = &s->augment, .stacksize = s->stacksize, .channel_sum = channel_sum};
    am_train_source src = am_dataset_source_make(&r.data, n);
    am_train_hooks hooks = {.on_split = on_split,
                            .on_epoch_start = on_epoch_start,
                            .on_batch = on_batch,
                            .on_progress = on_progress,
                            .on_epoch_end = on_epoch_end,
                            .on_checkpoint = on_checkpoint,
                            .user = &r};
    if ((st = am_trainer_create(&trainer, byol, &src, &ts, &hooks)) != AM_OK) goto done;
    const char *wait = getenv("OMP_WAIT_POLICY");
    am_log(AM_LOG_INFO, "%d replica(s) of the model on %d thread(s), waiting %s", am_trainer_replicas(trainer),
           am_get_threads(),
           wait ? wait : "active (libgomp's default; OMP_WAIT_POLICY=passive where other work shares the cores)");
    if (resume_path[0]) {
        if ((st = am_trainer_resume(trainer, resume_path)) != AM_OK) goto done;
        am_log(AM_LOG_INFO, "resumed from %s after epoch %d", resume_path, am_trainer_epochs_done(trainer));
    }
    am_interrupt_catch();
    stamp(&r, PH_TRAINER);
    st = am_trainer_run(trainer);
    am_interrupt_release();
    stamp(&r, PH_EPOCHS);
    if (st == AM_OK && am_dist_size() > 1) log_communication(trainer, r.wall[PH_EPOCHS] - r.wall[PH_TRAINER]);
    am_progress_finish(r.bar);
    r.bar = NULL;
    if (st == AM_ERR_INTERRUPTED) {
        am_log(AM_LOG_WARN, "interrupted after %d epoch(s); checkpoint saved to %s", am_trainer_epochs_done(trainer),
               ckpt);
        if (s->source) am_log(AM_LOG_INFO, "continue with: astromorph training -c %s --resume %s", s->source, ckpt);
        else am_log(AM_LOG_INFO, "continue with: astromorph training %s --resume %s", s->datafile, ckpt);
        goto done;
    }
    if (st != AM_OK) goto done;

    {
        char *hybrid = NULL;
        if (s->hybrid_weight > 0) {
            am_log(AM_LOG_INFO, "Fitting the hybrid embedding (statistics weight %g) on %lld images...",
                   s->hybrid_weight, (long long)n);
            if ((st = fit_hybrid(&r, spec.in_channels, &hybrid)) != AM_OK) goto done;
        }
        stamp(&r, PH_FIT);
        vals[N_META] = hybrid;
        if (lead) st = am_byol_save(byol, model_path, keys, vals, hybrid ? N_META + 1 : N_META);
        stamp(&r, PH_MODEL);
        free(hybrid);
        if ((st = am_dist_agree(st)) != AM_OK) goto done;
    }
    if (!lead) goto done;
    am_log(AM_LOG_INFO, "Model saved to %s", model_path);
    /* the settings it used beside it, so that `training -c` repeats the run */
    {
        char toml[1100];
        snprintf(toml, sizeof toml, "%.*s.toml", (int)(strlen(model_path) - strlen(".safetensors")), model_path);
        am_atomic_file af;
        if ((st = am_atomic_open(&af, toml, 0)) != AM_OK) goto done;
        fprintf(af.fp, "# the settings of the run that trained %s\n", model_path);
        am_settings_print(s, af.fp);
        if ((st = am_atomic_commit(&af)) != AM_OK) goto done;
        am_log(AM_LOG_INFO, "Settings saved to %s", toml);
    }
    stamp(&r, PH_END);
    log_times(&r, trainer);
done:
    am_progress_finish(r.bar);
    if (r.tb) {
        am_status cs = am_tfevents_close(r.tb);
        if (st == AM_OK && cs != AM_OK) st = cs;
    }
    am_trainer_free(trainer);
    am_byol_free(byol);
    am_dataset_free(r.ds);
    free(r.monitor_idx);
    free(fingerprint), free(fingerprint_defaults);
    am_st_free(&start);
    return st;
}
