/* The hostile-input campaign (issue 13), kept: each input is generated here, run through the
 * program ($AM_CLI) and must end with the documented exit status and a one-line message naming
 * the culprit — never a crash, a hang or a changed earlier output. Runs in the Release and the
 * sanitizer builds. docs/reliability.md lists the defects these inputs found. */
#include <fitsio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

static const char *cli;
static char dir[512], err_text[1 << 16];

static int run(const char *args)
{
    char cmd[4096], p[700];
    snprintf(cmd, sizeof cmd, "cd '%s' && OMP_NUM_THREADS=2 '%s' %s >out.txt 2>err.txt </dev/null", dir, cli, args);
    int rc = system(cmd);
    snprintf(p, sizeof p, "%s/err.txt", dir);
    FILE *fp = fopen(p, "rb");
    size_t n = fp ? fread(err_text, 1, sizeof err_text - 1, fp) : 0;
    if (fp) fclose(fp);
    err_text[n] = 0;
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

/* The program started in dir with stdout/stderr to files; a file-size limit (bytes, 0: none)
 * stands in for a full disk: writes past it fail with EFBIG (SIGXFSZ ignored), as they would
 * fail with ENOSPC, through the same code. */
static pid_t spawn(const char *const *argv, long fsize_limit, const char *out, const char *err)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(dir) != 0 || !freopen(out, "w", stdout) || !freopen(err, "w", stderr)) _exit(99);
        setenv("OMP_NUM_THREADS", "2", 1);
        if (fsize_limit > 0) {
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit rl = {(rlim_t)fsize_limit, (rlim_t)fsize_limit};
            if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(97);
        }
        execv(cli, (char *const *)argv);
        _exit(98);
    }
    return pid;
}

static int wait_rc(pid_t pid)
{
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *read_dir_file(const char *name, size_t *len)
{
    char p[800];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return am_test_slurp(p, len);
}

/* How many names in dir/sub contain `part`; the first is copied to first. */
static int count_names(const char *sub, const char *part, char *first, size_t cap)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls -A '%s/%s' 2>/dev/null | grep -F '%s' > '%s/names.txt'", dir, sub, part, dir);
    if (system(cmd) == -1) return -1;
    size_t n = 0;
    char *t = read_dir_file("names.txt", &n);
    int count = 0;
    if (first && cap) first[0] = 0;
    for (char *line = t, *next; t && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (!count && first) snprintf(first, cap, "%s", line);
        count++;
    }
    free(t);
    return count;
}

static void write_file(const char *name, const void *data, size_t n)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "wb");
    CHECK(fp && fwrite(data, 1, n, fp) == n, "write %s", name);
    if (fp) fclose(fp);
}

static void write_text(const char *name, const char *text) { write_file(name, text, strlen(text)); }

/* A good FITS image of side s with a source in the middle. */
static void good_image(const char *name, int s)
{
    char p[800];
    snprintf(p, sizeof p, "!%s/%s", dir, name);
    float *v = malloc((size_t)(s * s) * sizeof *v);
    for (int i = 0; i < s * s; i++) {
        int x = i % s - s / 2, y = i / s - s / 2;
        v[i] = (float)(1.0 / (1.0 + (x * x + 2 * y * y) / 20.0) + 0.01 * ((i * 7919) % 13));
    }
    fitsfile *f;
    int st = 0;
    long nx[2] = {s, s};
    fits_create_file(&f, p, &st);
    fits_create_img(f, FLOAT_IMG, 2, nx, &st);
    fits_write_img(f, TFLOAT, 1, (LONGLONG)s * s, v, &st);
    fits_close_file(f, &st);
    free(v);
    CHECK(st == 0, "write %s", name);
}

/* n good images of side `side` in a new folder dir/sub: sub/g0.fits ... */
static void good_images(const char *sub, int n, int side)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    mkdir(p, 0755);
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s/g%d.fits", sub, i);
        good_image(name, side);
    }
}

/* The corrupt Rice tile: 512 x 512 int16 in one tile, byte 2 of the tile 0x10, the rest 0. */
static void corrupt_tile(const char *name)
{
    char p[800];
    snprintf(p, sizeof p, "!%s/%s[compress R 512,512]", dir, name);
    static short v[512 * 512];
    for (int i = 0; i < 512 * 512; i++) v[i] = (short)(i % 7 == 0 ? 3 : 0);
    fitsfile *f;
    int st = 0;
    long nx[2] = {512, 512};
    fits_create_file(&f, p, &st);
    fits_create_img(f, SHORT_IMG, 2, nx, &st);
    fits_write_img(f, TSHORT, 1, 512 * 512, v, &st);
    fits_close_file(f, &st);
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "r+b");
    static char b[1 << 20];
    size_t n = fp ? fread(b, 1, sizeof b, fp) : 0;
    size_t h2 = 0, end = 0;
    for (size_t at = 0; at + 80 <= n && !h2; at += 80)
        if (!strncmp(b + at, "END     ", 8)) h2 = (at / 2880 + 1) * 2880;
    for (size_t at = h2; at + 80 <= n && !end; at += 80)
        if (!strncmp(b + at, "END     ", 8)) end = (at / 2880 + 1) * 2880;
    long theap = 0, naxis1 = 0, naxis2 = 0;
    for (size_t at = h2; at < end; at += 80) {
        if (!strncmp(b + at, "NAXIS1  =", 9)) naxis1 = strtol(b + at + 10, NULL, 10);
        if (!strncmp(b + at, "NAXIS2  =", 9)) naxis2 = strtol(b + at + 10, NULL, 10);
        if (!strncmp(b + at, "THEAP   =", 9)) theap = strtol(b + at + 10, NULL, 10);
    }
    if (!theap) theap = naxis1 * naxis2;
    const unsigned char *d = (const unsigned char *)b + end;
    long cnt = (long)d[0] << 24 | d[1] << 16 | d[2] << 8 | d[3], off = (long)d[4] << 24 | d[5] << 16 | d[6] << 8 | d[7];
    size_t t = end + (size_t)theap + (size_t)off;
    int ok = fp && end && cnt > 2 && t + (size_t)cnt <= n;
    CHECK(ok, "found the tile of %s", name);
    if (ok) {
        memset(b + t, 0, (size_t)cnt);
        b[t + 2] = 0x10;
        fseek(fp, 0, SEEK_SET);
        CHECK(fwrite(b, 1, n, fp) == n, "rewrite %s", name);
    }
    if (fp) fclose(fp);
}

static int one_line(const char *text) { return text[0] && strchr(text, '\n') == text + strlen(text) - 1; }

/* The last line of text (the error, after any progress lines). */
static const char *last_line(const char *text)
{
    size_t n = strlen(text);
    while (n && text[n - 1] == '\n') n--;
    while (n && text[n - 1] != '\n') n--;
    return text + n;
}

/* kill -9 at any moment of a run that writes a checkpoint every epoch, then a full disk during
 * a checkpoint: the newest checkpoint on disk is always a whole one (the resume loads it), a
 * dead run's temporary is removed by the next start, and a failed save names the file and the
 * reason and leaves the previous checkpoint byte for byte. */
static void check_checkpoint_faults(void)
{
    write_text("ck.toml", "datafile = \"good\"\nnetwork_name = \"amm\"\nepochs = 400\nbatch_size = 4\n"
                          "checkpoint_every = 1\n");
    const char *const first[] = {cli, "training", "-c", "ck.toml", NULL};
    const char *const resume[] = {cli, "training", "-c", "ck.toml", "--resume", NULL};
    static const long delays_ms[] = {700, 350, 900, 520};
    int killed = 0, tmp_seen = 0, resumed = 0;
    for (int k = 0; k < 4; k++) {
        /* wait for a checkpoint to exist, then kill at a different moment each time */
        pid_t pid = spawn(k ? resume : first, 0, "ck_out.txt", "ck_err.txt");
        for (int i = 0; i < 3000 && count_names("saved_models", "checkpoint_", NULL, 0) < 1; i++) {
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
        }
        struct timespec d = {0, delays_ms[k] * 1000000L};
        nanosleep(&d, NULL);
        /* odd runs go on to aim at a save: killed the moment a temporary is seen (or after 2 s) */
        for (int i = 0; k % 2 && i < 10000 && count_names("saved_models", ".tmp.", NULL, 0) < 1; i++) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
        killed += kill(pid, SIGKILL) == 0;
        int rc = wait_rc(pid);
        CHECK(rc == 128 + SIGKILL || rc == 0, "run %d ended by kill -9 (rc %d)", k, rc);
        tmp_seen += count_names("saved_models", ".tmp.", NULL, 0) > 0;
        if (k) {
            char *e = read_dir_file("ck_err.txt", NULL);
            resumed += e && strstr(e, "resumed from saved_models/checkpoint_") != NULL;
            free(e);
        }
    }
    CHECK(killed == 4 && resumed == 3, "every kill -9 left a checkpoint the next run resumed from (%d of 3)", resumed);
    /* the last kill's temporary (if it hit a save) goes at the next start; that run meets a
     * 512 KiB file-size limit (a full disk) at its first checkpoint */
    char ckpt[256];
    CHECK(count_names("saved_models", "checkpoint_", ckpt, sizeof ckpt) >= 1, "a checkpoint is on disk");
    char rel[400];
    snprintf(rel, sizeof rel, "saved_models/%s", ckpt);
    size_t n_before = 0, n_after = 0;
    char *before = read_dir_file(rel, &n_before);
    int rc = wait_rc(spawn(resume, 512 * 1024, "full_out.txt", "full_err.txt"));
    char *err = read_dir_file("full_err.txt", NULL);
    const char *last = err ? last_line(err) : "";
    CHECK(rc == 1 && strstr(last, "saved_models/checkpoint_") && strstr(last, "File too large"),
          "a failed checkpoint save names the file and why (rc %d): %s", rc, last);
    CHECK(count_names("saved_models", ".tmp.", NULL, 0) == 0,
          "no temporary left (stale ones removed, the failed one too)");
    char *after = read_dir_file(rel, &n_after);
    CHECK(before && after && n_before == n_after && !memcmp(before, after, n_before),
          "the previous checkpoint is unchanged byte for byte");
    free(before), free(after), free(err);
    /* with room again, the same run resumes from it (and is stopped by Ctrl-C once it has) */
    pid_t pid = spawn(resume, 0, "ok_out.txt", "ok_err.txt");
    int started = 0;
    for (int i = 0; i < 3000 && !started; i++) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
        err = read_dir_file("ok_err.txt", NULL);
        started = err && strstr(err, "resumed from saved_models/checkpoint_");
        free(err);
    }
    kill(pid, SIGINT);
    rc = wait_rc(pid);
    CHECK(started && rc == 130, "resumes after the full disk (rc %d)", rc);
    printf("kill -9 hit a checkpoint save %d time(s) of 4\n", tmp_seen);
}

int main(void)
{
    cli = getenv("AM_CLI");
    CHECK(cli != NULL, "AM_CLI is not set (ctest sets it to the astromorph program)");
    if (!cli) return am_test_finish();
    snprintf(dir, sizeof dir, "%s", am_test_tmpdir());
    good_images("data", 6, 40);
    corrupt_tile("data/bad.fits.fz");
    good_images("good", 8, 32);
    check_checkpoint_faults();
    write_text("data/short.fits", "SIMPLE  =                    T / truncated");
    write_text("s.toml", "datafile = \"data\"\nnetwork_name = \"amm\"\nepochs = 1\nbatch_size = 4\n");

    /* the corrupt tile and the truncated file: refused by name, exit 1, one line */
    CHECK(run("training -c s.toml --check") == 1 && !strncmp(last_line(err_text), "astromorph training: ", 21) &&
              (strstr(last_line(err_text), "bad.fits.fz") || strstr(last_line(err_text), "short.fits")),
          "bad files refused by name: %s", last_line(err_text));
    /* ... and with skip_bad_files they are left out and the run trains */
    write_text("skip.toml", "datafile = \"data\"\nnetwork_name = \"amm\"\nepochs = 1\nbatch_size = 4\n"
                            "[data_settings]\nskip_bad_files = true\n");
    CHECK(run("training -c skip.toml") == 0, "skip_bad_files trains on the rest: %s", err_text);
    CHECK(strstr(err_text, "bad.fits.fz") && strstr(err_text, "corrupt compressed image"), "says which was left out");
    CHECK(run("inference -c skip.toml -n \"$(ls saved_models/improved_net_*.safetensors | head -1)\"") == 0,
          "inference with a corrupt tile in the folder: %s", err_text);
    /* embeddings_dtype = "f16": the export is half precision, and the analysis commands read it */
    write_text("f16.toml", "datafile = \"data\"\nnetwork_name = \"amm\"\nembeddings_dtype = \"f16\"\n"
                           "[data_settings]\nskip_bad_files = true\n");
    CHECK(run("inference -c f16.toml -n \"$(ls saved_models/improved_net_*.safetensors | head -1)\"") == 0,
          "inference with F16 embeddings: %s", err_text);
    char *f16_out = read_dir_file("out.txt", NULL);
    CHECK(f16_out && strstr(f16_out, ", F16)"), "inference says it wrote F16: %s", f16_out ? f16_out : "");
    free(f16_out);
    CHECK(run("cluster -k 2 --algorithm minibatch") == 0 && strstr(err_text, "mini-batch k-means"),
          "cluster of the F16 export: %s", err_text);
    /* earlier outputs stay as they were when a later run fails */
    char before[700];
    snprintf(before, sizeof before, "%s/exported", dir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' outliers -k 2 >/dev/full 2>err.txt", dir, cli);
    int rc = system(cmd);
    char *full_err = read_dir_file("err.txt", NULL);
    snprintf(err_text, sizeof err_text, "%s", full_err ? full_err : "");
    free(full_err);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1 && strstr(err_text, "write failed: No space left on device"),
          "a full disk: %s", err_text);
    /* the failed table left the earlier outputs as they were */
    char listing[700];
    snprintf(listing, sizeof listing, "ls '%s' | grep -c tmp", before);
    CHECK(system(listing) != 0, "no temporary left in exported/");
    /* TOML: a typo names file, line and column; a huge document is read at once */
    write_text("typo.toml", "datafile = \"data\"\nepoch = 3\n");
    CHECK(run("training -c typo.toml --check") == 1 && strstr(err_text, "typo.toml:2:1: unknown key 'epoch'"),
          "typo: %s", err_text);
    size_t cap = 2000000, at = 0;
    char *big = malloc(cap);
    at += (size_t)snprintf(big, cap, "datafile = \"data\"\nsizes = [");
    for (int i = 0; i < 160000 && at + 16 < cap; i++) at += (size_t)snprintf(big + at, cap - at, i ? ",%d" : "%d", i);
    at += (size_t)snprintf(big + at, cap - at, "]\n");
    write_file("big.toml", big, at);
    free(big);
    CHECK(run("training -c big.toml --check") == 1 && strstr(err_text, "big.toml:2:1: unknown key 'sizes'"),
          "a 160 000-item line is read and its key refused: %s", err_text);
    /* embeddings files: header only, labels near INT32_MAX, a row longer than the header */
    write_text("header_only.csv", ";cluster;object;right ascension;declination;rest freq;filepath;emb_dim_0\n");
    CHECK(run("similar --index 0 --embeddings header_only.csv") == 1 && strstr(err_text, "no embeddings"),
          "header only: %s", err_text);
    write_text("long_row.csv", ";cluster;object;right ascension;declination;rest freq;filepath;emb_dim_0\n"
                               "0;0;a;N/A;N/A;N/A;a.fits;0.5;0.7\n");
    CHECK(run("outliers -k 1 --embeddings long_row.csv") == 1 &&
              strstr(err_text, "long_row.csv:2: 9 fields, the header has 8"),
          "a long row: %s", err_text);
    /* a native embeddings file whose header promises 1000 rows and which holds 4: refused in
     * one line before the rows are mapped (no SIGBUS) */
    {
        const char hdr[] = "{\"embeddings\":{\"dtype\":\"F32\",\"shape\":[1000,4],\"data_offsets\":[0,16000]}}";
        unsigned char buf[8 + sizeof hdr - 1 + 64] = {0};
        buf[0] = (unsigned char)(sizeof hdr - 1);
        memcpy(buf + 8, hdr, sizeof hdr - 1);
        write_file("lying.safetensors", buf, sizeof buf);
    }
    CHECK(run("similar --index 0 --embeddings lying.safetensors") == 1 && one_line(err_text) &&
              strstr(err_text, "lying.safetensors: truncated: the header promises 16000 bytes"),
          "a truncated embeddings file: %s", err_text);
    /* a labels file that is not one */
    write_text("labels.csv", "file;kind\na;b\n");
    CHECK(run("evaluate --labels labels.csv --embeddings long_row.csv") == 1 && one_line(err_text), "bad labels: %s",
          err_text);
    return am_test_finish();
}
