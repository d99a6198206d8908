/* Thread count and logging. */
#include "astromorph/runtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <omp.h>

static int thread_count;

const char *am_version(void) { return AM_VERSION; }

double am_monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void am_set_threads(int n)
{
    if (n <= 0) n = omp_get_num_procs();
    thread_count = n;
    omp_set_num_threads(n);
}

int am_get_threads(void) { return thread_count > 0 ? thread_count : omp_get_max_threads(); }

static void stderr_sink(am_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level >= AM_LOG_WARN) fprintf(stderr, "%s: %s\n", level == AM_LOG_WARN ? "warning" : "error", msg);
}

static am_log_sink log_sink = stderr_sink;
static void *log_user;

void am_log_set_sink(am_log_sink sink, void *user)
{
    log_sink = sink ? sink : stderr_sink;
    log_user = user;
}

void am_log(am_log_level level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_sink(level, msg, log_user);
}
