/* The trainer: BYOL training of a data set, as the original's ByolTrainer but with its bugs fixed
 * (see docs/training.md):
 *   - a seeded 80/20 train/test split (reported through on_split);
 *   - each epoch: shuffled training images, an Adam step every batch_size images (the final
 *     partial batch too), gradients of the per-image losses summed as the original does, EMA
 *     of the target after each step; then the test loss with no updates; then the LR schedule;
 *   - checkpoints (weights, target, Adam moments, schedule, RNG position, epoch) every N epochs,
 *     at the end and on cancellation; resuming continues exactly;
 *   - a NaN/Inf loss stops with AM_ERR_NUMERIC, keeping the last good checkpoint;
 *   - equal-size images of a batch (any images, with fixed-size views) are stacked into one forward (images_per_forward, so that
 *     BatchNorm sees several images, not only one image's D2 copies); the forwards run on
 *     `replicas` copies of the model in parallel, forward g always on replica g mod R, gradients
 *     summed in replica order, so results depend on the replica count but never on the thread
 *     count. Replicas read the master's weights (am_byol_replica): each adds only its
 *     activations, BatchNorm statistics and (after the first) gradients, and is made when first
 *     given work.
 *
 * Data comes through am_train_source, so the trainer knows nothing of FITS files or datasets. */
#ifndef ASTROMORPH_TRAIN_H
#define ASTROMORPH_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "astromorph/byol.h"
#include "astromorph/rng.h"
#include "astromorph/status.h"
#include "astromorph/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A data set as the trainer sees it. */
typedef struct am_train_source {
    int64_t count;
    /* Item i as an N×C×H×W batch (its D2 copies, N = 4), ready for the network (cleaned and
     * normalised); allocates out. */
    am_status (*get)(void *user, int64_t i, am_tensor *out);
    /* One random view of item x (same shape) drawn only from rng; allocates out. NULL: the
     * views are x itself. */
    am_status (*augment)(void *user, const am_tensor *x, am_rng *rng, am_tensor *out);
    /* Name of item i for messages (e.g. its file), or NULL. */
    const char *(*name)(void *user, int64_t i);
    int thread_safe; /* 1: augment may run concurrently (on the replicas' threads) */
    void *user;
    /* The items about to be read, in order (each epoch's shuffle, then the test split), so a
     * file dataset can read ahead (am_dataset_prefetch); may be NULL. */
    void (*prefetch)(void *user, const int64_t *order, int64_t n);
    /* 1: augment renders every item at one view shape whatever the item's size (views at a common
     * size), so items of any sizes share forwards; 0: views keep the item's shape. */
    int fixed_view;
    /* Multi-crop: local_views small views of each item beside the two global ones, drawn by
     * augment_local at one shape of its own (needs fixed_view); 0: none. */
    int local_views;
    am_status (*augment_local)(void *user, const am_tensor *x, am_rng *rng, am_tensor *out);
} am_train_source;

typedef enum {
    AM_LR_CONSTANT,
    AM_LR_EXPONENTIAL, /* lr·gamma^epoch, stepped per epoch (torch ExponentialLR) */
    AM_LR_COSINE /* linear warm-up over warmup_epochs, then cosine to lr·min_lr_ratio,
                          per optimizer step */
} am_lr_schedule;

typedef enum { AM_OPT_ADAM = 0, AM_OPT_ADAMW } am_optimizer;

typedef enum {
    AM_EMA_CONSTANT = 0, /* the original: the target's decay never changes */
    AM_EMA_COSINE /* the BYOL paper: 1 - (1 - decay)(cos(pi k / K) + 1) / 2 at step k of K,
                            from the options' decay to 1 */
} am_ema_schedule;

/* How BatchNorm layers behave while training (the test pass always uses EVAL). */
typedef enum {
    AM_NORM_COMPAT, /* the original: TRAIN until the first test pass, EVAL for ever after */
    AM_NORM_TRAIN, /* batch statistics in every training step */
    AM_NORM_FROZEN /* EVAL throughout: running statistics never change */
} am_norm_policy;

/* Models with this many trainable parameters or more (ResNet18: 11 M) train on one replica by
 * default: their layers keep every thread busy. */
#define AM_TRAIN_LARGE_MODEL 4000000

typedef struct am_train_settings {
    int epochs; /* 10 */
    int batch_size; /* images per optimizer step (16) */
    double learning_rate; /* see am_train_settings_default */
    double weight_decay; /* Adam's L2 term, or AdamW's decoupled decay (0) */
    am_optimizer optimizer; /* AM_OPT_ADAM (the original) */
    double beta1, beta2, eps; /* 0.9, 0.999, 1e-8 */
    am_lr_schedule schedule; /* AM_LR_CONSTANT */
    double gamma; /* 0.99 (exponential) */
    int warmup_epochs; /* cosine warm-up (1) */
    double min_lr_ratio; /* cosine floor (0) */
    am_norm_policy norm;
    am_ema_schedule ema; /* AM_EMA_CONSTANT: the BYOL options' decay at every step */
    int images_per_forward; /* up to this many equal-size images of a batch share one forward */
    int64_t max_forward_pixels; /* ... while the forward holds at most this many input values
                                   (N·C·H·W; 1<<22, about 1-2 GB of ResNet18 activations; 0: no cap) */
    double test_fraction; /* 0.2 */
    uint64_t seed; /* split, shuffles and augmentations (42) */
    int replicas; /* model copies working in parallel (0: automatic, 1 for a model of
                                 AM_TRAIN_LARGE_MODEL trainable parameters or more, else 2) */
    int checkpoint_every; /* epochs between checkpoints (0: only at the end / on cancellation) */
    const char *checkpoint_path; /* NULL: no checkpoints */
    /* Text of every setting that shapes the run, one "key = value" per line (NULL: none). It is
     * stored in checkpoints, and a resume refuses a checkpoint written with other settings,
     * naming the first line that differs. */
    const char *fingerprint;
    /* The same text for a run at the defaults (NULL: none). A line this run has and the
     * checkpoint lacks (written before that key existed) is accepted when it is the defaults'
     * line, the behaviour the older version had. */
    const char *fingerprint_defaults;
    const volatile int *cancel; /* set non-zero (e.g. from SIGINT) to stop between images */
    int profile; /* 1: the replicas' networks time each layer kind (am_trainer_times) */
    /* more __metadata__ for every checkpoint (the pipeline: what inference needs to see images
     * as training did, so that a checkpoint opens as a model); the strings must outlive the
     * trainer */
    const char *const *meta_keys, *const *meta_values;
    int n_meta;
} am_train_settings;

/* Our defaults (measured, docs/training.md). */
void am_train_settings_default(am_train_settings *s);
/* The original package's defaults (learning rate 5e-6, AM_NORM_COMPAT, ...). */
void am_train_settings_original(am_train_settings *s);

/* Callbacks; any may be NULL. */
typedef struct am_train_hooks {
    void (*on_split)(void *user, const int64_t *train_idx, int64_t ntrain, const int64_t *test_idx, int64_t ntest);
    void (*on_epoch_start)(void *user, int epoch, double lr);
    /* After every optimizer step: mean loss per image of that batch (the original's "Batch loss"),
     * step counts from 0 over the whole run. */
    void (*on_batch)(void *user, int epoch, int64_t step, double batch_loss);
    /* Progress inside an epoch (after each batch and during the test pass). */
    void (*on_progress)(void *user, int epoch, int testing, int64_t done, int64_t total, double running_loss);
    /* Mean loss per image ("Train loss", "Test loss"; test is NaN when the test set is empty). */
    void (*on_epoch_end)(void *user, int epoch, double train_loss, double test_loss, double seconds);
    void (*on_checkpoint)(void *user, const char *path, int epoch);
    void *user;
} am_train_hooks;

typedef struct am_trainer am_trainer;

/* The trainer uses byol (not owned; it must outlive the trainer) and copies settings, source and
 * hooks (the strings and the cancel flag they point to must outlive the trainer). */
am_status am_trainer_create(am_trainer **t, am_byol *byol, const am_train_source *src, const am_train_settings *s,
                            const am_train_hooks *h);
void am_trainer_free(am_trainer *t);

/* Loads a checkpoint written by this trainer (same model structure and data count). */
am_status am_trainer_resume(am_trainer *t, const char *checkpoint_path);
/* Trains until settings->epochs are done. AM_ERR_INTERRUPTED when cancelled (a checkpoint is
 * written first when checkpoint_path is set), AM_ERR_NUMERIC on a non-finite loss. */
am_status am_trainer_run(am_trainer *t);
/* Writes a checkpoint of the state at the last completed optimizer step. */
am_status am_trainer_save_checkpoint(am_trainer *t, const char *path);

int am_trainer_epochs_done(const am_trainer *t);

/* Where a trainer's time went since it was made, in seconds. Wall times of the serial parts;
 * the replicas' parts are summed over the replicas that ran side by side (thread time: divide by
 * the replicas running at once for their share of the wall). The benchmarks' phase breakdown is
 * this, so it measures the path users run. */
typedef struct am_train_times {
    double read; /* wall: the source's items (reading, decoding, the cache) */
    double views; /* replicas: the two augmented views of every image */
    double step; /* replicas: forwards of online and target networks, loss, backward */
    double reduce; /* wall: replicas' gradients and BatchNorm statistics into the master */
    double reduce_comm; /* of reduce, over MPI ranks: the time in MPI (transfers and waiting) */
    double optimizer; /* wall: the Adam step and the weight copies it makes stale */
    double ema; /* wall: the target network's update */
    double test; /* wall: test passes, everything in them */
    double checkpoint; /* wall: writing checkpoints */
    int64_t images; /* training images stepped */
    /* with settings.profile: the online networks' layers by kind, summed over replicas */
    am_net_profile layers;
} am_train_times;
void am_trainer_times(const am_trainer *t, am_train_times *out);
/* The number of replicas (settings' replicas, or the automatic choice for 0). */
int am_trainer_replicas(const am_trainer *t);
int64_t am_trainer_steps_done(const am_trainer *t);
/* The learning rate the next optimizer step will use. */
double am_trainer_lr(const am_trainer *t);
/* Mean test loss per image over the test split, with the trainer's seeded views of `epoch`. */
am_status am_trainer_test_loss(am_trainer *t, int epoch, double *loss);

#ifdef __cplusplus
}
#endif
#endif
