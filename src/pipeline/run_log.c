/* Run logging (terminal + logs/<time>.log, as the original's loguru setup) and time labels. */
#include "astromorph/pipeline.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "astromorph/runtime.h"
#include "core/internal.h"

static FILE *log_fp;

void am_time_label(char out[16])
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

am_status am_run_log_open(const char *path)
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

void am_run_log_close(void)
{
    if (log_fp) fclose(log_fp);
    log_fp = NULL;
    am_log_set_sink(sink, NULL); /* keep INFO on the terminal */
}

FILE *am_run_log_file(void) { return log_fp; }
