/* Progress bar: plain lines at the set interval with rate, ETA and the running loss, timed by
 * the given clock; terminal redraws limited to 10 a second; off mode silent. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/progress.h"
#include "test_util.h"

/* What was written to f, from the start. */
static char *contents(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    rewind(f);
    char *b = calloc((size_t)n + 1, 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) b[0] = '\0';
    fseek(f, 0, SEEK_END);
    return b;
}

static int count(const char *s, char c)
{
    int n = 0;
    for (; *s; s++) n += *s == c;
    return n;
}

static void test_plain(void)
{
    FILE *f = tmpfile();
    am_progress *p;
    /* AUTO on a file (not a terminal) is plain. */
    CHECK_OK(am_progress_create(&p, "epoch 1/3", 200, f, AM_PROGRESS_AUTO));
    am_progress_set_interval(p, 10);
    am_progress_update_at(p, 0, NAN, 100.0);
    am_progress_update_at(p, 10, 1.0, 101.0);
    am_progress_update_at(p, 50, 0.5, 105.0);
    char *s = contents(f);
    CHECK(s[0] == '\0', "a line before the interval passed: %s", s);
    free(s);
    am_progress_update_at(p, 105, 0.6, 110.5);
    CHECK(am_progress_loss(p) == 0.6, "shown loss %g", am_progress_loss(p));
    am_progress_update_at(p, 120, NAN, 112.0); /* within the interval: no line; NaN keeps 0.6 */
    s = contents(f);
    CHECK(strcmp(s, "epoch 1/3: 105/200 (52%), 10.0 img/s, ETA 0:10, loss 0.6000\n") == 0, "plain line: '%s'", s);
    free(s);
    am_progress_finish_at(p, 120.0);
    s = contents(f);
    const char *last = strstr(s, "\n") ? strstr(s, "\n") + 1 : s;
    CHECK(count(s, '\n') == 2 && strcmp(last, "epoch 1/3: 120/200 (60%), 6.0 img/s, took 0:20, loss 0.6000\n") == 0,
          "final line: '%s'", last);
    CHECK(!strchr(s, '\r') && !strchr(s, '\033'), "plain output has terminal controls");
    free(s);
    fclose(f);
}

static void test_tty(void)
{
    FILE *f = tmpfile();
    am_progress *p;
    CHECK_OK(am_progress_create(&p, "train", 1000, f, AM_PROGRESS_TTY));
    /* 200 updates in 0.199 s (two 0.1 s periods) draw at most 3 times. */
    for (int i = 0; i < 200; i++) am_progress_update_at(p, i * 5, 2.0, 50.0 + i * 0.001);
    char *s = contents(f);
    int draws = count(s, '\r');
    CHECK(draws >= 1 && draws <= 3, "%d redraws in 0.2 s", draws);
    CHECK(!strchr(s, '\n'), "the bar must stay on one line until the end");
    free(s);
    am_progress_update_at(p, 500, NAN, 60.0);
    am_progress_finish_at(p, 60.0);
    s = contents(f);
    const char *final = strrchr(s, '\r');
    CHECK(final && strstr(final, "[##############..............] 500/1000 (50%)") && strstr(final, "loss 2.0000") &&
              s[strlen(s) - 1] == '\n',
          "final bar: '%s'", final ? final + 1 : s);
    free(s);
    fclose(f);
}

static void test_unknown_total_and_off(void)
{
    FILE *f = tmpfile();
    am_progress *p;
    CHECK_OK(am_progress_create(&p, "infer", 0, f, AM_PROGRESS_PLAIN));
    am_progress_set_interval(p, 1);
    am_progress_update_at(p, 0, NAN, 0.0);
    am_progress_update_at(p, 30, NAN, 3.0);
    am_progress_finish_at(p, 4.0);
    char *s = contents(f);
    CHECK(strcmp(s, "infer: 30 done, 10.0 img/s\ninfer: 30 done, 7.5 img/s, took 0:04\n") == 0, "unknown total: '%s'",
          s);
    free(s);
    fclose(f);

    f = tmpfile();
    CHECK_OK(am_progress_create(&p, "quiet", 10, f, AM_PROGRESS_OFF));
    for (int i = 0; i <= 10; i++) am_progress_update_at(p, i, 1.0 / (i + 1), i * 100.0);
    CHECK(am_progress_loss(p) == 1.0 / 11, "off mode still keeps the loss");
    am_progress_finish_at(p, 2000.0);
    s = contents(f);
    CHECK(s[0] == '\0', "off mode wrote '%s'", s);
    free(s);
    fclose(f);
    am_progress_finish(NULL);
    CHECK(isnan(am_progress_loss(NULL)), "no progress, no loss");
}

int main(void)
{
    test_plain();
    test_tty();
    test_unknown_total_and_off();
    return am_test_finish();
}
