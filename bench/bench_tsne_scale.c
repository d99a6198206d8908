/* One t-SNE run on embeddings from a file, for bench/tsne_scale (which compares the methods and
 * scikit-learn side by side): reads N × D raw float32 (row-major), runs am_tsne with default
 * options and the given repulsion method, writes the N × 2 map as raw float32 and prints one
 * line "time SECONDS kl KL" (the t-SNE call alone, not the file reading) and one line
 * "phases knn S affinities S init S attraction S repulsion S update S" (am_tsne_timing).
 *   bench_tsne_scale X.f32 N D auto|bh|fft Y.f32 [iterations] [learning rate, 0 = automatic] */
#include <stdio.h>
#include <stdlib.h>

#include "astromorph/runtime.h"
#include "astromorph/tensor.h"
#include "astromorph/tsne.h"

int main(int argc, char **argv)
{
    am_tsne_options o;
    am_tsne_options_default(&o);
    int64_t n = argc > 3 ? atoll(argv[2]) : 0, dim = argc > 3 ? atoll(argv[3]) : 0;
    if (argc < 6 || n < 4 || dim < 1 || am_tsne_method_parse(argv[4], "method", &o.method) != AM_OK) {
        fprintf(stderr, "usage: bench_tsne_scale X.f32 N D auto|bh|fft Y.f32 [iterations] [learning rate]\n");
        return 2;
    }
    am_tsne_timing tm;
    o.timing = &tm;
    if (argc > 6) o.iterations = atoi(argv[6]);
    if (argc > 7) o.learning_rate = atof(argv[7]);
    size_t count = (size_t)n * (size_t)dim;
    float *x = am_malloc(count * sizeof *x), *y = malloc((size_t)n * 2 * sizeof *y);
    FILE *f = fopen(argv[1], "rb");
    if (!x || !y || !f || fread(x, sizeof *x, count, f) != count) {
        fprintf(stderr, "bench_tsne_scale: %s: cannot read %lld x %lld float32\n", argv[1], (long long)n,
                (long long)dim);
        return 1;
    }
    fclose(f);
    double kl = 0, t0 = am_monotonic_seconds();
    if (am_tsne(x, n, dim, &o, y, &kl) != AM_OK) {
        fprintf(stderr, "bench_tsne_scale: %s\n", am_errmsg());
        return 1;
    }
    double t1 = am_monotonic_seconds();
    am_atomic_file af;
    am_status s = am_atomic_open(&af, argv[5], 1);
    if (s == AM_OK) {
        if (fwrite(y, sizeof *y, (size_t)n * 2, af.fp) == (size_t)n * 2) s = am_atomic_commit(&af);
        else am_atomic_abort(&af), s = am_error(AM_ERR_IO, "%s: write failed", argv[5]);
    }
    if (s != AM_OK) {
        fprintf(stderr, "bench_tsne_scale: %s\n", am_errmsg());
        return 1;
    }
    printf("time %.3f kl %.5f\n", t1 - t0, kl);
    printf("phases knn %.3f affinities %.3f init %.3f attraction %.3f repulsion %.3f update %.3f\n", tm.knn,
           tm.affinities, tm.init, tm.attraction, tm.repulsion, tm.update);
    am_free(x);
    free(y);
    return 0;
}
