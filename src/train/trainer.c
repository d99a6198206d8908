/* The training loop: split, epochs of shuffled images, an Adam step every batch_size images run
 * on parallel replicas, the test pass, the schedule, hooks and checkpoints. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "astromorph/runtime.h"
#include "train/train_internal.h"
#include "core/internal.h"
#include "dist/dist_internal.h"

/* Stream tags, kept apart from the (epoch, image, view) streams of augmentations. */
#define SHUFFLE_TAG 0x5ff1eULL
#define VIEW_ONE 1
#define VIEW_TWO 2
/* local view l: stream 16 + 4l (a lone image's second sample 18 + 4l, as group_views adds 2) */
#define VIEW_LOCAL(l) (16 + 4 * (l))

void am_train_settings_original(am_train_settings *s)
{
    memset(s, 0, sizeof *s);
    s->epochs = 10;
    s->batch_size = 16;
    s->learning_rate = 5e-6;
    s->beta1 = 0.9, s->beta2 = 0.999, s->eps = 1e-8;
    s->schedule = AM_LR_CONSTANT;
    s->gamma = 0.99;
    s->warmup_epochs = 1;
    s->norm = AM_NORM_COMPAT;
    s->images_per_forward = 1;
    s->max_forward_pixels = (int64_t)1 << 22;
    s->test_fraction = 0.2;
    s->seed = 42;
    s->replicas = 0; /* automatic: am_train_settings */
}

void am_train_settings_default(am_train_settings *s)
{
    am_train_settings_original(s);
    /* Measured on labelled real and synthetic sets (docs/quality.md, docs/training.md): batch
     * statistics over many different images (views at a common size fill a forward whatever the
     * images' sizes), batches of 64 images, a one-cycle-like schedule (linear warm-up, cosine
     * decay) around a 200x larger step than the original's, 30 epochs. */
    s->epochs = 30;
    s->batch_size = 64;
    s->learning_rate = 1e-3;
    s->schedule = AM_LR_COSINE;
    s->warmup_epochs = 2;
    s->norm = AM_NORM_TRAIN;
    s->images_per_forward = 32;
}

static am_status check_settings(const am_train_settings *s, const am_train_source *src)
{
    if (s->epochs < 1) return am_error(AM_ERR_VALUE, "train: epochs = %d must be >= 1", s->epochs);
    if (s->batch_size < 1) return am_error(AM_ERR_VALUE, "train: batch_size = %d must be >= 1", s->batch_size);
    if (!(s->learning_rate > 0) || !isfinite(s->learning_rate))
        return am_error(AM_ERR_VALUE, "train: learning_rate = %g must be > 0", s->learning_rate);
    if (!(s->weight_decay >= 0))
        return am_error(AM_ERR_VALUE, "train: weight_decay = %g must be >= 0", s->weight_decay);
    if (!(s->beta1 >= 0 && s->beta1 < 1) || !(s->beta2 >= 0 && s->beta2 < 1) || !(s->eps > 0))
        return am_error(AM_ERR_VALUE, "train: Adam betas (%g, %g) must be in [0, 1) and eps %g > 0", s->beta1, s->beta2,
                        s->eps);
    if (s->schedule == AM_LR_EXPONENTIAL && !(s->gamma > 0 && s->gamma <= 1))
        return am_error(AM_ERR_VALUE, "train: gamma = %g must be in (0, 1]", s->gamma);
    if (s->schedule == AM_LR_COSINE && (s->warmup_epochs < 0 || !(s->min_lr_ratio >= 0 && s->min_lr_ratio <= 1)))
        return am_error(AM_ERR_VALUE, "train: cosine warmup_epochs = %d must be >= 0, min_lr_ratio = %g in [0, 1]",
                        s->warmup_epochs, s->min_lr_ratio);
    if (s->images_per_forward < 1)
        return am_error(AM_ERR_VALUE, "train: images_per_forward = %d must be >= 1", s->images_per_forward);
    if (s->max_forward_pixels < 0)
        return am_error(AM_ERR_VALUE, "train: max_forward_pixels = %lld must be >= 0",
                        (long long)s->max_forward_pixels);
    if (s->replicas < 0 || s->replicas > AM_DIST_MAX_LOCAL)
        return am_error(AM_ERR_VALUE, "train: replicas = %d must be in [0, %d]", s->replicas, AM_DIST_MAX_LOCAL);
    if (s->checkpoint_every < 0)
        return am_error(AM_ERR_VALUE, "train: checkpoint_every = %d must be >= 0", s->checkpoint_every);
    if (!src || !src->get) return am_error(AM_ERR_VALUE, "train: the data source has no get function");
    if (src->local_views < 0) return am_error(AM_ERR_VALUE, "train: local views = %d must be >= 0", src->local_views);
    if (src->local_views > 0 && (!src->fixed_view || !src->augment_local))
        return am_error(AM_ERR_VALUE, "train: local views need views at a common size (view_size > 0)");
    return AM_OK;
}

am_status am_trainer_create(am_trainer **out, am_byol *byol, const am_train_source *src, const am_train_settings *s,
                            const am_train_hooks *h)
{
    *out = NULL;
    AM_TRY(check_settings(s, src));
    am_trainer *t = calloc(1, sizeof *t);
    if (!t) return am_error(AM_ERR_NOMEM, "train: out of memory");
    t->byol = byol;
    t->src = *src;
    t->s = *s;
    if (h) t->h = *h;
    t->last_ckpt_epoch = -1;
    am_status st = AM_OK;
    if (s->checkpoint_path) {
        t->ckpt_path = strdup(s->checkpoint_path);
        if (!t->ckpt_path) st = am_error(AM_ERR_NOMEM, "train: out of memory");
        t->s.checkpoint_path = t->ckpt_path;
    }
    if (st == AM_OK)
        st = am_split(src->count, s->test_fraction, s->seed, &t->train_idx, &t->ntrain, &t->test_idx, &t->ntest);

    /* The master's trainable parameters and their full names (for the optimizer's state). */
    t->nparams = am_byol_param_count(byol);
    t->params = calloc(t->nparams ? t->nparams : 1, sizeof *t->params);
    t->param_names = calloc(t->nparams ? t->nparams : 1, sizeof *t->param_names);
    if (st == AM_OK && (!t->params || !t->param_names)) st = am_error(AM_ERR_NOMEM, "train: out of memory");
    for (size_t i = 0; st == AM_OK && i < t->nparams; i++) t->params[i] = am_byol_param(byol, i);
    for (size_t j = 0, i = 0; st == AM_OK && j < am_byol_state_count(byol) && i < t->nparams; j++) {
        const char *name;
        if (am_byol_state(byol, j, &name) == t->params[i]) t->param_names[i++] = name;
    }
    if (st == AM_OK) st = am_adam_init(&t->adam, t->params, t->nparams, s->beta1, s->beta2, s->eps, s->weight_decay);
    t->adam.decoupled = s->optimizer == AM_OPT_ADAMW;
    if (t->s.replicas == 0) {
        /* Measured (bench/README.md): a network as large as ResNet18 keeps both threads busy inside
         * its layers, and a second replica would add its gradients and activations (+20-39 % memory)
         * for 2-5 % more speed; small networks are 5-8 % faster on two. */
        int64_t n = 0;
        for (size_t i = 0; st == AM_OK && i < t->nparams; i++) n += am_tensor_numel(&t->params[i]->value);
        t->s.replicas = n >= AM_TRAIN_LARGE_MODEL ? 1 : 2;
    }

    t->rep = calloc((size_t)t->s.replicas, sizeof *t->rep);
    if (st == AM_OK && !t->rep) st = am_error(AM_ERR_NOMEM, "train: out of memory");
    t->nrep = t->s.replicas; /* made when first given work (run_images) */
    t->rank = am_dist_rank(), t->nranks = am_dist_size();
    t->nglobal = t->nrep * t->nranks;
    t->fresh = calloc((size_t)t->s.replicas, 1);
    if (st == AM_OK && !t->fresh) st = am_error(AM_ERR_NOMEM, "train: out of memory");
    if (st != AM_OK) {
        am_trainer_free(t);
        return st;
    }
    *out = t;
    return AM_OK;
}

void am_trainer_free(am_trainer *t)
{
    if (!t) return;
    for (int r = 0; t->rep && r < t->nrep; r++) am_byol_free(t->rep[r]);
    free(t->rep);
    free(t->fresh);
    am_free(t->flat);
    am_adam_free(&t->adam);
    free(t->params), free(t->param_names);
    free(t->train_idx), free(t->test_idx);
    free(t->ckpt_path);
    free(t);
}

int am_trainer_epochs_done(const am_trainer *t) { return t->epoch; }
int am_trainer_replicas(const am_trainer *t) { return t->nrep; }
int64_t am_trainer_steps_done(const am_trainer *t) { return t->steps; }

static int64_t steps_per_epoch(const am_trainer *t) { return (t->ntrain + t->s.batch_size - 1) / t->s.batch_size; }

double am_trainer_lr(const am_trainer *t) { return am_lr_at(&t->s, t->epoch, t->steps, steps_per_epoch(t)); }

static am_mode train_mode(const am_trainer *t)
{
    if (t->s.norm == AM_NORM_FROZEN) return AM_MODE_EVAL;
    if (t->s.norm == AM_NORM_COMPAT && t->tested) return AM_MODE_EVAL;
    return AM_MODE_TRAIN;
}

static int cancelled(const am_trainer *t) { return t->s.cancel && *t->s.cancel; }

static const char *item_name(const am_trainer *t, int64_t i)
{
    const char *n = t->src.name ? t->src.name(t->src.user, i) : NULL;
    return n ? n : "";
}

/* View v of an item, from the stream (seed; epoch, index, view); a local view with local. */
static am_status make_view(const am_trainer *t, const am_tensor *item, int64_t idx, int epoch, int v, int local,
                           am_tensor *out)
{
    if (!t->src.augment) return am_tensor_clone(out, item);
    am_rng r;
    am_rng_init(&r, t->s.seed, am_rng_stream((uint64_t)epoch, (uint64_t)idx, (uint64_t)v));
    return (local ? t->src.augment_local : t->src.augment)(t->src.user, item, &r, out);
}

/* The views of a group of images stacked along the batch axis; *bad is the item at fault. All
 * views of a group have the first one's shape (the item's, or the source's fixed view shape). */
static am_status group_views(const am_trainer *t, am_tensor *items, const int64_t *idx, int64_t len, int epoch, int v,
                             am_tensor *out, int64_t *bad)
{
    int64_t each = 0;
    /* A fixed-size view is one sample: a lone image (a batch's tail) gets a second view of its
     * own (streams 3 and 4), since train-mode BatchNorm needs two samples. */
    int64_t samples = t->src.fixed_view && len == 1 ? 2 : len;
    /* With local views, out holds all of them, l-major (am_byol_step_multi's layout). */
    const int local = v >= VIEW_LOCAL(0), nv = local ? t->src.local_views : 1;
    for (int64_t r = 0; r < samples * nv; r++) {
        am_tensor one = {0};
        int64_t i = r % samples, it = i < len ? i : 0;
        int vr = local ? VIEW_LOCAL(r / samples) : v;
        *bad = idx[it];
        AM_TRY(make_view(t, &items[it], idx[it], epoch, i < len ? vr : vr + 2, local, &one));
        am_status s = AM_OK;
        if (r == 0) {
            int64_t shape[AM_MAX_DIMS];
            memcpy(shape, one.shape, sizeof shape);
            shape[0] *= samples * nv;
            each = am_tensor_numel(&one);
            s = am_tensor_alloc(out, one.ndim, shape);
        } else if (am_tensor_numel(&one) != each) {
            s = am_error(AM_ERR_SHAPE, "augment made views of different sizes in one forward");
        }
        if (s == AM_OK && !t->src.fixed_view && am_tensor_numel(&one) != am_tensor_numel(&items[it]))
            s = am_error(AM_ERR_SHAPE, "augment changed the item's size");
        /* One NaN pixel poisons every weight in one step (the original's failure): refuse it here. */
        if (s == AM_OK && !am_tensor_all_finite(&one))
            s = am_error(AM_ERR_NUMERIC, "the image has NaN or Inf pixels (view %d)", vr);
        if (s == AM_OK) memcpy(out->data + r * each, one.data, (size_t)each * sizeof(float));
        am_tensor_free(&one);
        AM_TRY(s);
    }
    return AM_OK;
}

/* A group's views: the two global batches, then its local views in one batch (empty without). */
#define VIEWS_PER_GROUP 3

/* The views of group gi[0..len) into v[0..VIEWS_PER_GROUP). */
static am_status make_group_views(const am_trainer *t, am_tensor *items, const int64_t *gi, int64_t len, int epoch,
                                  am_tensor *v, int64_t *bad)
{
    am_status s = group_views(t, items, gi, len, epoch, VIEW_ONE, &v[0], bad);
    if (s == AM_OK) s = group_views(t, items, gi, len, epoch, VIEW_TWO, &v[1], bad);
    if (s == AM_OK && t->src.local_views > 0) s = group_views(t, items, gi, len, epoch, VIEW_LOCAL(0), &v[2], bad);
    return s;
}

typedef struct group {
    int64_t first, len;
} group;

/* The work of one batch, shared by the worker threads. */
typedef struct job {
    am_trainer *t;
    const int64_t *idx;
    am_tensor *items;
    group *g;
    int64_t ng;
    int epoch, grad;
    double *gl;
    am_tensor *views; /* VIEWS_PER_GROUP per group, made beforehand when the source is not thread-safe */
    int64_t *bad; /* per replica: the item its failure belongs to, or -1 */
    double *busy; /* per replica: seconds making views [2r] and stepping [2r + 1] */
} job;

/* Orders shapes: channels, height, width, then batch size. */
static int shape_before(const am_tensor *a, const am_tensor *b)
{
    for (int d = 1; d <= 4; d++) {
        int64_t x = a->shape[d % 4], y = b->shape[d % 4];
        if (x != y) return x < y;
    }
    return 0;
}

/* This rank's global replica number of its replica r. */
static int global_replica(const am_trainer *t, int r) { return t->rank * t->nrep + r; }

/* Whether group k of a batch runs on this rank. */
static int local_group(const am_trainer *t, int64_t k) { return k % t->nglobal / t->nrep == t->rank; }

/* How many of this rank's replicas get a group when a batch has ng groups. */
static int local_worked(const am_trainer *t, int64_t ng)
{
    int64_t w = (ng < t->nglobal ? ng : t->nglobal) - (int64_t)t->rank * t->nrep;
    return w <= 0 ? 0 : w < t->nrep ? (int)w : t->nrep;
}

/* Replica r takes groups g, g + G, g + 2G, ... in order, where g is its global number and G the
 * number of replicas over all ranks (am_replicas_run's job r). */
static am_status run_replica(void *user, int r, int worker)
{
    job *j = user;
    am_trainer *t = j->t;
    am_status s = AM_OK;
    for (int64_t k = global_replica(t, r); k < j->ng && s == AM_OK; k += t->nglobal) {
        if (cancelled(t)) return am_error(AM_ERR_INTERRUPTED, "train: cancelled");
        am_tensor v[VIEWS_PER_GROUP] = {{0}};
        const int64_t *gi = j->idx + j->g[k].first;
        am_tensor *items = j->items + j->g[k].first;
        int64_t bad = gi[0];
        double t0 = am_monotonic_seconds();
        if (j->views) {
            memcpy(v, &j->views[VIEWS_PER_GROUP * k], sizeof v);
            memset(&j->views[VIEWS_PER_GROUP * k], 0, sizeof v);
        } else {
            s = make_group_views(t, items, gi, j->g[k].len, j->epoch, v, &bad);
        }
        if (s == AM_OK) bad = j->g[k].len == 1 ? gi[0] : -1; /* a group's loss belongs to all its images */
        double loss = 0, t1 = am_monotonic_seconds();
        /* The original sums per-image mean losses: a group of len images weighs len. */
        if (s == AM_OK)
            s = am_byol_step_multi(t->rep[r], &v[0], &v[1], t->src.local_views > 0 ? &v[2] : NULL,
                                   j->grad ? (float)j->g[k].len : 0.0f, &loss);
        j->busy[2 * r] += t1 - t0, j->busy[2 * r + 1] += am_monotonic_seconds() - t1;
        j->gl[k] = loss * (double)j->g[k].len;
        for (int i = 0; i < VIEWS_PER_GROUP; i++) am_tensor_free(&v[i]);
        if (s != AM_OK) j->bad[r] = bad;
    }
    return s;
}

/* Runs the images idx[0..n) on the replicas: group g (equal-size images of the batch, at most
 * images_per_forward) goes to global replica g mod G, which takes its groups in order. gl[g] is
 * the summed per-image loss of group g, on every rank. With grad, gradients of the summed losses
 * accumulate in the replicas. *ngroups is the number of groups. Over MPI ranks, with views at a
 * common size (groups are then runs of images_per_forward images in batch order) a rank reads
 * only its groups' images; with views at each image's size every rank reads the batch to group
 * it by size. Every rank returns the same status (am_dist_agree). */
static am_status run_images(am_trainer *t, const int64_t *idx, int64_t n, int epoch, am_mode mode, int grad, double *gl,
                            int64_t *ngroups)
{
    job j = {.t = t, .idx = idx, .epoch = epoch, .grad = grad, .gl = gl};
    j.items = calloc((size_t)n, sizeof *j.items);
    j.g = calloc((size_t)n, sizeof *j.g);
    j.bad = calloc((size_t)t->nrep, sizeof *j.bad);
    j.busy = calloc((size_t)(2 * t->nrep), sizeof *j.busy);
    am_status st = j.items && j.g && j.bad && j.busy ? AM_OK : am_error(AM_ERR_NOMEM, "train: out of memory");
    for (int64_t k = 0; gl && k < n; k++) gl[k] = 0; /* other ranks' groups stay 0 until summed */
    const int only_mine = t->nranks > 1 && t->src.fixed_view;
    double t_read = am_monotonic_seconds();
    for (int64_t i = 0; st == AM_OK && i < n; i++) {
        if (only_mine && !local_group(t, i / t->s.images_per_forward)) continue;
        st = t->src.get(t->src.user, idx[i], &j.items[i]);
        if (st != AM_OK) st = am_error_prefix(st, "train: item %lld %s", (long long)idx[i], item_name(t, idx[i]));
        else if (j.items[i].ndim != 4)
            st = am_error(AM_ERR_SHAPE, "train: item %lld is not an N×C×H×W batch", (long long)idx[i]);
    }
    if (grad) t->times.read += am_monotonic_seconds() - t_read;
    /* Equal sizes together (stable, so the order stays a function of the batch alone): with
     * images of several sizes, each size still fills whole forwards. */
    int64_t *sorted = malloc((size_t)n * sizeof *sorted);
    if (st == AM_OK && !sorted) st = am_error(AM_ERR_NOMEM, "train: out of memory");
    for (int64_t i = 0; st == AM_OK && i < n; i++) {
        am_tensor it = j.items[i];
        int64_t id = idx[i], k = i;
        for (; k > 0 && !t->src.fixed_view && shape_before(&it, &j.items[k - 1]); k--)
            j.items[k] = j.items[k - 1], sorted[k] = sorted[k - 1];
        j.items[k] = it, sorted[k] = id;
    }
    if (st == AM_OK) j.idx = idx = sorted;
    for (int64_t i = 0; st == AM_OK && i < n; i++) {
        group *last = j.ng ? &j.g[j.ng - 1] : NULL;
        int64_t values = last ? (last->len + 1) * am_tensor_numel(&j.items[i]) : 0;
        /* fixed views: every item gives one view shape, so any images share a forward */
        int fits = t->src.fixed_view || t->s.max_forward_pixels <= 0 || values <= t->s.max_forward_pixels;
        int same = t->src.fixed_view || am_tensor_same_shape(&j.items[last ? last->first : i], &j.items[i]);
        if (last && last->len < t->s.images_per_forward && fits && same) last->len++;
        else j.g[j.ng].first = i, j.g[j.ng].len = 1, j.ng++;
    }
    *ngroups = j.ng;
    if (st == AM_OK && !t->src.thread_safe && t->src.augment) {
        /* augment may not run concurrently: all views now, in order, on this thread. */
        j.views = calloc((size_t)(VIEWS_PER_GROUP * j.ng), sizeof *j.views);
        if (!j.views) st = am_error(AM_ERR_NOMEM, "train: out of memory");
        for (int64_t k = 0; st == AM_OK && k < j.ng; k++) {
            if (!local_group(t, k)) continue;
            int64_t bad = idx[j.g[k].first];
            const int64_t *gi = idx + j.g[k].first;
            st =
                make_group_views(t, j.items + j.g[k].first, gi, j.g[k].len, epoch, &j.views[VIEWS_PER_GROUP * k], &bad);
            if (st != AM_OK)
                st = am_error_prefix(st, "train: epoch %d, item %lld %s", epoch + 1, (long long)bad, item_name(t, bad));
        }
    }
    /* Only replicas that get work are made and brought up to the master's state. Replicas read
     * the master's weights (nothing to copy before a step); the first one adds its gradients
     * straight into the master's, where the others' are then summed. */
    const int worked = local_worked(t, j.ng);
    for (int r = 0; st == AM_OK && r < worked; r++) {
        if (!t->rep[r]) {
            st = am_byol_replica(&t->rep[r], t->byol, r == 0);
            if (st == AM_OK && t->s.profile) am_net_set_profiling(am_byol_network(t->rep[r]), 1);
        }
        if (st == AM_OK && !t->fresh[r]) st = am_byol_copy_state(t->rep[r], t->byol);
        t->fresh[r] = st == AM_OK;
        if (st != AM_OK) break;
        am_byol_set_mode(t->rep[r], mode);
        if (grad) am_byol_zero_grad(t->rep[r]);
    }
    /* The threads are shared out between the replicas that run at once (teams of their own
     * would spin against each other for the same cores); a layer's result does not depend on
     * its team's size. */
    int nw = am_get_threads();
    if (nw > worked) nw = worked;
    int failed = -1;
    if (st == AM_OK && worked > 0) st = am_replicas_run(worked, nw < 1 ? 1 : nw, run_replica, &j, &failed);
    for (int r = 0; grad && j.busy && r < t->nrep; r++)
        t->times.views += j.busy[2 * r], t->times.step += j.busy[2 * r + 1];
    if (grad && st == AM_OK) t->times.images += n;
    if (st != AM_OK && st != AM_ERR_INTERRUPTED && failed >= 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", am_errmsg());
        if (j.bad[failed] >= 0)
            st = am_error(st, "train: epoch %d, item %lld %s: %s", epoch + 1, (long long)j.bad[failed],
                          item_name(t, j.bad[failed]), msg);
        else st = am_error(st, "train: epoch %d: %s", epoch + 1, msg);
    }
    st = am_dist_agree(st);
    if (st == AM_OK && gl) st = am_dist_sum_disjoint_f64(gl, j.ng);
    for (int64_t i = 0; j.items && i < n; i++) am_tensor_free(&j.items[i]);
    for (int64_t k = 0; j.views && k < VIEWS_PER_GROUP * j.ng; k++) am_tensor_free(&j.views[k]);
    free(j.views);
    free(sorted);
    free(j.items), free(j.g), free(j.bad), free(j.busy);
    return st;
}

/* The replicas' gradients summed into the master in global replica order (replica 0's are the
 * master's own), one after the other as one process adds them, whatever the rank count. */
static am_status reduce_gradients(am_trainer *t, int lw)
{
    float *loc[AM_DIST_MAX_LOCAL];
    if (t->nranks == 1) { /* in place, parameter by parameter */
        for (size_t i = 0; i < t->nparams; i++) {
            for (int r = 0; r < lw; r++) loc[r] = am_byol_param(t->rep[r], i)->grad.data;
            AM_TRY(am_dist_chain_sum_f32(t->params[i]->grad.data, loc, lw, am_tensor_numel(&t->params[i]->grad)));
        }
        return AM_OK;
    }
    /* over ranks: every gradient in one flat array per replica, so the chain passes one message
     * stream per step rather than one per parameter */
    int64_t m = 0;
    for (size_t i = 0; i < t->nparams; i++) m += am_tensor_numel(&t->params[i]->grad);
    /* kept from step to step: fresh pages every step cost as much as the transfer */
    if (!t->flat) t->flat = am_malloc((size_t)(m ? m : 1) * (size_t)(t->nrep + 1) * sizeof *t->flat);
    float *flat = t->flat;
    if (!flat) return am_error(AM_ERR_NOMEM, "train: out of memory for the gradient sum");
    for (int r = 0; r < lw; r++) {
        loc[r] = flat + (int64_t)(r + 1) * m;
        int64_t o = 0;
        for (size_t i = 0; i < t->nparams; i++) {
            const am_tensor *g = &am_byol_param(t->rep[r], i)->grad;
            memcpy(loc[r] + o, g->data, (size_t)am_tensor_numel(g) * sizeof(float));
            o += am_tensor_numel(g);
        }
    }
    am_status st = am_dist_chain_sum_f32(flat, loc, lw, m);
    for (size_t i = 0, o = 0; st == AM_OK && i < t->nparams; i++) {
        am_tensor *g = &t->params[i]->grad;
        memcpy(g->data, flat + o, (size_t)am_tensor_numel(g) * sizeof(float));
        o += (size_t)am_tensor_numel(g);
    }
    return st;
}

/* BatchNorm buffers merged over the `worked` global replicas that ran, in their order: the mean
 * of the running statistics, the batch counts summed. Each rank's replicas' buffers are gathered
 * to every rank first (a few thousand values), so every rank merges the same numbers alike. */
static am_status reduce_buffers(am_trainer *t, int worked, int lw)
{
    size_t ns = am_byol_state_count(t->byol);
    int64_t nb = 0;
    for (size_t j = 0; j < ns; j++) {
        am_param *p = am_byol_state(t->byol, j, NULL);
        if (p->is_buffer) nb += am_tensor_numel(&p->value);
    }
    float *mine = calloc((size_t)(nb ? nb : 1) * (size_t)t->nrep, sizeof *mine);
    float *all = calloc((size_t)(nb ? nb : 1) * (size_t)t->nglobal, sizeof *all);
    am_status st = mine && all ? AM_OK : am_error(AM_ERR_NOMEM, "train: out of memory");
    for (int r = 0; st == AM_OK && r < lw; r++)
        for (size_t j = 0, o = 0; j < ns; j++) {
            const am_param *p = am_byol_state(t->rep[r], j, NULL);
            if (!p->is_buffer) continue;
            memcpy(mine + (int64_t)r * nb + (int64_t)o, p->value.data,
                   (size_t)am_tensor_numel(&p->value) * sizeof *mine);
            o += (size_t)am_tensor_numel(&p->value);
        }
    if (st == AM_OK) st = am_dist_allgather(mine, nb * t->nrep * (int64_t)sizeof *mine, all);
    for (size_t j = 0, o = 0; st == AM_OK && j < ns; j++) {
        am_param *p = am_byol_state(t->byol, j, NULL);
        if (!p->is_buffer) continue;
        int64_t m = am_tensor_numel(&p->value);
        for (int64_t e = 0; e < m; e++) {
            double base = p->value.data[e], acc = 0;
            for (int r = 0; r < worked; r++) {
                double x = all[(int64_t)r * nb + (int64_t)o + e];
                acc += p->is_integer ? x - base : x;
            }
            p->value.data[e] = (float)(p->is_integer ? base + acc : acc / worked);
        }
        o += (size_t)m;
    }
    free(mine), free(all);
    return st;
}

/* After a batch of ng groups: gradients summed and checked, BatchNorm buffers merged. */
static am_status reduce(am_trainer *t, int64_t ng, am_mode mode)
{
    const int worked = (int)(ng < t->nglobal ? ng : t->nglobal), lw = local_worked(t, ng);
    am_dist_stats c0, c1;
    am_dist_get_stats(&c0);
    am_status st = reduce_gradients(t, lw);
    am_dist_get_stats(&c1);
    t->times.reduce_comm += c1.seconds - c0.seconds;
    AM_TRY(st);
    for (size_t i = 0; i < t->nparams; i++) {
        const float *g = t->params[i]->grad.data;
        const int64_t m = am_tensor_numel(&t->params[i]->grad);
        int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if (m >= AM_PARALLEL_MIN)
        for (int64_t j = 0; j < m; j++) bad |= !isfinite(g[j]);
        if (bad) return am_error(AM_ERR_NUMERIC, "train: the gradient of %s is not finite", t->param_names[i]);
    }
    if (mode != AM_MODE_TRAIN) return AM_OK;
    am_dist_get_stats(&c0);
    st = reduce_buffers(t, worked, lw);
    am_dist_get_stats(&c1);
    t->times.reduce_comm += c1.seconds - c0.seconds;
    return st;
}

/* One optimizer step over the images idx[0..n). */
static am_status train_batch(am_trainer *t, const int64_t *idx, int64_t n, int epoch, double lr, double *loss_sum)
{
    am_mode mode = train_mode(t);
    double *gl = calloc((size_t)n, sizeof *gl);
    if (!gl) return am_error(AM_ERR_NOMEM, "train: out of memory");
    int64_t ng = 0;
    am_status st = run_images(t, idx, n, epoch, mode, 1, gl, &ng);
    memset(t->fresh, 0, (size_t)t->nrep); /* their gradients and statistics moved on */
    double sum = 0;
    for (int64_t k = 0; k < ng; k++) sum += gl[k];
    free(gl);
    AM_TRY(st);
    *loss_sum = sum;
    double t0 = am_monotonic_seconds();
    AM_TRY(reduce(t, ng, mode));
    double t1 = am_monotonic_seconds();
    am_adam_step(&t->adam, t->params, lr);
    am_byol_params_changed(t->byol);
    double t2 = am_monotonic_seconds();
    double decay = am_byol_get_options(t->byol)->moving_average_decay;
    if (t->s.ema == AM_EMA_COSINE) {
        /* t->steps counts the steps done before this one: k runs 0 .. K-1 */
        double k = (double)t->steps, K = (double)t->s.epochs * (double)steps_per_epoch(t);
        decay = 1.0 - (1.0 - decay) * (cos(M_PI * k / (K > 1 ? K : 1)) + 1.0) / 2.0;
    }
    am_byol_update_target_with(t->byol, decay);
    t->times.reduce += t1 - t0, t->times.optimizer += t2 - t1, t->times.ema += am_monotonic_seconds() - t2;
    return AM_OK;
}

static am_status test_pass(am_trainer *t, int epoch, double *mean)
{
    *mean = NAN;
    if (t->ntest == 0) return AM_OK;
    double *gl = calloc((size_t)t->s.batch_size, sizeof *gl);
    if (!gl) return am_error(AM_ERR_NOMEM, "train: out of memory");
    double sum = 0;
    am_status st = AM_OK;
    for (int64_t pos = 0; st == AM_OK && pos < t->ntest; pos += t->s.batch_size) {
        int64_t n = t->ntest - pos < t->s.batch_size ? t->ntest - pos : t->s.batch_size, ng = 0;
        st = run_images(t, t->test_idx + pos, n, epoch, AM_MODE_EVAL, 0, gl, &ng);
        for (int64_t k = 0; st == AM_OK && k < ng; k++) sum += gl[k];
        if (st == AM_OK && t->h.on_progress)
            t->h.on_progress(t->h.user, epoch + 1, 1, pos + n, t->ntest, sum / (double)(pos + n));
    }
    free(gl);
    AM_TRY(st);
    *mean = sum / (double)t->ntest;
    return AM_OK;
}

am_status am_trainer_test_loss(am_trainer *t, int epoch, double *loss) { return test_pass(t, epoch, loss); }

void am_trainer_times(const am_trainer *t, am_train_times *out)
{
    *out = t->times;
    memset(&out->layers, 0, sizeof out->layers);
    for (int r = 0; r < t->nrep; r++) {
        if (!t->rep[r]) continue;
        const am_net_profile *p = am_net_get_profile(am_byol_network(t->rep[r]));
        for (int k = 0; k < AM_MOD_KINDS; k++) {
            out->layers.forward_s[k] += p->forward_s[k], out->layers.backward_s[k] += p->backward_s[k];
            out->layers.forward_calls[k] += p->forward_calls[k], out->layers.backward_calls[k] += p->backward_calls[k];
        }
    }
}

am_status am_trainer_save_checkpoint(am_trainer *t, const char *path)
{
    double t0 = am_monotonic_seconds();
    /* every rank holds the same state: rank 0 writes it, and all learn whether that worked */
    am_status st = t->rank == 0 ? am_checkpoint_write(t, path) : AM_OK;
    st = am_dist_agree(st);
    t->times.checkpoint += am_monotonic_seconds() - t0;
    AM_TRY(st);
    t->last_ckpt_epoch = t->epoch;
    if (t->h.on_checkpoint) t->h.on_checkpoint(t->h.user, path, t->epoch);
    return AM_OK;
}

am_status am_trainer_resume(am_trainer *t, const char *path)
{
    memset(t->fresh, 0, (size_t)t->nrep);
    return am_checkpoint_read(t, path);
}

static am_status stop_numeric(am_trainer *t)
{
    if (t->last_ckpt_epoch >= 0)
        return am_error_prefix(AM_ERR_NUMERIC, "training stopped; the last good checkpoint is %s (epoch %d)",
                               t->ckpt_path, t->last_ckpt_epoch);
    return am_error_prefix(AM_ERR_NUMERIC, "training stopped (no checkpoint was written yet)");
}

/* Tells the source which items come next, batch by batch from order[0..n): over MPI ranks with
 * views at a common size, only the items of this rank's groups (those it will read). */
static void prefetch(am_trainer *t, const int64_t *order, int64_t n)
{
    if (t->nranks == 1 || !t->src.fixed_view) {
        t->src.prefetch(t->src.user, order, n);
        return;
    }
    int64_t *mine = malloc((size_t)(n ? n : 1) * sizeof *mine), m = 0;
    if (!mine) return; /* reading ahead is only an optimisation */
    for (int64_t b = 0; b < n; b += t->s.batch_size)
        for (int64_t i = 0; i < t->s.batch_size && b + i < n; i++)
            if (local_group(t, i / t->s.images_per_forward)) mine[m++] = order[b + i];
    t->src.prefetch(t->src.user, mine, m);
    free(mine);
}

am_status am_trainer_run(am_trainer *t)
{
    if (t->h.on_split) t->h.on_split(t->h.user, t->train_idx, t->ntrain, t->test_idx, t->ntest);
    int64_t *order = malloc((size_t)t->ntrain * sizeof *order);
    if (!order) return am_error(AM_ERR_NOMEM, "train: out of memory");
    am_status st = AM_OK;
    while (st == AM_OK && t->epoch < t->s.epochs) {
        const int e = t->epoch;
        double t0 = am_monotonic_seconds();
        if (t->pos == 0 && t->h.on_epoch_start) t->h.on_epoch_start(t->h.user, e + 1, am_trainer_lr(t));
        memcpy(order, t->train_idx, (size_t)t->ntrain * sizeof *order);
        am_rng r;
        am_rng_init(&r, t->s.seed, am_rng_stream(SHUFFLE_TAG, (uint64_t)e, 0));
        am_rng_shuffle(&r, order, t->ntrain);
        if (t->src.prefetch) prefetch(t, order + t->pos, t->ntrain - t->pos);
        while (st == AM_OK && t->pos < t->ntrain) {
            int64_t n = t->ntrain - t->pos < t->s.batch_size ? t->ntrain - t->pos : t->s.batch_size;
            double loss = 0;
            st = train_batch(t, order + t->pos, n, e, am_trainer_lr(t), &loss);
            if (st != AM_OK) break;
            t->pos += n;
            t->epoch_loss += loss;
            t->steps++;
            if (t->h.on_batch) t->h.on_batch(t->h.user, e + 1, t->steps - 1, loss / (double)n);
            if (t->h.on_progress)
                t->h.on_progress(t->h.user, e + 1, 0, t->pos, t->ntrain, t->epoch_loss / (double)t->pos);
        }
        double test = NAN;
        if (st == AM_OK && t->src.prefetch && t->ntest) prefetch(t, t->test_idx, t->ntest);
        double t_test = am_monotonic_seconds();
        if (st == AM_OK) st = test_pass(t, e, &test);
        t->times.test += am_monotonic_seconds() - t_test;
        if (st != AM_OK) break;
        t->tested = 1;
        if (t->h.on_epoch_end)
            t->h.on_epoch_end(t->h.user, e + 1, t->epoch_loss / (double)t->ntrain, test, am_monotonic_seconds() - t0);
        t->epoch++;
        t->pos = 0;
        t->epoch_loss = 0;
        int due = t->s.checkpoint_every > 0 && t->epoch % t->s.checkpoint_every == 0;
        if (t->ckpt_path && (due || t->epoch == t->s.epochs)) st = am_trainer_save_checkpoint(t, t->ckpt_path);
    }
    free(order);
    if (st == AM_ERR_INTERRUPTED) {
        if (t->ckpt_path) AM_TRY(am_trainer_save_checkpoint(t, t->ckpt_path));
        return am_error(AM_ERR_INTERRUPTED, "training stopped on request in epoch %d after %lld of %lld images%s%s",
                        t->epoch + 1, (long long)t->pos, (long long)t->ntrain, t->ckpt_path ? "; checkpoint " : "",
                        t->ckpt_path ? t->ckpt_path : "");
    }
    if (st == AM_ERR_NUMERIC) return stop_numeric(t);
    if (st == AM_OK) am_byol_set_mode(t->byol, AM_MODE_EVAL); /* ready for inference */
    return st;
}
