/* An embeddings file of N × D float32 rows with realistic per-row metadata, written a block at a
 * time (rows_json + rows_offsets, as inference writes a large set; "old": rows_json alone, as
 * files of before the offsets), then read back: the lazy load (metadata left in the file), ten
 * rows decoded, OBJECT compared over every row (similar's exclusions), and with "all" every
 * row's metadata decoded (about 340 bytes a row in memory). For each: time and peak anonymous
 * memory. The file is removed at the end unless "keep" is given, which leaves it for timing the
 * CLI on it (docs/analysis.md, "Speed", has the commands and their numbers).
 *   bench_meta [N] [D] [new|old] [file] [keep|all]   (default 100000 128 new /tmp) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "astromorph/embeddings.h"
#include "astromorph/rng.h"
#include "astromorph/runtime.h"
#include "bench_memory.h"

/* Row i's metadata as inference writes it: four images an OBJECT, a WCS position, a path. */
static int row_json(char *buf, size_t size, int64_t i)
{
    double ra = (double)(i % 36000) / 100.0, dec = (double)(i % 18000) / 100.0 - 90.0;
    return snprintf(buf, size,
                    "{\"object\":\"J%07lld\",\"ra\":\"%.4f\",\"dec\":\"%.4f\",\"restfreq\":\"230538000000.0\","
                    "\"filepath\":\"data/field_%04lld/cube_%08lld.fits\",\"extra\":null,\"ra_deg\":%.17g,"
                    "\"dec_deg\":%.17g,\"radec_from\":\"wcs\",\"hdu\":1}",
                    (long long)(i / 4), ra, dec, (long long)(i / 10000), (long long)i, ra, dec);
}

static void put_le64(FILE *fp, uint64_t v)
{
    unsigned char b[8];
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)(v >> (8 * k));
    fwrite(b, 1, 8, fp);
}

static int write_file(const char *path, int64_t n, int64_t dim, int with_offsets)
{
    char row[512];
    uint64_t text = 2; /* the brackets */
    for (int64_t i = 0; i < n; i++) text += (uint64_t)row_json(row, sizeof row, i) + (i > 0);
    const uint64_t data = (uint64_t)(n * dim) * 4, offs = 8 * (uint64_t)(n + 1);
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    char hdr[1024];
    int len = snprintf(hdr, sizeof hdr,
                       "{\"__metadata__\":{\"format\":\"astromorph.embeddings\",\"version\":\"1\"},"
                       "\"embeddings\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld],\"data_offsets\":[0,%llu]},"
                       "\"rows_json\":{\"dtype\":\"U8\",\"shape\":[%llu],\"data_offsets\":[%llu,%llu]}",
                       (long long)n, (long long)dim, (unsigned long long)data, (unsigned long long)text,
                       (unsigned long long)data, (unsigned long long)(data + text));
    if (with_offsets)
        len +=
            snprintf(hdr + len, sizeof hdr - (size_t)len,
                     ",\"rows_offsets\":{\"dtype\":\"I64\",\"shape\":[%lld],\"data_offsets\":[%llu,%llu]}",
                     (long long)(n + 1), (unsigned long long)(data + text), (unsigned long long)(data + text + offs));
    hdr[len++] = '}';
    while (len % 8) hdr[len++] = ' ';
    put_le64(fp, (uint64_t)len);
    fwrite(hdr, 1, (size_t)len, fp);
    am_rng r;
    am_rng_init(&r, 9, 0);
    float *c = malloc(sizeof(float) * (size_t)(10 * dim)), *x = malloc(sizeof(float) * (size_t)dim);
    for (int64_t i = 0; i < 10 * dim; i++) c[i] = (float)(3 * am_rng_normal(&r));
    for (int64_t i = 0; i < n; i++) {
        const float *ci = c + (int64_t)am_rng_below(&r, 10) * dim;
        for (int64_t d = 0; d < dim; d++) x[d] = ci[d] + (float)am_rng_normal(&r);
        fwrite(x, 4, (size_t)dim, fp);
    }
    free(c), free(x);
    fputc('[', fp);
    for (int64_t i = 0; i < n; i++) {
        if (i > 0) fputc(',', fp);
        fwrite(row, 1, (size_t)row_json(row, sizeof row, i), fp);
    }
    fputc(']', fp);
    uint64_t at = 1;
    for (int64_t i = 0; with_offsets && i <= n; i++) { /* each row's start, then the ']' */
        put_le64(fp, at);
        at += (uint64_t)row_json(row, sizeof row, i) + 1;
        if (i == n - 1) at -= 1;
    }
    return fclose(fp) == 0;
}

static void report(const char *what, double t)
{
    printf("  %-34s %8.3f s   peak anonymous memory %8.1f MB\n", what, t, peak_anon_kb / 1024.0);
    peak_anon_kb = status_kb("RssAnon:");
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 100000, dim = argc > 2 ? atoll(argv[2]) : 128;
    int old = argc > 3 && !strcmp(argv[3], "old");
    const char *path = argc > 4 ? argv[4] : "/tmp/bench_meta.safetensors";
    int keep = argc > 5 && !strcmp(argv[5], "keep"), all = argc > 5 && !strcmp(argv[5], "all");
    if (n < 10 || dim < 1) {
        fprintf(stderr, "usage: bench_meta [N >= 10] [D] [new|old] [file] [keep|all]\n");
        return 2;
    }
    double t = am_monotonic_seconds();
    if (!write_file(path, n, dim, !old)) {
        fprintf(stderr, "bench_meta: cannot write %s\n", path);
        return 1;
    }
    printf("metadata bench: %lld x %lld F32, metadata %s, written in %.1f s\n", (long long)n, (long long)dim,
           old ? "rows_json alone (old)" : "rows_json + rows_offsets", am_monotonic_seconds() - t);
    pthread_t th;
    peak_anon_kb = status_kb("RssAnon:");
    pthread_create(&th, NULL, sampler, NULL);
    am_embeddings e;
    t = am_monotonic_seconds();
    am_status s = am_embeddings_load_opts(&e, path, AM_EMB_LAZY_META);
    if (s == AM_OK) report("lazy load", am_monotonic_seconds() - t);
    t = am_monotonic_seconds();
    for (int64_t k = 0; s == AM_OK && k < 10; k++) {
        am_meta m;
        s = am_embeddings_meta(&e, (k * 7919 * (n / 10 + 1)) % n, &m);
        am_meta_free(&m);
    }
    if (s == AM_OK) report("10 rows decoded", am_monotonic_seconds() - t);
    int64_t same = 0;
    t = am_monotonic_seconds();
    for (int64_t i = 0; s == AM_OK && i < n; i++) {
        int eq = 0;
        s = am_embeddings_object_is(&e, i, "J0000123", &eq);
        same += eq;
    }
    if (s == AM_OK) report("OBJECT compared on every row", am_monotonic_seconds() - t);
    t = am_monotonic_seconds();
    if (s == AM_OK && all && (s = am_embeddings_meta_all(&e)) == AM_OK)
        report("every row decoded", am_monotonic_seconds() - t);
    sampling = 0;
    pthread_join(th, NULL);
    printf("  %lld rows of OBJECT J0000123 (4 expected); peak RSS with the mapped pages %.1f MB\n", (long long)same,
           status_kb("VmHWM:") / 1024.0);
    if (s != AM_OK) fprintf(stderr, "bench_meta: %s\n", am_errmsg());
    am_embeddings_free(&e);
    if (!keep) remove(path);
    return s == AM_OK && same == 4 ? 0 : 1;
}
