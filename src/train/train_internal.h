/* Internals of the trainer, shared by the files of src/train. */
#ifndef AM_TRAIN_INTERNAL_H
#define AM_TRAIN_INTERNAL_H

#include "astromorph/adam.h"
#include "astromorph/train.h"

/* Learning rate of the next step, after `epochs_done` epochs and `steps_done` optimizer steps. */
double am_lr_at(const am_train_settings *s, int epochs_done, int64_t steps_done, int64_t steps_per_epoch);

/* Seeded split of 0..count-1: floor((1 − test_fraction)·count) training items, the rest test,
 * both sorted; the permutation comes from (seed, stream "split"). */
am_status am_split(int64_t count, double test_fraction, uint64_t seed, int64_t **train, int64_t *ntrain, int64_t **test,
                   int64_t *ntest);

struct am_trainer {
    am_byol *byol; /* the master copy: optimizer state lives against its parameters */
    am_train_source src;
    am_train_settings s;
    am_train_hooks h;
    char *ckpt_path;

    am_byol **rep; /* replicas that do the work (NULL until first given work) */
    int nrep; /* on this rank */
    /* MPI: this rank's replicas are the global replicas rank·nrep .. rank·nrep + nrep − 1 of
     * nglobal = nranks·nrep, and group g of a batch goes to global replica g mod nglobal. */
    int rank, nranks, nglobal;
    float *flat; /* over ranks: the gradients packed, one array per replica and the sum */
    char *fresh; /* fresh[r]: replica r holds the master's current state */
    am_param **params; /* master's trainable parameters */
    const char **param_names;
    size_t nparams;
    am_adam adam;

    int64_t *train_idx, *test_idx, ntrain, ntest;
    int epoch; /* epochs completed */
    int64_t pos; /* images of the current epoch done (always at a step boundary) */
    int64_t steps; /* optimizer steps done */
    double epoch_loss; /* sum of per-image losses of the current epoch so far */
    int tested; /* a test pass has run (AM_NORM_COMPAT: EVAL from then on) */
    int last_ckpt_epoch; /* -1 when none written */
    am_train_times times; /* .layers left empty: summed from the replicas when asked */
};

/* Checkpoints: the BYOL state plus optimizer, schedule and position (checkpoint.c). */
am_status am_checkpoint_write(am_trainer *t, const char *path);
am_status am_checkpoint_read(am_trainer *t, const char *path);
/* Whether a checkpoint's settings text `then` allows resuming a run whose text is `now`: every
 * line the same, keyed by table and key, except that a key `then` lacks may have its line in
 * `defaults` (may be NULL). Fails naming the first line of `now` that differs. */
am_status am_checkpoint_same_settings(const char *then, const char *now, const char *defaults);

#endif
