/* Process-wide runtime: thread count, log sink, files written atomically. */
#ifndef ASTROMORPH_RUNTIME_H
#define ASTROMORPH_RUNTIME_H

#include <stdio.h>

#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *am_version(void);

/* Seconds on a clock that only moves forward (CLOCK_MONOTONIC): for timings, not dates. */
double am_monotonic_seconds(void);

/* Threads used by OpenMP regions, oneDNN and OpenBLAS. n <= 0 means all cores. */
void am_set_threads(int n);
int am_get_threads(void);

/* Model copies side by side (training's replicas, inference's runs): jobs 0..njobs-1 on
 * `workers` plain threads, this one included; worker w takes jobs w, w + workers, ... in order,
 * with am_get_threads()/workers OpenMP threads (at least 1) for the layers inside. Every job
 * runs even when another fails. Returns AM_OK, or the status and message of the first failed job
 * in job order (its index in *failed, may be NULL; -1 when none failed). */
typedef am_status (*am_job_fn)(void *user, int job, int worker);
am_status am_replicas_run(int njobs, int workers, am_job_fn fn, void *user, int *failed);

/* Logging: messages go to the sink (default: stderr, warnings and errors only). */
typedef enum { AM_LOG_DEBUG, AM_LOG_INFO, AM_LOG_WARN, AM_LOG_ERROR } am_log_level;
typedef void (*am_log_sink)(am_log_level level, const char *msg, void *user);
void am_log_set_sink(am_log_sink sink, void *user);
void am_log(am_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A file written under a temporary name in the same folder and renamed over `path` only by
 * am_atomic_commit, so a crash or an error never leaves a half-written output behind. */
typedef struct am_atomic_file {
    FILE *fp;
    char *path;
    char *tmp_path;
} am_atomic_file;
am_status am_atomic_open(am_atomic_file *af, const char *path, int binary);
am_status am_atomic_commit(am_atomic_file *af); /* flush, fsync, close, rename */
void am_atomic_abort(am_atomic_file *af); /* close and remove the temporary */
/* How many atomic files this process has open now (async-signal-safe: a signal handler asks it
 * before ending the program in the middle of a write). */
int am_atomic_pending(void);
/* Removes dir's temporaries (*.tmp.<pid>) left by processes that no longer run; returns how
 * many were removed. */
int am_atomic_clean_stale(const char *dir);

/* Ctrl-C and SIGTERM for long runs: am_interrupt_catch installs a handler whose first signal
 * sets *am_interrupt_flag() (a trainer's `cancel`: stop at the next image, save a checkpoint);
 * a second ends the program at once, or, while an atomic file is open, as soon as it is
 * committed, saying which on stderr. am_interrupt_release restores the default actions. */
void am_interrupt_catch(void);
void am_interrupt_release(void);
const volatile int *am_interrupt_flag(void);

/* An exclusive lock on `path` (created, holding this process's id) for as long as the process
 * runs or until am_lock_release; AM_ERR_BUSY-like AM_ERR_IO naming the holder's process id when
 * another process holds it. */
typedef struct am_lock {
    int fd;
} am_lock;
am_status am_lock_take(am_lock *l, const char *path, const char *what);
void am_lock_release(am_lock *l);

#ifdef __cplusplus
}
#endif
#endif
