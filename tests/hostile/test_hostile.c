/* The hostile-input campaign (issue 13), kept: each input is generated here, run through the
 * program ($AM_CLI) and must end with the documented exit status and a one-line message naming
 * the culprit — never a crash, a hang or a changed earlier output. Runs in the Release and the
 * sanitizer builds. docs/reliability.md lists the defects these inputs found. */
#include <fitsio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

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

int main(void)
{
    cli = getenv("AM_CLI");
    CHECK(cli != NULL, "AM_CLI is not set (ctest sets it to the astromorph program)");
    if (!cli) return am_test_finish();
    snprintf(dir, sizeof dir, "%s", am_test_tmpdir());
    char p[700];
    snprintf(p, sizeof p, "%s/data", dir);
    mkdir(p, 0755);
    for (int i = 0; i < 6; i++) {
        char name[64];
        snprintf(name, sizeof name, "data/g%d.fits", i);
        good_image(name, 40);
    }
    corrupt_tile("data/bad.fits.fz");
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
    /* earlier outputs stay as they were when a later run fails */
    char before[700];
    snprintf(before, sizeof before, "%s/exported", dir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' outliers -k 2 >/dev/full 2>err.txt", dir, cli);
    int rc = system(cmd);
    snprintf(p, sizeof p, "%s/err.txt", dir);
    FILE *ef = fopen(p, "rb");
    size_t en = ef ? fread(err_text, 1, sizeof err_text - 1, ef) : 0;
    if (ef) fclose(ef);
    err_text[en] = 0;
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
    CHECK(run("outliers -k 1 --embeddings long_row.csv") == 1 && strstr(err_text, "long_row.csv:2: 9 fields, the header has 8"),
          "a long row: %s", err_text);
    /* a labels file that is not one */
    write_text("labels.csv", "file;kind\na;b\n");
    CHECK(run("evaluate --labels labels.csv --embeddings long_row.csv") == 1 && one_line(err_text),
          "bad labels: %s", err_text);
    return am_test_finish();
}
