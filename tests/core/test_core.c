/* Core: RNG reproducibility and statistics, tensors, atomic files, the interrupt handler. */
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "astromorph/rng.h"
#include "astromorph/runtime.h"
#include "test_util.h"
#include "core/internal.h"

static void test_rng(void)
{
    am_rng a, b, c;
    am_rng_init(&a, 42, am_rng_stream(1, 2, 3));
    am_rng_init(&b, 42, am_rng_stream(1, 2, 3));
    am_rng_init(&c, 42, am_rng_stream(1, 2, 4));
    int same = 1, differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = am_rng_u32(&a), y = am_rng_u32(&b), z = am_rng_u32(&c);
        same &= x == y;
        differ += x != z;
    }
    CHECK(same, "same key and stream must repeat");
    CHECK(differ > 990, "different streams must differ (%d)", differ);

    /* a copy skipped by j blocks continues where 4·j words of the original would, also past a
     * carry into the counter's high word */
    uint32_t serial[64];
    am_rng_init(&a, 9, 5);
    for (int i = 0; i < 64; i++) serial[i] = am_rng_u32(&a);
    int skipped = 1;
    for (int j = 0; j < 16; j++) {
        am_rng_init(&b, 9, 5);
        am_rng_skip(&b, (uint64_t)j);
        for (int i = 4 * j; i < 64; i++) skipped &= am_rng_u32(&b) == serial[i];
    }
    CHECK(skipped, "skipping j blocks gives the words after 4j");
    am_rng_init(&a, 9, 5);
    am_rng_skip(&a, 0xFFFFFFFFull);
    for (int i = 0; i < 8; i++) (void)am_rng_u32(&a); /* two blocks: the counter crosses 2^32 */
    am_rng_init(&b, 9, 5);
    am_rng_skip(&b, 0x100000001ull);
    CHECK(am_rng_u32(&a) == am_rng_u32(&b), "skipping across the counter's carry");

    /* the threaded fills equal one serial pass, across their chunks of 16384 and 16-block
     * batches (an odd count ends mid-batch, and mid-block for the uniforms) */
    enum { NF = 40003 };
    float *fn = malloc(NF * sizeof *fn), *fu = malloc(NF * sizeof *fu);
    am_rng_init(&a, 11, 2);
    am_rng_fill_normal(&a, 3, fn, NF, 0.5);
    am_rng_fill_symmetric(&a, 0, fu, NF, 2.0);
    am_rng_init(&b, 11, 2);
    am_rng_skip(&b, 3);
    am_rng_init(&c, 11, 2);
    int fills = fn && fu;
    for (int i = 0; fills && i < NF; i++)
        fills = fn[i] == (float)(0.5 * am_rng_normal(&b)) && fu[i] == (float)(2.0 * (2.0 * am_rng_uniform(&c) - 1.0));
    CHECK(fills, "the threaded fills give the serial values");
    /* a batch of blocks that crosses the counter's 2^32 carry */
    am_rng_init(&a, 11, 2);
    am_rng_fill_normal(&a, 0xFFFFFFF8ull, fn, 40, 1.0);
    am_rng_init(&b, 11, 2);
    am_rng_skip(&b, 0xFFFFFFF8ull);
    for (int i = 0; fills && i < 40; i++) fills = fn[i] == (float)am_rng_normal(&b);
    CHECK(fills, "a fill across the counter's carry gives the serial values");
    free(fn), free(fu);

    am_rng_init(&a, 7, 0);
    double sum = 0, sum2 = 0, usum = 0;
    int hist[10] = {0};
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double g = am_rng_normal(&a);
        sum += g;
        sum2 += g * g;
        double u = am_rng_uniform(&a);
        CHECK(u >= 0 && u < 1, "uniform out of range: %g", u);
        usum += u;
        hist[am_rng_below(&a, 10)]++;
    }
    CHECK(fabs(sum / n) < 0.01, "normal mean %g", sum / n);
    CHECK(fabs(sum2 / n - 1) < 0.02, "normal variance %g", sum2 / n);
    CHECK(fabs(usum / n - 0.5) < 0.005, "uniform mean %g", usum / n);
    for (int i = 0; i < 10; i++) CHECK(abs(hist[i] - n / 10) < n / 100, "bucket %d: %d", i, hist[i]);

    /* A copied state continues identically (checkpointing). */
    am_rng_init(&a, 9, 9);
    for (int i = 0; i < 5; i++) am_rng_u32(&a);
    b = a;
    CHECK(am_rng_u64(&a) == am_rng_u64(&b), "copied state must continue identically");

    int64_t idx[50];
    for (int i = 0; i < 50; i++) idx[i] = i;
    am_rng_shuffle(&a, idx, 50);
    int seen[50] = {0}, moved = 0;
    for (int i = 0; i < 50; i++) {
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 50; i++) CHECK(seen[i] == 1, "shuffle lost %d", i);
    CHECK(moved > 30, "shuffle moved only %d", moved);
}

static void test_tensor(void)
{
    am_tensor t, u;
    CHECK_OK(am_tensor_alloc4(&t, 2, 3, 4, 5));
    CHECK(am_tensor_numel(&t) == 120, "numel");
    CHECK(((uintptr_t)t.data & 63) == 0, "alignment");
    t.data[7] = 3.5f;
    CHECK_OK(am_tensor_clone(&u, &t));
    CHECK(u.data[7] == 3.5f && am_tensor_same_shape(&t, &u), "clone");
    char buf[64];
    CHECK(strcmp(am_tensor_shape_str(&t, buf, sizeof buf), "2x3x4x5") == 0, "shape str %s", buf);
    CHECK(am_tensor_all_finite(&t), "finite");
    t.data[3] = NAN;
    CHECK(!am_tensor_all_finite(&t), "nan detected");
    am_tensor_free(&t);
    am_tensor_free(&u);
    int64_t bad[2] = {-1, 3};
    CHECK_FAILS(am_tensor_alloc(&t, 2, bad), AM_ERR_SHAPE, "negative");
}

static void test_atomic(void)
{
    char path[512], dir[512];
    snprintf(dir, sizeof dir, "%s/a/b/c", am_test_tmpdir());
    CHECK_OK(am_mkdirs(dir));
    snprintf(path, sizeof path, "%s/out.txt", dir);
    am_atomic_file af;
    CHECK_OK(am_atomic_open(&af, path, 0));
    fputs("hello\n", af.fp);
    CHECK(!am_file_exists(path), "file must not appear before commit");
    CHECK_OK(am_atomic_commit(&af));
    CHECK(am_file_exists(path), "file after commit");
    CHECK_OK(am_atomic_open(&af, path, 0));
    fputs("partial", af.fp);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s", af.tmp_path);
    am_atomic_abort(&af);
    CHECK(!am_file_exists(tmp), "temporary removed on abort");
    FILE *fp = fopen(path, "r");
    char line[32] = {0};
    CHECK(fp && fgets(line, sizeof line, fp) && strcmp(line, "hello\n") == 0, "abort keeps the old file");
    if (fp) fclose(fp);
    CHECK_FAILS(am_atomic_open(&af, "/nonexistent-dir/x", 0), AM_ERR_IO, "/nonexistent-dir/x");
    /* what a signal handler asks before ending the program mid-write */
    CHECK(am_atomic_pending() == 0, "no write pending: %d", am_atomic_pending());
    CHECK_OK(am_atomic_open(&af, path, 0));
    CHECK(am_atomic_pending() == 1, "one write pending");
    CHECK_OK(am_atomic_commit(&af));
    CHECK(am_atomic_pending() == 0, "none after the commit");
    /* stale temporaries: a dead process's go, this process's and a live one's (pid 1) stay */
    char dead[700], mine[700], live[700];
    snprintf(dead, sizeof dead, "%s/ck.safetensors.tmp.2147483646", dir);
    snprintf(mine, sizeof mine, "%s/ck.safetensors.tmp.%ld", dir, (long)getpid());
    snprintf(live, sizeof live, "%s/ck.safetensors.tmp.1", dir);
    const char *files[] = {dead, mine, live};
    for (int i = 0; i < 3; i++) {
        FILE *t = fopen(files[i], "w");
        if (t) fclose(t);
    }
    CHECK(am_atomic_clean_stale(dir) == 1 && !am_file_exists(dead) && am_file_exists(mine) && am_file_exists(live),
          "only the dead process's temporary is removed");
    remove(mine), remove(live);
    /* a lock held by one open file refuses a second one, naming the holder */
    char lockp[700], pidtxt[64];
    snprintf(lockp, sizeof lockp, "%s/run.lock", dir);
    am_lock a = {-1}, b = {-1};
    CHECK_OK(am_lock_take(&a, lockp, "run X"));
    snprintf(pidtxt, sizeof pidtxt, "run X is in use by process %ld", (long)getpid());
    CHECK_FAILS(am_lock_take(&b, lockp, "run X"), AM_ERR_IO, pidtxt);
    am_lock_release(&a);
    CHECK_OK(am_lock_take(&b, lockp, "run X"));
    am_lock_release(&b);
}

static void touch_at(const char *path, long sec, long nsec)
{
    FILE *fp = fopen(path, "w");
    if (fp) fclose(fp);
    struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
    CHECK(utimensat(AT_FDCWD, path, ts, 0) == 0, "set mtime of %s", path);
}

static void test_newest_file(void)
{
    char dir[512], p[600], out[700];
    snprintf(dir, sizeof dir, "%s/newest", am_test_tmpdir());
    CHECK_OK(am_mkdirs(dir));
    static const char *const kinds[] = {".safetensors", ".csv", NULL};
    CHECK_FAILS(am_newest_file(dir, "", kinds, out, sizeof out), AM_ERR_NOTFOUND, dir);
    snprintf(p, sizeof p, "%s/a.csv", dir);
    touch_at(p, 1000, 500);
    snprintf(p, sizeof p, "%s/b.safetensors", dir);
    touch_at(p, 1000, 400); /* same second, older by nanoseconds */
    snprintf(p, sizeof p, "%s/c.txt", dir);
    touch_at(p, 2000, 0); /* newest, but not a wanted kind */
    CHECK_OK(am_newest_file(dir, "", kinds, out, sizeof out));
    CHECK(strstr(out, "/a.csv") != NULL, "nanoseconds decide within a second: %s", out);
    snprintf(p, sizeof p, "%s/d.safetensors", dir);
    touch_at(p, 1000, 500); /* ties a.csv exactly: the earlier suffix wins */
    CHECK_OK(am_newest_file(dir, "", kinds, out, sizeof out));
    CHECK(strstr(out, "/d.safetensors") != NULL, "tie goes to the earlier suffix: %s", out);
    CHECK_OK(am_newest_file(dir, "b", kinds, out, sizeof out));
    CHECK(strstr(out, "/b.safetensors") != NULL, "prefix filters: %s", out);
    CHECK_FAILS(am_newest_file("/nonexistent-dir", "", kinds, out, sizeof out), AM_ERR_IO, "/nonexistent-dir");
}

/* A prefix the message already starts with is not written twice ("X: X: ..."). */
static void test_error_prefix(void)
{
    am_error(AM_ERR_FORMAT, "m.safetensors: metadata 'x' missing");
    am_error_prefix(AM_ERR_FORMAT, "%s", "m.safetensors");
    CHECK(strcmp(am_errmsg(), "m.safetensors: metadata 'x' missing") == 0, "%s", am_errmsg());
    am_error_prefix(AM_ERR_FORMAT, "%s", "settings.toml");
    CHECK(strcmp(am_errmsg(), "settings.toml: m.safetensors: metadata 'x' missing") == 0, "%s", am_errmsg());
}

/* The Ctrl-C contract, driven signal by signal in a child (no timing involved): the first
 * signal only sets the flag; a second one while a checkpoint is being written lets the write
 * finish and says so; a second one with nothing being written ends the process by the signal. */
static void test_interrupt(void)
{
    char dir[600], path[700], errp[700];
    snprintf(dir, sizeof dir, "%s", am_test_tmpdir());
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    snprintf(errp, sizeof errp, "%s/interrupt_err.txt", dir);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(errp, "w", stderr)) _exit(90);
        setvbuf(stderr, NULL, _IONBF, 0);
        am_interrupt_catch();
        const volatile int *flag = am_interrupt_flag();
        if (*flag) _exit(91);
        raise(SIGINT); /* the first: the run is asked to stop */
        if (!*flag) _exit(92);
        am_atomic_file af;
        if (am_atomic_open(&af, path, 0) != AM_OK) _exit(93);
        fputs("half", af.fp);
        raise(SIGTERM); /* the second, in the middle of the save: the save goes on */
        fputs(" and the rest\n", af.fp);
        if (am_atomic_commit(&af) != AM_OK) _exit(94);
        raise(SIGINT); /* nothing being written: ends here, by the signal */
        _exit(95);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT, "ended by the last signal (status %d: %s)", status,
          WIFEXITED(status) ? "exited" : "signalled");
    size_t n = 0;
    char *saved = am_test_slurp(path, &n), *err = am_test_slurp(errp, NULL);
    CHECK(saved && !strcmp(saved, "half and the rest\n"), "the checkpoint written during the second signal is whole");
    CHECK(err && strstr(err, "still writing the checkpoint; stopping as soon as it is complete") &&
              strstr(err, "stopped at once; the last checkpoint written (if any) is unchanged"),
          "each case says what it did: %s", err ? err : "");
    free(saved), free(err);
    char tmp[800];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)pid);
    CHECK(!am_file_exists(tmp), "no temporary left");
    /* released: the default actions are back (checked in a child that SIGTERM must end) */
    pid = fork();
    if (pid == 0) {
        am_interrupt_catch();
        am_interrupt_release();
        raise(SIGTERM);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "release restores the default action");
}

/* am_replicas_run: worker w takes jobs w, w + W, ... in order with its share of the threads;
 * every job runs; the first failure in job order is reported with its own message. */
typedef struct {
    int worker[7], threads[7], seq[7];
    int next[3];
} jobs_seen;

static am_status record_job(void *user, int job, int worker)
{
    jobs_seen *js = user;
    js->worker[job] = worker, js->threads[job] = omp_get_max_threads();
    js->seq[job] = js->next[worker % 3]++; /* each worker's own counter: no race */
    if (job == 2 || job == 5) return am_error(AM_ERR_VALUE, "job %d failed", job);
    return AM_OK;
}

static void test_replicas(void)
{
    int was = am_get_threads();
    am_set_threads(6);
    jobs_seen js;
    memset(&js, 0, sizeof js);
    int failed = -2;
    am_status s = am_replicas_run(7, 3, record_job, &js, &failed);
    CHECK(s == AM_ERR_VALUE && failed == 2 && !strcmp(am_errmsg(), "job 2 failed"),
          "the first failure in job order, with its message (status %d, job %d: %s)", s, failed, am_errmsg());
    int ok = 1;
    for (int j = 0; j < 7; j++) ok &= js.worker[j] == j % 3 && js.threads[j] == 2 && js.seq[j] == j / 3;
    CHECK(ok, "job j on worker j mod 3, in order, 2 threads each");
    CHECK(js.next[0] == 3 && js.next[1] == 2 && js.next[2] == 2, "every job ran despite the failures");
    memset(&js, 0, sizeof js);
    s = am_replicas_run(1, 4, record_job, &js, &failed);
    CHECK(s == AM_OK && failed == -1 && js.threads[0] == 6, "one job keeps all the threads (%d)", js.threads[0]);
    am_set_threads(was);
}

int main(void)
{
    test_replicas();
    test_interrupt();
    test_error_prefix();
    test_newest_file();
    test_rng();
    test_tensor();
    test_atomic();
    return am_test_finish();
}
