/* TensorBoard event files: TFRecord framing (length and data each followed by a masked CRC32C)
 * around hand-encoded Event protobufs. The first record is file_version "brain.Event:2"; scalars
 * are Summary simple_values ("Batch loss", "Train loss", "Test loss"). The file is appended to
 * and flushed after every record (not written atomically) so TensorBoard can watch a live run. */
#ifndef ASTROMORPH_TFEVENTS_H
#define ASTROMORPH_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct am_tfevents am_tfevents;

/* Creates `logdir` (mkdir -p) and a new file events.out.tfevents.<unix time>.<hostname> in it
 * (".1", ".2", ... appended when that name is taken), and writes the file_version record. */
am_status am_tfevents_open(am_tfevents **w, const char *logdir);

/* Appends one scalar, stamped with the current time. */
am_status am_tfevents_scalar(am_tfevents *w, const char *tag, int64_t step, double value);
/* The same with a given wall time (seconds since the epoch). */
am_status am_tfevents_scalar_at(am_tfevents *w, const char *tag, int64_t step, double value, double wall_time);

/* Full path of the event file. */
const char *am_tfevents_path(const am_tfevents *w);

/* Closes and frees; w may be NULL. Returns an error if the final flush or close failed. */
am_status am_tfevents_close(am_tfevents *w);

#ifdef __cplusplus
}
#endif
#endif
