/* Trainer: split, schedules, steps per epoch (tail batch stepped), hooks, BatchNorm policies,
 * results independent of the thread count, exact resume (at an epoch end and after a
 * cancellation mid-epoch), and a non-finite loss stopping with the last checkpoint kept. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "astromorph/models.h"
#include "astromorph/runtime.h"
#include "astromorph/train.h"
#include "test_util.h"
#include "train/train_internal.h"

/* A tiny data set: blobs of a few sizes, as 4 copies (the D2 group) of 1×H×W. */
typedef struct toy {
    int64_t gets;
    int64_t nan_after; /* get number from which item 3 is NaN (-1: never) */
    int serial; /* 1: declare augment not thread-safe (views made beforehand) */
    int64_t announced; /* items announced through prefetch */
    int big; /* 1: ~100 px images, where oneDNN splits a first layer's weight gradient */
} toy;

static void toy_prefetch(void *user, const int64_t *order, int64_t n)
{
    toy *t = user;
    for (int64_t i = 0; i < n; i++) t->announced += order[i] >= 0 && order[i] < 10;
}

static am_status toy_get(void *user, int64_t i, am_tensor *out)
{
    toy *t = user;
    int h = 20 + 4 * (int)(i % 2), w = 20 + 4 * (int)(i % 3 == 0);
    if (t->big) h += 76, w += 80;
    AM_TRY(am_tensor_alloc4(out, 4, 1, h, w));
    int poison = t->nan_after >= 0 && t->gets >= t->nan_after && i == 3;
    t->gets++;
    for (int c = 0; c < 4; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int yy = c & 1 ? h - 1 - y : y, xx = c & 2 ? w - 1 - x : x;
                double r2 = pow((xx - w * 0.4) / (2.0 + (double)(i % 4)), 2) + pow((yy - h * 0.5) / 3.0, 2);
                out->data[((int64_t)c * h + y) * w + x] = poison ? NAN : (float)exp(-r2);
            }
    return AM_OK;
}

/* A seeded view: noise and a random flip, from rng only. */
static am_status toy_augment(void *user, const am_tensor *x, am_rng *rng, am_tensor *out)
{
    (void)user;
    AM_TRY(am_tensor_clone(out, x));
    int flip = (int)am_rng_below(rng, 2);
    int64_t n = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    for (int64_t p = 0; p < n; p++)
        for (int64_t y = 0; y < h; y++)
            for (int64_t xx = 0; xx < w; xx++) {
                int64_t sx = flip ? w - 1 - xx : xx;
                out->data[(p * h + y) * w + xx] = x->data[(p * h + y) * w + sx] + 0.05f * (float)am_rng_uniform(rng);
            }
    return AM_OK;
}

static const char *toy_name(void *user, int64_t i)
{
    (void)user;
    static const char *names[] = {"a.fits", "b.fits", "c.fits", "d.fits", "e.fits",
                                  "f.fits", "g.fits", "h.fits", "i.fits", "j.fits"};
    return i < 10 ? names[i] : NULL;
}

static am_byol *make_byol(void)
{
    am_model_spec spec = {"amm", NULL, 1, AM_POOLING_AVERAGE, 1};
    am_net *net = NULL;
    if (am_model_create(&net, &spec, 11) != AM_OK) return NULL;
    am_byol_options o;
    am_byol_options_default(&o);
    o.projection_size = 8;
    o.projection_hidden_size = 16;
    o.seed = 11;
    am_byol *b = NULL;
    am_status s = am_byol_create(&b, net, &o);
    CHECK(s == AM_OK, "byol: %s", am_errmsg());
    return b;
}

static void settings(am_train_settings *s)
{
    am_train_settings_default(s);
    s->epochs = 2;
    s->batch_size = 3; /* 8 training images: batches of 3, 3, 2 */
    s->learning_rate = 1e-3;
    s->schedule = AM_LR_EXPONENTIAL;
    s->gamma = 0.5;
    s->images_per_forward = 2;
    s->replicas = 2;
}

typedef struct record {
    int batches, epochs_ended, checkpoints;
    double batch_loss[16], train_loss[4], test_loss[4], lr[4];
    int64_t ntrain, ntest;
    am_byol *byol;
    float bn_mean[4];
    volatile int *cancel;
    int cancel_after; /* batches */
} record;

static void on_split(void *u, const int64_t *tr, int64_t ntr, const int64_t *te, int64_t nte)
{
    record *r = u;
    r->ntrain = ntr, r->ntest = nte;
    (void)tr, (void)te;
}
static void on_epoch_start(void *u, int epoch, double lr)
{
    record *r = u;
    if (epoch <= 4) r->lr[epoch - 1] = lr;
}
static void on_batch(void *u, int epoch, int64_t step, double loss)
{
    record *r = u;
    (void)epoch;
    if (step < 16) r->batch_loss[step] = loss;
    r->batches++;
    if (r->cancel && r->batches == r->cancel_after) *r->cancel = 1;
}
static void on_epoch_end(void *u, int epoch, double train, double test, double secs)
{
    record *r = u;
    (void)secs;
    r->train_loss[epoch - 1] = train, r->test_loss[epoch - 1] = test;
    r->epochs_ended++;
    if (r->byol) r->bn_mean[epoch - 1] = am_byol_state(r->byol, 4, NULL)->value.data[0]; /* bn1.running_mean */
}
static void on_checkpoint(void *u, const char *path, int epoch)
{
    record *r = u;
    (void)path, (void)epoch;
    r->checkpoints++;
}

static am_train_hooks hooks_for(record *r)
{
    am_train_hooks h = {on_split, on_epoch_start, on_batch, NULL, on_epoch_end, on_checkpoint, r};
    return h;
}

/* Trains a fresh model; returns it (caller frees) and the status of run. */
static am_byol *train(const am_train_settings *s, toy *data, record *rec, const char *resume, am_status *status)
{
    am_byol *b = make_byol();
    if (!b) return NULL;
    am_train_source src = {10, toy_get, toy_augment, toy_name, !data->serial, data, toy_prefetch, 0, 0, NULL};
    am_train_hooks h = hooks_for(rec);
    rec->byol = b;
    am_trainer *t = NULL;
    am_status st = am_trainer_create(&t, b, &src, s, &h);
    if (st == AM_OK && resume) st = am_trainer_resume(t, resume);
    if (st == AM_OK) st = am_trainer_run(t);
    *status = st;
    am_trainer_free(t);
    return b;
}

static int same_state(am_byol *a, am_byol *b)
{
    if (!a || !b || am_byol_state_count(a) != am_byol_state_count(b)) return 0;
    for (size_t i = 0; i < am_byol_state_count(a); i++) {
        am_param *p = am_byol_state(a, i, NULL), *q = am_byol_state(b, i, NULL);
        if (memcmp(p->value.data, q->value.data, (size_t)am_tensor_numel(&p->value) * sizeof(float)) != 0) return 0;
    }
    return 1;
}

static void test_split_and_schedule(void)
{
    int64_t *tr, *te, ntr, nte, *tr2, *te2, ntr2, nte2;
    CHECK_OK(am_split(10, 0.2, 42, &tr, &ntr, &te, &nte));
    CHECK(ntr == 8 && nte == 2, "80/20 of 10: %lld/%lld", (long long)ntr, (long long)nte);
    int seen[10] = {0};
    for (int64_t i = 0; i < ntr; i++) seen[tr[i]]++;
    for (int64_t i = 0; i < nte; i++) seen[te[i]]++;
    int all = 1;
    for (int i = 0; i < 10; i++) all &= seen[i] == 1;
    CHECK(all, "the split is a partition");
    CHECK_OK(am_split(10, 0.2, 43, &tr2, &ntr2, &te2, &nte2));
    CHECK(te[0] != te2[0] || te[1] != te2[1], "another seed, another split");
    free(tr), free(te), free(tr2), free(te2);
    CHECK_FAILS(am_split(0, 0.2, 1, &tr, &ntr, &te, &nte), AM_ERR_VALUE, "empty");

    am_train_settings s;
    am_train_settings_default(&s);
    s.learning_rate = 1.0, s.schedule = AM_LR_EXPONENTIAL, s.gamma = 0.5;
    CHECK(am_lr_at(&s, 2, 0, 5) == 0.25, "exponential after 2 epochs");
    s.schedule = AM_LR_COSINE, s.epochs = 4, s.warmup_epochs = 1, s.min_lr_ratio = 0.1;
    CHECK(fabs(am_lr_at(&s, 0, 0, 5) - 0.2) < 1e-12, "first warm-up step is lr/5");
    CHECK(fabs(am_lr_at(&s, 1, 5, 5) - 1.0) < 1e-12, "peak after warm-up");
    CHECK(fabs(am_lr_at(&s, 3, 19, 5) - (0.1 + 0.9 * 0.5 * (1 + cos(M_PI * 14 / 15)))) < 1e-12, "cosine tail");
}

static void test_run_and_hooks(void)
{
    am_train_settings s;
    settings(&s);
    toy data = {0, -1, 1, 0, 0};
    record rec = {0};
    am_status st;
    am_byol *b = train(&s, &data, &rec, NULL, &st);
    CHECK(st == AM_OK, "run: %s", am_errmsg());
    CHECK(rec.ntrain == 8 && rec.ntest == 2, "split reported");
    CHECK(rec.batches == 6, "3 steps per epoch, the tail included: %d", rec.batches);
    CHECK(data.announced == 20 && data.gets == 20, "every item read was announced: %lld / %lld",
          (long long)data.announced, (long long)data.gets);
    CHECK(rec.epochs_ended == 2, "two epochs");
    CHECK(rec.lr[0] == 1e-3 && rec.lr[1] == 5e-4, "exponential schedule per epoch: %g %g", rec.lr[0], rec.lr[1]);
    for (int e = 0; e < 2; e++)
        CHECK(isfinite(rec.train_loss[e]) && rec.train_loss[e] > 0 && rec.train_loss[e] < 4 &&
                  isfinite(rec.test_loss[e]),
              "epoch %d losses %g %g", e + 1, rec.train_loss[e], rec.test_loss[e]);
    /* Train loss is the mean per image: batch losses (means of 3, 3, 2 images) weighted back. */
    double mean = (3 * rec.batch_loss[0] + 3 * rec.batch_loss[1] + 2 * rec.batch_loss[2]) / 8;
    CHECK(fabs(mean - rec.train_loss[0]) < 1e-9, "train loss %g vs batches %g", rec.train_loss[0], mean);
    CHECK(am_byol_mode(b) == AM_MODE_EVAL, "left in EVAL for inference");
    am_byol_free(b);
}

/* The trainer's own clocks: every image stepped is counted, the parts are non-negative and
 * within the run's wall time (the replicas' parts within wall x replicas), and with profiling
 * the online networks' layers are timed. */
static void test_times(void)
{
    am_train_settings s;
    settings(&s);
    s.profile = 1;
    toy data = {0, -1, 1, 0, 0};
    am_byol *b = make_byol();
    am_train_source src = {10, toy_get, toy_augment, toy_name, 1, &data, toy_prefetch, 0, 0, NULL};
    am_trainer *t = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_OK(am_trainer_create(&t, b, &src, &s, NULL));
    CHECK_OK(am_trainer_run(t));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    am_train_times tt;
    am_trainer_times(t, &tt);
    double serial = tt.read + tt.reduce + tt.optimizer + tt.ema + tt.test + tt.checkpoint;
    int nrep = am_trainer_replicas(t);
    CHECK(tt.images == 16, "2 epochs of 8 training images stepped: %lld", (long long)tt.images);
    CHECK(tt.read >= 0 && tt.views > 0 && tt.step > 0 && tt.reduce >= 0 && tt.optimizer > 0 && tt.ema >= 0 &&
              tt.test > 0 && tt.checkpoint == 0,
          "parts: read %g views %g step %g reduce %g adam %g ema %g test %g", tt.read, tt.views, tt.step, tt.reduce,
          tt.optimizer, tt.ema, tt.test);
    CHECK(serial <= wall && tt.views + tt.step <= wall * nrep, "parts %g + %g within the wall %g (x %d)", serial,
          tt.views + tt.step, wall, nrep);
    double conv = 0;
    for (int k = 0; k < AM_MOD_KINDS; k++) conv += tt.layers.forward_s[k] + tt.layers.backward_s[k];
    CHECK(conv > 0 && conv <= tt.step + tt.test, "layer profile %g within the steps %g", conv, tt.step + tt.test);
    am_trainer_free(t);
    am_byol_free(b);
}

static void test_norm_policies(void)
{
    am_train_settings s;
    settings(&s);
    float init = 0;
    {
        am_byol *b = make_byol();
        if (!b) return;
        init = am_byol_state(b, 4, NULL)->value.data[0];
        const char *name;
        am_byol_state(b, 4, &name);
        CHECK(strcmp(name, "online_encoder.network.bn1.running_mean") == 0, "state 4 is %s", name);
        am_byol_free(b);
    }
    const am_norm_policy pol[3] = {AM_NORM_COMPAT, AM_NORM_TRAIN, AM_NORM_FROZEN};
    for (int k = 0; k < 3; k++) {
        s.norm = pol[k];
        toy data = {0, -1, 0, 0, 0};
        record rec = {0};
        am_status st;
        am_byol *b = train(&s, &data, &rec, NULL, &st);
        CHECK(st == AM_OK, "run: %s", am_errmsg());
        if (pol[k] == AM_NORM_COMPAT)
            CHECK(rec.bn_mean[0] != init && rec.bn_mean[1] == rec.bn_mean[0],
                  "compat: statistics move in epoch 1 only (%g %g %g)", init, rec.bn_mean[0], rec.bn_mean[1]);
        if (pol[k] == AM_NORM_TRAIN) CHECK(rec.bn_mean[1] != rec.bn_mean[0], "train: statistics move every epoch");
        if (pol[k] == AM_NORM_FROZEN) CHECK(rec.bn_mean[1] == init, "frozen: statistics never move");
        am_byol_free(b);
    }
}

static void test_threads_and_resume(void)
{
    am_train_settings s;
    settings(&s);
    toy data = {0, -1, 0, 0, 0};
    record r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0}, r5 = {0};
    am_status st;
    am_set_threads(1);
    am_byol *one = train(&s, &data, &r1, NULL, &st);
    CHECK(st == AM_OK, "1 thread: %s", am_errmsg());
    am_set_threads(2);
    am_byol *two = train(&s, &data, &r2, NULL, &st);
    CHECK(st == AM_OK, "2 threads: %s", am_errmsg());
    CHECK(same_state(one, two), "the same weights with 1 and 2 threads");
    am_set_threads(4); /* two replicas of two threads each */
    record r2b = {0};
    am_byol *four = train(&s, &data, &r2b, NULL, &st);
    CHECK(st == AM_OK && same_state(one, four), "the same weights with 4 threads: %s", am_errmsg());
    am_byol_free(four);
    am_set_threads(2);
    toy serial = {0, -1, 1, 0, 0};
    record r0 = {0};
    am_byol *pre = train(&s, &serial, &r0, NULL, &st);
    CHECK(st == AM_OK && same_state(one, pre), "the same weights with views made beforehand");
    am_byol_free(pre);

    /* Epoch 1 alone with a checkpoint, then a fresh process resumes it for epoch 2. */
    char path[512];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", am_test_tmpdir());
    am_train_settings half = s;
    half.epochs = 1;
    half.checkpoint_path = path;
    am_byol *h = train(&half, &data, &r3, NULL, &st);
    CHECK(st == AM_OK && r3.checkpoints == 1, "first half: %s", am_errmsg());
    s.checkpoint_path = path;
    am_byol *resumed = train(&s, &data, &r4, path, &st);
    CHECK(st == AM_OK, "resume: %s", am_errmsg());
    CHECK(r4.batches == 3 && r4.epochs_ended == 1, "resume runs epoch 2 only");
    CHECK(r4.lr[1] == 5e-4, "schedule restored: %g", r4.lr[1]);
    CHECK(same_state(one, resumed), "resumed run ends with the uninterrupted run's weights");

    /* Cancelled after the 4th step (mid-epoch 2): a checkpoint at the step boundary, then resume. */
    volatile int cancel = 0;
    am_train_settings c = s;
    c.cancel = &cancel;
    r5.cancel = &cancel, r5.cancel_after = 4;
    am_byol *cut = train(&c, &data, &r5, NULL, &st);
    CHECK(st == AM_ERR_INTERRUPTED, "cancel -> %s", am_status_name(st));
    CHECK(strstr(am_errmsg(), "after 3 of 8 images") != NULL, "message says where: %s", am_errmsg());
    record r6 = {0};
    am_byol *cont = train(&s, &data, &r6, path, &st);
    CHECK(st == AM_OK, "resume after cancel: %s", am_errmsg());
    CHECK(r6.batches == 2, "two steps were left: %d", r6.batches);
    CHECK(same_state(one, cont), "cancel + resume ends with the uninterrupted run's weights");

    /* Other settings than the checkpoint's are refused. */
    am_train_settings other = s;
    other.batch_size = 4;
    record r7 = {0};
    am_byol *o = train(&other, &data, &r7, path, &st);
    CHECK(st == AM_ERR_VALUE && strstr(am_errmsg(), "batch_size"), "mismatch: %s", am_errmsg());
    am_byol_free(one), am_byol_free(two), am_byol_free(h), am_byol_free(resumed), am_byol_free(cut);
    am_byol_free(cont), am_byol_free(o);
}

/* Views at a common size: the item is the whole image (its first D2 copy); a view is a seeded
 * crop of view x view at a random offset, flipped at random; local views are 8 x 8. */
static am_status crop_view(const am_tensor *x, am_rng *rng, int64_t view, am_tensor *out)
{
    AM_TRY(am_tensor_alloc4(out, 1, 1, view, view));
    int64_t h = x->shape[2], w = x->shape[3];
    int64_t y0 = (int64_t)am_rng_below(rng, (uint64_t)(h - view + 1)),
            x0 = (int64_t)am_rng_below(rng, (uint64_t)(w - view + 1));
    int flip = (int)am_rng_below(rng, 2);
    for (int64_t y = 0; y < view; y++)
        for (int64_t xx = 0; xx < view; xx++)
            out->data[y * view + xx] = x->data[(y0 + y) * w + x0 + (flip ? view - 1 - xx : xx)];
    return AM_OK;
}

static am_status whole_get(void *user, int64_t i, am_tensor *out)
{
    am_tensor all;
    AM_TRY(toy_get(user, i, &all));
    int64_t h = all.shape[2], w = all.shape[3];
    am_status s = am_tensor_alloc4(out, 1, 1, h, w);
    if (s == AM_OK) memcpy(out->data, all.data, (size_t)(h * w) * sizeof(float));
    am_tensor_free(&all);
    return s;
}

static am_status global_view(void *user, const am_tensor *x, am_rng *rng, am_tensor *out)
{
    (void)user;
    return crop_view(x, rng, 16, out);
}

static am_status local_view(void *user, const am_tensor *x, am_rng *rng, am_tensor *out)
{
    (void)user;
    return crop_view(x, rng, 8, out);
}

static am_byol *train_views(int local_views, int thread_safe, am_status *status)
{
    am_train_settings s;
    settings(&s);
    s.epochs = 1;
    toy data = {0, -1, 0, 0, 0};
    am_train_source src = {10, whole_get, global_view, toy_name, thread_safe, &data, NULL, 1, local_views, local_view};
    am_byol *b = make_byol();
    am_trainer *t = NULL;
    *status = b ? am_trainer_create(&t, b, &src, &s, NULL) : AM_ERR_NOMEM;
    if (*status == AM_OK) *status = am_trainer_run(t);
    am_trainer_free(t);
    return b;
}

/* Multi-crop: local views change what is learnt, and the result is the same at any thread count
 * and when the views are made beforehand; local views need views at a common size. */
static void test_local_views(void)
{
    am_status st;
    am_set_threads(1);
    am_byol *none = train_views(0, 1, &st);
    CHECK(st == AM_OK, "no local views: %s", am_errmsg());
    am_byol *one = train_views(2, 1, &st);
    CHECK(st == AM_OK, "local views, 1 thread: %s", am_errmsg());
    am_set_threads(2);
    am_byol *two = train_views(2, 1, &st);
    CHECK(st == AM_OK, "local views, 2 threads: %s", am_errmsg());
    am_byol *pre = train_views(2, 0, &st);
    CHECK(st == AM_OK, "local views made beforehand: %s", am_errmsg());
    CHECK(!same_state(none, one), "local views change the weights");
    CHECK(same_state(one, two), "local views: the same weights with 1 and 2 threads");
    CHECK(same_state(one, pre), "local views: the same weights with views made beforehand");
    am_byol_free(none), am_byol_free(one), am_byol_free(two), am_byol_free(pre);

    am_train_settings s;
    settings(&s);
    toy data = {0, -1, 0, 0, 0};
    am_train_source src = {10, toy_get, toy_augment, toy_name, 1, &data, NULL, 0, 2, local_view};
    am_byol *b = make_byol();
    am_trainer *t = NULL;
    if (b) CHECK_FAILS(am_trainer_create(&t, b, &src, &s, NULL), AM_ERR_VALUE, "common size");
    am_trainer_free(t);
    am_byol_free(b);
}

/* A forward never holds more input values than max_forward_pixels: with a cap below two images,
 * stacking up to 2 images per forward trains exactly as one image per forward. */
static void test_forward_cap(void)
{
    am_train_settings s;
    settings(&s);
    s.batch_size = 8; /* 8 training images of 4 sizes: some size appears twice in the batch */
    s.images_per_forward = 1;
    toy d1 = {0, -1, 0, 0, 0}, d2 = {0, -1, 0, 0, 0}, d3 = {0, -1, 0, 0, 0};
    record r1 = {0}, r2 = {0}, r3 = {0};
    am_status st;
    am_byol *one = train(&s, &d1, &r1, NULL, &st);
    s.images_per_forward = 2;
    s.max_forward_pixels = 4 * 24 * 24; /* one item at most */
    am_byol *capped = train(&s, &d2, &r2, NULL, &st);
    CHECK(st == AM_OK && same_state(one, capped), "capped stacking is one image per forward");
    s.max_forward_pixels = 0;
    am_byol *stacked = train(&s, &d3, &r3, NULL, &st);
    CHECK(st == AM_OK && !same_state(one, stacked), "uncapped stacking differs (batch statistics over 2 images)");
    s.max_forward_pixels = -1;
    am_trainer *t = NULL;
    am_train_source src = {10, toy_get, NULL, NULL, 0, &d1, NULL, 0, 0, NULL};
    CHECK_FAILS(am_trainer_create(&t, one, &src, &s, NULL), AM_ERR_VALUE, "max_forward_pixels");
    am_byol_free(one), am_byol_free(capped), am_byol_free(stacked);
}

/* One replica runs the layers on all threads; the weights still do not depend on the thread
 * count (a weight gradient oneDNN would split over threads runs on one). */
static void test_threads_one_replica(void)
{
    am_train_settings s;
    settings(&s);
    s.replicas = 1;
    s.epochs = 1;
    am_byol *b[3] = {NULL};
    for (int k = 0; k < 3; k++) {
        toy data = {0, -1, 0, 0, 1};
        record r = {0};
        am_status st;
        am_set_threads(k + 1);
        b[k] = train(&s, &data, &r, NULL, &st);
        CHECK(st == AM_OK, "%d thread(s): %s", k + 1, am_errmsg());
    }
    am_set_threads(2);
    CHECK(same_state(b[0], b[1]) && same_state(b[0], b[2]), "one replica: the same weights with 1, 2 and 3 threads");
    for (int k = 0; k < 3; k++) am_byol_free(b[k]);
}

/* replicas = 0 chooses by model size: two for amm, one for ResNet18; a number is kept. */
static void test_auto_replicas(void)
{
    am_train_settings s;
    settings(&s);
    toy d = {0, -1, 0, 0, 0};
    am_train_source src = {10, toy_get, NULL, NULL, 0, &d, NULL, 0, 0, NULL};
    am_byol *small = make_byol(), *large = NULL;
    am_net *net = NULL;
    am_model_spec spec = {"n_layer_resnet", "layer4", 1, AM_POOLING_AVERAGE, 1};
    CHECK_OK(am_model_create(&net, &spec, 3));
    if (net) CHECK_OK(am_byol_create(&large, net, NULL));
    am_trainer *t = NULL;
    s.replicas = 0;
    if (small && am_trainer_create(&t, small, &src, &s, NULL) == AM_OK)
        CHECK(am_trainer_replicas(t) == 2, "amm: %d replicas, want 2", am_trainer_replicas(t));
    am_trainer_free(t), t = NULL;
    if (large && am_trainer_create(&t, large, &src, &s, NULL) == AM_OK)
        CHECK(am_trainer_replicas(t) == 1, "ResNet18: %d replicas, want 1", am_trainer_replicas(t));
    am_trainer_free(t), t = NULL;
    s.replicas = 3;
    if (large && am_trainer_create(&t, large, &src, &s, NULL) == AM_OK)
        CHECK(am_trainer_replicas(t) == 3, "replicas = 3 kept: %d", am_trainer_replicas(t));
    am_trainer_free(t);
    am_byol_free(small), am_byol_free(large);
}

static void test_nan_stops(void)
{
    am_train_settings s;
    settings(&s);
    char path[512];
    snprintf(path, sizeof path, "%s/nan.safetensors", am_test_tmpdir());
    s.checkpoint_path = path;
    s.checkpoint_every = 1;
    toy data = {0, 10, 0, 0, 0}; /* epoch 1 reads 10 items (8 train + 2 test): item 3 turns NaN in epoch 2 */
    record rec = {0};
    am_status st;
    am_byol *b = train(&s, &data, &rec, NULL, &st);
    CHECK(st == AM_ERR_NUMERIC, "NaN -> %s", am_status_name(st));
    CHECK(strstr(am_errmsg(), "d.fits") && strstr(am_errmsg(), "last good checkpoint") &&
              strstr(am_errmsg(), "epoch 1"),
          "message names the image and the checkpoint: %s", am_errmsg());
    am_safetensors ck;
    CHECK_OK(am_st_read(&ck, path));
    const char *e = am_st_meta(&ck, "epoch");
    CHECK(e && strcmp(e, "1") == 0, "the epoch-1 checkpoint stays");
    const am_st_entry *w = am_st_find(&ck, "online_encoder.network.conv1.weight");
    CHECK(w != NULL, "checkpoint holds the weights");
    am_tensor t = {0};
    if (w) {
        CHECK_OK(am_st_get_f32(&ck, "online_encoder.network.conv1.weight", &t));
        CHECK(am_tensor_all_finite(&t), "checkpoint weights are finite");
        am_tensor_free(&t);
    }
    am_st_free(&ck);
    am_byol_free(b);
}

/* Resuming checks the settings text key by key: a key the checkpoint lacks (an older version's)
 * passes only at its default, a changed value, a key in another table and a key this version
 * lacks are refused, each naming the line. */
static void test_resume_settings(void)
{
    const char *then = "seed = 1\n# pretrained: not set\n[network_settings]\npooling = \"gem\"\n"
                       "[augmentation]\nrotation.p = 0.5\n";
    const char *defaults = "seed = 42\n# pretrained: not set\n[network_settings]\npooling = \"gem\"\namm_width = 1\n"
                           "[augmentation]\nrotation.p = 0.5\nlocal.views = 0\n";
    const char *added = "seed = 1\n# pretrained: not set\n[network_settings]\npooling = \"gem\"\namm_width = 1\n"
                        "[augmentation]\nrotation.p = 0.5\nlocal.views = 0\n";
    CHECK_OK(am_checkpoint_same_settings(then, then, NULL));
    CHECK_OK(am_checkpoint_same_settings(then, added, defaults));
    CHECK_FAILS(am_checkpoint_same_settings(then, added, NULL), AM_ERR_VALUE, "before 'amm_width' existed");
    const char *wide = "seed = 1\n# pretrained: not set\n[network_settings]\npooling = \"gem\"\namm_width = 2\n"
                       "[augmentation]\nrotation.p = 0.5\nlocal.views = 0\n";
    CHECK_FAILS(am_checkpoint_same_settings(then, wide, defaults), AM_ERR_VALUE, "this run has 'amm_width = 2'");
    /* amm_width's default is a [network_settings] line: the same name elsewhere is another key */
    const char *elsewhere = "seed = 1\n# pretrained: not set\n[network_settings]\npooling = \"gem\"\n"
                            "[augmentation]\nrotation.p = 0.5\namm_width = 1\n";
    CHECK_FAILS(am_checkpoint_same_settings(then, elsewhere, defaults), AM_ERR_VALUE, "'amm_width' existed");
    const char *changed = "seed = 1\n# pretrained: not set\n[network_settings]\npooling = \"average\"\n"
                          "[augmentation]\nrotation.p = 0.5\n";
    CHECK_FAILS(am_checkpoint_same_settings(then, changed, defaults), AM_ERR_VALUE,
                "written with 'pooling = \"gem\"', this run has 'pooling = \"average\"'");
    const char *set = "seed = 1\npretrained = \"m.safetensors\"\n[network_settings]\npooling = \"gem\"\n"
                      "[augmentation]\nrotation.p = 0.5\n";
    CHECK_FAILS(am_checkpoint_same_settings(then, set, defaults), AM_ERR_VALUE,
                "written with '# pretrained: not set', this run has 'pretrained = ");
    const char *fewer = "seed = 1\n# pretrained: not set\n[network_settings]\npooling = \"gem\"\n[augmentation]\n";
    CHECK_FAILS(am_checkpoint_same_settings(then, fewer, defaults), AM_ERR_VALUE,
                "'rotation.p = 0.5', which this version does not know");
}

int main(void)
{
    test_auto_replicas();
    test_threads_one_replica();
    test_split_and_schedule();
    test_run_and_hooks();
    test_times();
    test_norm_policies();
    test_threads_and_resume();
    test_resume_settings();
    test_local_views();
    test_forward_cap();
    test_nan_stops();
    return am_test_finish();
}
