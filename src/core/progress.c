/* Progress reporting. Timing starts at the first update, so the rate and ETA count only the
 * work done while the bar was watching (a resumed epoch does not look impossibly fast). */
#include "astromorph/progress.h"
#include "astromorph/runtime.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { BAR_WIDTH = 28, LABEL_LEN = 64 };
static const double TTY_REDRAW_S = 0.1;

struct am_progress {
    FILE *out;
    char label[LABEL_LEN];
    int64_t total, done, first_done;
    am_progress_mode mode;
    double interval, start, last_draw;
    int started, drawn_once;
    double loss; /* NaN until one is given */
};

am_status am_progress_create(am_progress **out, const char *label, int64_t total, FILE *fp, am_progress_mode mode)
{
    *out = NULL;
    am_progress *p = calloc(1, sizeof *p);
    if (!p) return am_error(AM_ERR_NOMEM, "progress: out of memory");
    p->out = fp ? fp : stderr;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total = total > 0 ? total : 0;
    if (mode == AM_PROGRESS_AUTO) mode = isatty(fileno(p->out)) ? AM_PROGRESS_TTY : AM_PROGRESS_PLAIN;
    p->mode = mode;
    p->interval = 10.0;
    p->loss = NAN;
    *out = p;
    return AM_OK;
}

void am_progress_set_interval(am_progress *p, double seconds)
{
    if (p && seconds > 0) p->interval = seconds;
}

double am_progress_loss(const am_progress *p) { return p ? p->loss : NAN; }

/* "1:02:03" or "2:03". */
static void fmt_duration(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0) {
        snprintf(buf, n, "?");
        return;
    }
    long t = lround(s);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

/* The statistics shared by both modes: "123/270 (45%), 12.3 img/s, ETA 0:12, loss 0.4312". */
static void fmt_stats(const am_progress *p, double now, int final, char *buf, size_t n)
{
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)(p->done - p->first_done) / elapsed : NAN;
    size_t k = 0;
    if (p->total)
        k += (size_t)snprintf(buf + k, n - k, "%lld/%lld (%d%%)", (long long)p->done, (long long)p->total,
                              (int)(100 * p->done / p->total));
    else k += (size_t)snprintf(buf + k, n - k, "%lld done", (long long)p->done);
    if (k < n && isfinite(rate)) k += (size_t)snprintf(buf + k, n - k, ", %.1f img/s", rate);
    char d[32];
    if (k < n && final) {
        fmt_duration(d, sizeof d, elapsed);
        k += (size_t)snprintf(buf + k, n - k, ", took %s", d);
    } else if (k < n && p->total && rate > 0) {
        fmt_duration(d, sizeof d, (double)(p->total - p->done) / rate);
        k += (size_t)snprintf(buf + k, n - k, ", ETA %s", d);
    }
    if (k < n && isfinite(p->loss)) snprintf(buf + k, n - k, ", loss %.4f", p->loss);
}

static void draw(am_progress *p, double now, int final)
{
    char stats[256];
    fmt_stats(p, now, final, stats, sizeof stats);
    if (p->mode == AM_PROGRESS_TTY) {
        char bar[BAR_WIDTH + 1];
        int fill = p->total ? (int)(BAR_WIDTH * (p->done > p->total ? p->total : p->done) / p->total) : 0;
        for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        /* \r returns to the line start, ESC[K clears what a longer previous line left. */
        if (p->total) fprintf(p->out, "\r%s [%s] %s\033[K%s", p->label, bar, stats, final ? "\n" : "");
        else fprintf(p->out, "\r%s %s\033[K%s", p->label, stats, final ? "\n" : "");
    } else {
        fprintf(p->out, "%s: %s\n", p->label, stats);
    }
    fflush(p->out);
    p->last_draw = now;
    p->drawn_once = 1;
}

void am_progress_update_at(am_progress *p, int64_t done, double loss, double now)
{
    if (!p) return;
    if (!p->started) {
        p->started = 1;
        p->start = now;
        p->last_draw = now;
        /* Items done before the first update are not ours to time. */
        p->first_done = done;
    }
    p->done = done;
    if (isfinite(loss)) p->loss = loss;
    if (p->mode == AM_PROGRESS_OFF) return;
    double gap = p->mode == AM_PROGRESS_TTY ? TTY_REDRAW_S : p->interval;
    if (now - p->last_draw >= gap || (p->mode == AM_PROGRESS_TTY && !p->drawn_once)) draw(p, now, 0);
}

void am_progress_update(am_progress *p, int64_t done, double loss)
{
    am_progress_update_at(p, done, loss, am_monotonic_seconds());
}

void am_progress_finish_at(am_progress *p, double now)
{
    if (!p) return;
    if (!p->started) {
        p->start = now;
        p->first_done = p->done;
    }
    if (p->mode != AM_PROGRESS_OFF) draw(p, now, 1);
    free(p);
}

void am_progress_finish(am_progress *p) { am_progress_finish_at(p, am_monotonic_seconds()); }
