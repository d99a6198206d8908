/* Run logging (terminal + logs/<time>.log, as the original's loguru setup), time labels and
 * Ctrl-C handling for the pipeline commands. */
#include "cli/run_log.h"

#include <signal.h>
#include <unistd.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "astromorph/runtime.h"

volatile int am_cli_interrupted;
static FILE *log_fp;

void am_cli_time_label(char out[16])
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(out, 16, "%Y%m%d_%H%M", &tm);
}

static void sink(am_log_level level, const char *msg, void *user)
{
    static const char *const names[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
    if (level >= AM_LOG_INFO) {
        if (level >= AM_LOG_WARN) fprintf(stderr, "%s: %s\n", level == AM_LOG_WARN ? "warning" : "error", msg);
        else fprintf(stderr, "%s\n", msg);
    }
    if (log_fp) {
        char stamp[32];
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
        fprintf(log_fp, "%s | %-7s | %s\n", stamp, names[level], msg);
        fflush(log_fp);
    }
}

am_status am_cli_log_open(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
        AM_TRY(am_mkdirs(dir));
    }
    /* appended, not replaced: a resumed run continues its own log */
    log_fp = fopen(path, "a");
    if (!log_fp) return am_error(AM_ERR_IO, "%s: cannot open the log file", path);
    am_log_set_sink(sink, NULL);
    return AM_OK;
}

void am_cli_log_close(void)
{
    if (log_fp) fclose(log_fp);
    log_fp = NULL;
    am_log_set_sink(sink, NULL); /* keep INFO on the terminal */
}

FILE *am_cli_log_file(void) { return log_fp; }

static void on_sigint(int sig)
{
    if (!am_cli_interrupted) {
        am_cli_interrupted = 1; /* the run stops at the next image and saves a checkpoint */
        return;
    }
    /* A second Ctrl-C stops at once, unless a file (the checkpoint) is being written: cutting
     * that short would leave only its temporary, so the program ends when it is complete. */
    if (am_atomic_pending() > 0) {
        static const char msg[] = "\nastromorph: still writing the checkpoint; stopping as soon as it is complete\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        return;
    }
    static const char stop[] = "\nastromorph: stopped at once; the last checkpoint written (if any) is unchanged\n";
    ssize_t w = write(STDERR_FILENO, stop, sizeof stop - 1);
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

void am_cli_catch_interrupt(void)
{
    am_cli_interrupted = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void am_cli_release_interrupt(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

int am_cli_fail(const char *cmd)
{
    am_log(AM_LOG_DEBUG, "failed: %s", am_errmsg()); /* the log file keeps the reason too */
    fprintf(stderr, "astromorph %s: %s\n", cmd, am_errmsg());
    return 1;
}
