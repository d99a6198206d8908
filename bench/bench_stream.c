/* Streaming PCA and mini-batch k-means over a memory-mapped embeddings file, with their memory:
 * writes N × D rows (around k Gaussian centres, as float32 or float16) to a safetensors file
 * block by block, maps it, and runs am_pca_fit_rows + am_pca_transform_rows (2 components) and
 * am_kmeans_minibatch on the mapping, then Lloyd's k-means when asked. For each it prints the
 * time and the peak anonymous memory (RssAnon, sampled every 5 ms: the algorithm's own memory;
 * the mapped rows are file pages, shared with the page cache) beside n·dim·4 bytes.
 *   bench_stream [N] [D] [k] [f32|f16] [lloyd] [file]   (default 100000 128 10 f32, /tmp) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "astromorph/kmeans.h"
#include "astromorph/pca.h"
#include "astromorph/rng.h"
#include "astromorph/rows.h"
#include "astromorph/runtime.h"
#include "astromorph/safetensors.h"
#include "bench_memory.h"

/* The file, written a block at a time: an embeddings tensor and nothing else. */
static int write_rows(const char *path, int64_t n, int64_t dim, int k, int half)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    size_t es = half ? 2 : 4;
    char hdr[256];
    int len = snprintf(hdr, sizeof hdr,
                       "{\"__metadata__\":{\"format\":\"astromorph.embeddings\",\"version\":\"1\"},"
                       "\"embeddings\":{\"dtype\":\"%s\",\"shape\":[%lld,%lld],\"data_offsets\":[0,%llu]}}",
                       half ? "F16" : "F32", (long long)n, (long long)dim, (unsigned long long)(n * dim * (int64_t)es));
    while (len % 8) hdr[len++] = ' ';
    uint64_t hl = (uint64_t)len;
    unsigned char l8[8];
    for (int i = 0; i < 8; i++) l8[i] = (unsigned char)(hl >> (8 * i));
    fwrite(l8, 1, 8, fp);
    fwrite(hdr, 1, (size_t)len, fp);
    am_rng r;
    am_rng_init(&r, 9, 0);
    float *c = malloc(sizeof(float) * (size_t)(k * dim)), *row = malloc(sizeof(float) * (size_t)dim);
    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)dim);
    for (int64_t i = 0; i < k * dim; i++) c[i] = (float)(3 * am_rng_normal(&r));
    for (int64_t i = 0; i < n; i++) {
        const float *ci = c + (int64_t)am_rng_below(&r, (uint32_t)k) * dim;
        for (int64_t d = 0; d < dim; d++) row[d] = ci[d] + (float)am_rng_normal(&r);
        if (half) {
            for (int64_t d = 0; d < dim; d++) h[d] = am_float_to_half(row[d]);
            fwrite(h, 2, (size_t)dim, fp);
        } else {
            fwrite(row, 4, (size_t)dim, fp);
        }
    }
    free(c), free(row), free(h);
    return fclose(fp) == 0;
}

static void report(const char *what, double t, int64_t n, int64_t dim)
{
    printf("  %-22s %8.2f s   peak anonymous memory %7.1f MB (%.3f of n·dim·4 = %.1f MB)\n", what, t,
           peak_anon_kb / 1024.0, peak_anon_kb * 1024.0 / (double)(n * dim * 4), n * dim * 4 / 1e6);
    peak_anon_kb = status_kb("RssAnon:");
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 100000, dim = argc > 2 ? atoll(argv[2]) : 128;
    int k = argc > 3 ? atoi(argv[3]) : 10, half = argc > 4 && !strcmp(argv[4], "f16");
    int lloyd = argc > 5 && !strcmp(argv[5], "lloyd");
    const char *path = argc > 6 ? argv[6] : "/tmp/bench_stream.safetensors";
    if (n < 2 || dim < 2 || k < 1 || n < k) {
        fprintf(stderr, "usage: bench_stream [N] [D] [k] [f32|f16] [lloyd|-] [file]\n");
        return 2;
    }
    double t = am_monotonic_seconds();
    if (!write_rows(path, n, dim, k, half)) {
        fprintf(stderr, "bench_stream: cannot write %s\n", path);
        return 1;
    }
    printf("stream bench: %lld x %lld %s (%.1f MB file, written in %.1f s), k %d, %d threads\n", (long long)n,
           (long long)dim, half ? "F16" : "F32", (double)n * dim * (half ? 2 : 4) / 1e6, am_monotonic_seconds() - t, k,
           am_get_threads());
    am_safetensors st;
    if (am_st_read(&st, path) != AM_OK) {
        fprintf(stderr, "bench_stream: %s\n", am_errmsg());
        return 1;
    }
    const am_st_entry *e = am_st_find(&st, "embeddings");
    const void *data = st.data + e->begin;
    am_rows rows = {n, dim, half ? NULL : data, half ? data : NULL};
    pthread_t th;
    peak_anon_kb = status_kb("RssAnon:");
    pthread_create(&th, NULL, sampler, NULL);
    am_pca p;
    float *y = malloc(sizeof(float) * (size_t)n * 2);
    t = am_monotonic_seconds();
    am_status s = am_pca_fit_rows(&rows, 2, &p);
    if (s == AM_OK) s = am_pca_transform_rows(&p, &rows, y);
    if (s == AM_OK) report("PCA fit + transform", am_monotonic_seconds() - t, n, dim);
    am_pca_free(&p);
    am_kmeans_options o;
    am_kmeans_options_default(&o);
    o.k = k;
    am_kmeans_result km;
    t = am_monotonic_seconds();
    if (s == AM_OK && (s = am_kmeans_minibatch(&rows, &o, &km)) == AM_OK) {
        report("k-means mini-batch", am_monotonic_seconds() - t, n, dim);
        printf("    inertia %.8g, %d batches of %lld\n", km.inertia, km.iterations, (long long)o.batch);
        am_kmeans_result_free(&km);
    }
    o.algorithm = AM_KMEANS_LLOYD;
    t = am_monotonic_seconds();
    if (s == AM_OK && lloyd && (s = am_kmeans_rows(&rows, &o, &km)) == AM_OK) {
        report("k-means Lloyd", am_monotonic_seconds() - t, n, dim);
        printf("    inertia %.8g, %d iterations (best of %d restarts)\n", km.inertia, km.iterations, o.restarts);
        am_kmeans_result_free(&km);
    }
    sampling = 0;
    pthread_join(th, NULL);
    printf("  peak RSS with the mapped file's pages: %.1f MB\n", status_kb("VmHWM:") / 1024.0);
    if (s != AM_OK) fprintf(stderr, "bench_stream: %s\n", am_errmsg());
    free(y);
    am_st_free(&st);
    remove(path);
    return s == AM_OK ? 0 : 1;
}
