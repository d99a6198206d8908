#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int am_test_failures;
int am_test_checks;
static char tmpdir[256];

void am_test_check_fails(am_status got, am_status code, const char *needle, const char *what, const char *file,
                         int line)
{
    am_test_checks++;
    const char *msg = am_errmsg();
    if (got != code || (needle && !strstr(msg, needle))) {
        am_test_failures++;
        fprintf(stderr, "FAIL %s:%d: %s -> %s (%s), expected %s with '%s'\n", file, line, what, am_status_name(got),
                msg, am_status_name(code), needle ? needle : "");
    }
}

int am_test_close(const char *what, const float *got, const float *want, int64_t n, double rtol, double floor_)
{
    am_test_checks++;
    double scale = floor_, worst = -1;
    int64_t worst_i = -1;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)want[i]));
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (isnan(got[i]) != isnan(want[i])) d = INFINITY;
        if (d > worst || worst_i < 0) {
            worst = d;
            worst_i = i;
        }
    }
    if (n > 0 && !(worst <= rtol * scale)) {
        am_test_failures++;
        fprintf(stderr, "FAIL %s: worst element [%lld] got %.8g want %.8g (|diff| %.3g > %.3g = %.1g x scale %.3g)\n",
                what, (long long)worst_i, got[worst_i], want[worst_i], worst, rtol * scale, rtol, scale);
        return 0;
    }
    return 1;
}

int am_test_close_tensor(const char *what, const am_tensor *got, const am_tensor *want, double rtol)
{
    char a[128], b[128];
    if (am_tensor_numel(got) != am_tensor_numel(want)) {
        am_test_checks++;
        am_test_failures++;
        fprintf(stderr, "FAIL %s: shape %s, want %s\n", what, am_tensor_shape_str(got, a, sizeof a),
                am_tensor_shape_str(want, b, sizeof b));
        return 0;
    }
    return am_test_close(what, got->data, want->data, am_tensor_numel(want), rtol, 1e-6);
}

const char *am_test_path(const char *relative)
{
    static char bufs[8][1024];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, 1024, "%s/%s", AM_SOURCE_DIR, relative);
    return b;
}

const char *am_test_tmpdir(void)
{
    if (!tmpdir[0]) {
        /* No "." before the random part: CFITSIO reads any path with ".Z" in it as Unix-compressed. */
        snprintf(tmpdir, sizeof tmpdir, "/tmp/amtest-XXXXXX");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return tmpdir;
}

char *am_test_slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    size_t cap = 4096, n = 0, got;
    char *s = malloc(cap);
    while (s && (got = fread(s + n, 1, cap - n - 1, fp)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *t = realloc(s, cap *= 2);
            if (!t) free(s);
            s = t;
        }
    }
    fclose(fp);
    if (s) s[n] = '\0';
    if (len) *len = s ? n : 0;
    return s;
}

void am_test_fixture(am_safetensors *st, const char *name)
{
    char rel[512];
    snprintf(rel, sizeof rel, "tests/fixtures/%s.safetensors", name);
    if (am_st_read(st, am_test_path(rel)) != AM_OK) {
        fprintf(stderr, "FAIL cannot load fixture: %s\n", am_errmsg());
        exit(1);
    }
}

void am_test_fixture_tensor(const am_safetensors *st, const char *name, am_tensor *out)
{
    if (am_st_get_f32(st, name, out) != AM_OK) {
        fprintf(stderr, "FAIL fixture tensor: %s\n", am_errmsg());
        exit(1);
    }
}

int am_test_skip(const char *why)
{
    printf("SKIPPED: %s\n", why);
    int rc = am_test_finish();
    return rc ? rc : AM_TEST_SKIP;
}

int am_test_finish(void)
{
    if (tmpdir[0] && !getenv("AM_KEEP_TMP")) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    }
    printf("%d checks, %d failures\n", am_test_checks, am_test_failures);
    return am_test_failures ? 1 : 0;
}
