/* TensorBoard event files, checked by an independent decoder: the TFRecord framing and both
 * CRCs are verified here with a bit-by-bit CRC-32C, and every Event payload is decoded by
 * protoc from a minimal event.proto (tests/data/tfevents). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "astromorph/tfevents.h"
#include "test_util.h"
#include "io/crc32c.h"

/* Bitwise CRC-32C, written apart from the library's table version. */
static uint32_t ref_crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = ~0u;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

static uint32_t ref_masked(const uint8_t *p, size_t n)
{
    uint32_t c = ref_crc32c(p, n);
    return ((c >> 15) | (c << 17)) + 0xA282EAD8u;
}

static uint64_t le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

typedef struct {
    uint8_t *data;
    size_t len;
} record;

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, f);
    b[*n] = 0;
    fclose(f);
    return b;
}

/* Splits a TFRecord file; returns the number of records, or -1 at the first bad frame or CRC. */
static int parse_records(const uint8_t *b, size_t n, record *out, int max)
{
    size_t off = 0;
    int k = 0;
    while (off < n) {
        if (n - off < 12 || k == max) return -1;
        uint64_t len = le(b + off, 8);
        if ((uint32_t)le(b + off + 8, 4) != ref_masked(b + off, 8)) return -1;
        if (n - off - 12 < len + 4) return -1;
        const uint8_t *d = b + off + 12;
        if ((uint32_t)le(d + len, 4) != ref_masked(d, (size_t)len)) return -1;
        out[k].data = (uint8_t *)d;
        out[k].len = (size_t)len;
        k++;
        off += 12 + (size_t)len + 4;
    }
    return k;
}

/* protoc's text form of one payload, or NULL when protoc fails. */
static char *decode(const record *r, const char *dir)
{
    char in[512], out[512], cmd[2048];
    snprintf(in, sizeof in, "%s/payload.bin", dir);
    snprintf(out, sizeof out, "%s/payload.txt", dir);
    FILE *f = fopen(in, "wb");
    if (!f) return NULL;
    fwrite(r->data, 1, r->len, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "protoc --decode=tensorflow.Event --proto_path=%s event.proto < %s > %s",
             am_test_path("tests/data/tfevents"), in, out);
    if (system(cmd) != 0) return NULL;
    size_t n;
    return (char *)slurp(out, &n);
}

/* Value after `key: ` in protoc's text output; quoted strings are copied without quotes. */
static int field(const char *text, const char *key, char *val, size_t len)
{
    char pat[64];
    snprintf(pat, sizeof pat, "%s: ", key);
    const char *p = strstr(text, pat);
    if (!p) return 0;
    p += strlen(pat);
    int quoted = *p == '"';
    if (quoted) p++;
    size_t i = 0;
    while (p[i] && p[i] != '\n' && !(quoted && p[i] == '"') && i + 1 < len) {
        val[i] = p[i];
        i++;
    }
    val[i] = '\0';
    return 1;
}

typedef struct {
    const char *tag;
    int64_t step;
    double value;
    double wall;
} scalar;

static void test_crc(void)
{
    CHECK(am_crc32c("123456789", 9) == 0xE3069283u, "CRC-32C check value: %08x", am_crc32c("123456789", 9));
    uint8_t buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t n = 0; n <= 1000; n += 97)
        CHECK(am_crc32c_masked(buf, n) == ref_masked(buf, n), "masked CRC of %zu bytes", n);
}

static void test_events(void)
{
    if (system("protoc --version > /dev/null 2>&1") != 0) {
        CHECK(0, "protoc not found: run scripts/install-deps (it installs protobuf-compiler)");
        return;
    }
    char dir[512];
    snprintf(dir, sizeof dir, "%s/runs/20261127_1046", am_test_tmpdir());
    am_tfevents *w = NULL;
    CHECK_OK(am_tfevents_open(&w, dir));
    if (!w) return;
    char path[1024];
    snprintf(path, sizeof path, "%s", am_tfevents_path(w));
    char host[256] = "";
    gethostname(host, sizeof host);
    CHECK(strstr(path, "/events.out.tfevents.") != NULL, "file name %s", path);
    CHECK(strstr(strrchr(path, '/'), host) != NULL, "host name %s missing from %s", host, path);

    const scalar want[] = {
        {"Batch loss", 0, 1.75, 1800000000.25},  {"Batch loss", 1, 0.1, 1800000001.5},
        {"Batch loss", 2, 0.0625, 1800000002.0}, {"Train loss", 0, 0.640625, 1800000003.0},
        {"Test loss", 0, 0.7, 1800000004.0},     {"Batch loss", 123456789012LL, -2.5e-7, 1800000005.0},
    };
    const int nw = (int)(sizeof want / sizeof want[0]);
    record recs[16];
    for (int i = 0; i < nw; i++) {
        CHECK_OK(am_tfevents_scalar_at(w, want[i].tag, want[i].step, want[i].value, want[i].wall));
        /* Flushed per record: a reader sees every record while the writer is still open. */
        size_t n;
        uint8_t *b = slurp(path, &n);
        CHECK(b && parse_records(b, n, recs, 16) == i + 2, "after scalar %d the open file has %d records", i,
              b ? parse_records(b, n, recs, 16) : -1);
        free(b);
    }
    CHECK_OK(am_tfevents_scalar(w, "Train loss", 1, 0.5));
    CHECK_FAILS(am_tfevents_scalar(w, "", 1, 0.5), AM_ERR_VALUE, "tag");
    CHECK_OK(am_tfevents_close(w));

    size_t n;
    uint8_t *b = slurp(path, &n);
    int nr = b ? parse_records(b, n, recs, 16) : -1;
    CHECK(nr == nw + 2, "%d records, expected %d", nr, nw + 2);
    if (nr == nw + 2) {
        char v[256];
        char *t = decode(&recs[0], am_test_tmpdir());
        CHECK(t != NULL, "protoc could not decode the first record");
        if (t) {
            CHECK(field(t, "file_version", v, sizeof v) && strcmp(v, "brain.Event:2") == 0, "first record: %s", t);
            CHECK(field(t, "wall_time", v, sizeof v) && strtod(v, NULL) > 1.6e9, "first record wall time: %s", t);
            CHECK(!strstr(t, "summary"), "first record has a summary: %s", t);
        }
        free(t);
        for (int i = 0; i <= nw; i++) {
            scalar s = i < nw ? want[i] : (scalar){"Train loss", 1, 0.5, 0};
            t = decode(&recs[i + 1], am_test_tmpdir());
            CHECK(t != NULL, "protoc could not decode record %d", i + 1);
            if (!t) continue;
            CHECK(field(t, "tag", v, sizeof v) && strcmp(v, s.tag) == 0, "record %d tag: %s", i + 1, t);
            /* proto3 leaves a zero step out. */
            int64_t step = field(t, "step", v, sizeof v) ? strtoll(v, NULL, 10) : 0;
            CHECK(step == s.step, "record %d step %lld, want %lld", i + 1, (long long)step, (long long)s.step);
            CHECK(field(t, "simple_value", v, sizeof v) && (float)strtod(v, NULL) == (float)s.value,
                  "record %d value %s, want %g", i + 1, v, s.value);
            double wall = field(t, "wall_time", v, sizeof v) ? strtod(v, NULL) : 0;
            if (i < nw) CHECK(wall == s.wall, "record %d wall time %.17g, want %.17g", i + 1, wall, s.wall);
            else CHECK(fabs(wall - (double)time(NULL)) < 600, "record %d wall time %.17g is not now", i + 1, wall);
            free(t);
        }
        /* The checker itself must notice a damaged record. */
        b[n - 1] ^= 0x40;
        CHECK(parse_records(b, n, recs, 16) == -1, "a flipped bit in the last CRC went unnoticed");
    }
    free(b);

    /* Two writers in the same second get two files. */
    am_tfevents *w1 = NULL, *w2 = NULL;
    CHECK_OK(am_tfevents_open(&w1, dir));
    CHECK_OK(am_tfevents_open(&w2, dir));
    if (w1 && w2) CHECK(strcmp(am_tfevents_path(w1), am_tfevents_path(w2)) != 0, "both writers use one file");
    CHECK_OK(am_tfevents_close(w1));
    CHECK_OK(am_tfevents_close(w2));
}

static void test_errors(void)
{
    char file[512], sub[600];
    snprintf(file, sizeof file, "%s/plainfile", am_test_tmpdir());
    FILE *f = fopen(file, "w");
    if (f) fclose(f);
    snprintf(sub, sizeof sub, "%s/run", file);
    am_tfevents *w = (am_tfevents *)1;
    CHECK_FAILS(am_tfevents_open(&w, sub), AM_ERR_IO, "plainfile");
    CHECK(w == NULL, "failed open must leave NULL");
    CHECK_FAILS(am_tfevents_open(&w, ""), AM_ERR_VALUE, NULL);
    CHECK_OK(am_tfevents_close(NULL));
}

int main(void)
{
    test_crc();
    test_events();
    test_errors();
    return am_test_finish();
}
