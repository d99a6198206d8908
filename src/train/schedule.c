/* Learning-rate schedules: constant, ExponentialLR per epoch, cosine with linear warm-up per step. */
#include <math.h>

#include "train/train_internal.h"

double am_lr_at(const am_train_settings *s, int epochs_done, int64_t steps_done, int64_t steps_per_epoch)
{
    double lr = s->learning_rate;
    if (s->schedule == AM_LR_EXPONENTIAL) {
        /* ExponentialLR multiplies the previous value each epoch: repeat it for the same rounding. */
        for (int e = 0; e < epochs_done; e++) lr *= s->gamma;
        return lr;
    }
    if (s->schedule == AM_LR_COSINE) {
        int64_t total = (int64_t)s->epochs * steps_per_epoch;
        int64_t warm = (int64_t)s->warmup_epochs * steps_per_epoch;
        if (warm >= total) warm = total > 1 ? total - 1 : 0;
        if (steps_done < warm) return lr * (double)(steps_done + 1) / (double)warm;
        double span = (double)(total - warm);
        double progress = span > 0 ? (double)(steps_done - warm) / span : 1.0;
        if (progress > 1) progress = 1;
        double floor = lr * s->min_lr_ratio;
        return floor + (lr - floor) * 0.5 * (1.0 + cos(M_PI * progress));
    }
    return lr;
}
