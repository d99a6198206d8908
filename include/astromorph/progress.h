/* Progress bar for long loops (training epochs, inference): on a terminal a bar redrawn in place
 * with items/s, ETA and the running loss; otherwise (a log file, a pipe) a plain line every
 * `interval` seconds and one at the end. */
#ifndef ASTROMORPH_PROGRESS_H
#define ASTROMORPH_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { AM_PROGRESS_AUTO = 0, AM_PROGRESS_TTY, AM_PROGRESS_PLAIN, AM_PROGRESS_OFF } am_progress_mode;

typedef struct am_progress am_progress;

/* `label` (e.g. "epoch 3/10") starts each line; total <= 0 means unknown (no bar, no ETA).
 * out NULL means stderr; AM_PROGRESS_AUTO picks TTY when out is a terminal. */
am_status am_progress_create(am_progress **p, const char *label, int64_t total, FILE *out, am_progress_mode mode);

/* Plain mode: seconds between lines (default 10). TTY mode redraws at most 10 times a second. */
void am_progress_set_interval(am_progress *p, double seconds);

/* `done` items finished so far; `loss` the running loss to show (e.g. the epoch's mean loss per
 * image so far, as the trainer reports it); NaN leaves the shown loss as it was. */
void am_progress_update(am_progress *p, int64_t done, double loss);
/* The same at a given time in seconds (a monotonic clock; for tests and replay). */
void am_progress_update_at(am_progress *p, int64_t done, double loss, double now);

/* The loss shown (NaN if none was given). */
double am_progress_loss(const am_progress *p);

/* Draws the final state (ending the line on a terminal) and frees p; p may be NULL. */
void am_progress_finish(am_progress *p);
void am_progress_finish_at(am_progress *p, double now);

#ifdef __cplusplus
}
#endif
#endif
