/* The pipeline's library calls: a training run from settings, a trained model opened as
 * inference uses it, and the embeddings of a whole data set — what `astromorph training` and
 * `inference` run, and what anyone's own program (or a benchmark) can run the same way.
 *
 *     am_model m;
 *     am_model_open(&m, "saved_models/improved_net_e_30_20261201_2305.safetensors");
 *     am_embed_options o;
 *     am_embed_options_default(&o);
 *     am_embeddings E = {0};
 *     am_pipeline_embed(&m, dataset, &o, &E);   E.n × E.dim, metadata and statistics per row
 *     am_model_close(&m);
 */
#ifndef ASTROMORPH_PIPELINE_H
#define ASTROMORPH_PIPELINE_H

#include "astromorph/augment.h"
#include "astromorph/byol.h"
#include "astromorph/dataset.h"
#include "astromorph/embeddings.h"
#include "astromorph/hybrid.h"
#include "astromorph/settings.h"
#include "astromorph/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A model file's metadata (written by training, read by am_model_open). */
#define AM_META_NETWORK "network_name"
#define AM_META_LAST_LAYER "last_layer"
#define AM_META_CHANNELS "in_channels"
#define AM_META_STACKSIZE "stacksize"
#define AM_META_NAN_POLICY "nan_policy"
#define AM_META_VIEW_SIZE "view_size" /* 0 or absent: images at their own size */
#define AM_META_NORMALIZATION "normalization" /* absent: "minmax" */
#define AM_META_POOLING "pooling" /* absent: "average" (am_pooling_name) */
#define AM_META_AMM_WIDTH "amm_width" /* amm's channel multiplier, "1" to "4"; absent: "1" */
#define AM_META_CHANNEL_SUM "channel_sum" /* "1": the network sees the channels' sum; absent: "0" */
#define AM_META_HYBRID "hybrid" /* absent: the learned embedding alone (hybrid.h, JSON) */
#define AM_META_PRECISION "precision" /* the convolutions' arithmetic in training: "fp32" or "bf16" */

/* A model as inference uses it: the BYOL model in eval mode, and how images are fed to it. */
typedef struct am_model {
    am_byol *byol; /* owned unless opened with am_model_wrap */
    char network[32], last_layer[32];
    am_pooling pooling; /* how the network pools its last feature map */
    int amm_width; /* amm's channel counts times this (1: the original's) */
    int in_channels, stacksize;
    int channel_sum; /* 1: an image's channels summed into one before stacking (channels = "sum") */
    int view_size; /* 0: images at their own size */
    am_normalization normalization;
    am_hybrid hybrid; /* hybrid.dim 0: the learned embedding alone */
    int owns;
} am_model;

/* Rebuilds the model saved by training (network, BYOL state, how it saw images, its hybrid fit),
 * eval mode, frozen. Fails naming the file on a file that is not a model, and on NaN/Inf
 * weights (naming the weight). */
am_status am_model_open(am_model *m, const char *path);
/* A model being trained, fed as its settings say (no hybrid fit): for the embeddings training
 * makes itself. b stays the caller's. */
void am_model_wrap(am_model *m, am_byol *b, int in_channels, int stacksize, int view_size, am_normalization how);
void am_model_close(am_model *m);

typedef struct am_embed_options {
    int morphology; /* also the morphology statistics of every image (morphology.h columns) */
    int morphology_each; /* ... of every channel in turn, rather than of the channels' sum */
    int hybrid; /* apply the model's hybrid fit, when it has one (default 1) */
    int progress; /* a progress bar on stderr (default 1) */
    const int64_t *rows; /* only these images of the data set, in this order (NULL: all) */
    int64_t nrows;
    /* Over MPI ranks (include/astromorph/dist.h) every rank calls this together: each embeds its
     * share of the images and rank 0 receives every row; the other ranks hold only their own
     * (E->n of them, from global row E->row0).
     * local = 1: this process embeds all the images on its own. */
    int local;
} am_embed_options;
void am_embed_options_default(am_embed_options *o);

/* Every image of ds through the model: E (zeroed, or freed before) gets n rows of the learned
 * embedding (or of the hybrid one), each row's metadata and, if asked, its statistics.
 * Runs of equal-size images go through the network together, several runs side by side on
 * forward-only copies of the model; each row is the same at any thread count. */
am_status am_pipeline_embed(am_model *m, am_dataset *ds, const am_embed_options *o, am_embeddings *E);

/* The morphology feature vectors of the hybrid embedding (n × *nfeat: the statistics and the
 * colours of the data set's bands, am_morphology_features_all) of every image, read as the
 * model reads them; for a hybrid fit. feats: allocated here, free() it. */
am_status am_pipeline_embed_with_features(am_model *m, am_dataset *ds, const am_embed_options *o, am_embeddings *E,
                                          float **feats, int64_t *nfeat);

/* ---- training ---- */

/* A data set as a trainer's source (train.h), fed as training feeds it: each item cleaned and
 * normalised as `augment->normalization` says (its D2 copies, or the whole image for views at
 * a common size), each view augmented by `augment`. The first `count` items. The struct must
 * outlive the trainer; the seconds spent reading and augmenting are summed over threads. */
typedef struct am_dataset_source {
    am_dataset *ds;
    const am_augment *augment;
    int stacksize;
    int channel_sum; /* 1: the channels summed into one first (am_sum_channels) */
    double seconds_get, seconds_augment;
} am_dataset_source;
am_train_source am_dataset_source_make(am_dataset_source *d, int64_t count);

/* One training run. In: resume_from (a checkpoint, or NULL: the newest one when the settings
 * say resume), check_only (read the settings and every image, log what was found, write
 * nothing). Out: the run's time label, where its checkpoint and model are. */
typedef struct am_train_run {
    const char *resume_from;
    int check_only;
    double started; /* am_monotonic_seconds() when the command started, for its time summary (0: unknown) */
    char label[24];
    char checkpoint_path[1024];
    char model_path[1024];
} am_train_run;

/* Trains as `astromorph training` does, in the working directory: logs/<label>.log (opened
 * with am_run_log_open), runs/<label>/ TensorBoard scalars, saved_models/checkpoint_<label>
 * and saved_models/improved_net_e_<epochs>_<label>.safetensors, holding a lock on the run
 * while it trains. AM_ERR_INTERRUPTED after a cancellation (am_interrupt_catch), with the
 * checkpoint saved. */
am_status am_pipeline_train(am_settings *s, am_train_run *run);

/* ---- the run's log ---- */

/* am_log to the terminal (INFO and above) and, once am_run_log_open has opened it, to a log file
 * with a time stamp per line (appended to: a resumed run continues its own log). */
am_status am_run_log_open(const char *path);
void am_run_log_close(void); /* the file closed; INFO stays on the terminal */
FILE *am_run_log_file(void); /* NULL when no file is open */
/* "YYYYmmdd_HHMM" of now, local time (the original's start_time). */
void am_time_label(char out[16]);

#ifdef __cplusplus
}
#endif
#endif
