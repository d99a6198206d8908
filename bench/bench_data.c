/* Data throughput: reading the bundled sample (cold and cached, with and without read-ahead),
 * D2 copies, and the default augmentation of two views, per image. Usage: bench_data [dir]. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "astromorph/augment.h"
#include "astromorph/dataset.h"
#include "astromorph/runtime.h"

static int read_all(const char *dir, int prefetch, size_t cache, int passes, double *per_image_ms)
{
    am_dataset_options o;
    am_dataset_options_default(&o);
    o.prefetch = prefetch;
    o.cache_bytes = cache;
    am_dataset *ds = NULL;
    if (am_dataset_open(&ds, dir, &o) != AM_OK) return fprintf(stderr, "%s\n", am_errmsg()), 1;
    int64_t n = am_dataset_size(ds);
    int64_t *order = malloc((size_t)n * sizeof *order);
    for (int64_t i = 0; i < n; i++) order[i] = i;
    double t0 = am_monotonic_seconds();
    for (int p = 0; p < passes; p++) {
        am_dataset_prefetch(ds, order, n);
        for (int64_t i = 0; i < n; i++) {
            am_tensor img;
            if (am_dataset_get(ds, i, &img, NULL) != AM_OK) return fprintf(stderr, "%s\n", am_errmsg()), 1;
            am_tensor_free(&img);
        }
    }
    *per_image_ms = 1e3 * (am_monotonic_seconds() - t0) / (double)(n * passes);
    free(order);
    am_dataset_free(ds);
    return 0;
}

static double augment_ms(int64_t c, int64_t h, int64_t w, int reps)
{
    am_tensor img, d2;
    am_tensor_alloc(&img, 3, (int64_t[]){c, h, w});
    for (int64_t i = 0; i < am_tensor_numel(&img); i++) img.data[i] = (float)((i * 2654435761u) % 1000);
    am_augment a;
    am_augment_original(&a);
    double t0 = am_monotonic_seconds();
    for (int r = 0; r < reps; r++) {
        am_d2_copies(&img, 1, &d2);
        for (int view = 0; view < 2; view++) {
            am_tensor v;
            am_augment_view(&a, &d2, &v, 1, 0, (uint64_t)r, (uint64_t)view);
            am_tensor_free(&v);
        }
        am_tensor_free(&d2);
    }
    am_tensor_free(&img);
    return 1e3 * (am_monotonic_seconds() - t0) / reps;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "data/sample";
    double cold, ahead, cached;
    if (read_all(dir, 0, 0, 3, &cold) || read_all(dir, 4, 0, 3, &ahead) ||
        read_all(dir, 0, (size_t)256 << 20, 5, &cached))
        return 1;
    printf("read %s: %.3f ms/image from disk, %.3f ms with read-ahead (no work to overlap), %.4f ms cached\n", dir,
           cold, ahead, cached);
    const int64_t sizes[][3] = {{1, 128, 128}, {3, 128, 128}, {1, 512, 512}, {3, 300, 200}};
    for (int k = 0; k < 4; k++) {
        double ms = augment_ms(sizes[k][0], sizes[k][1], sizes[k][2], k < 2 ? 50 : 10);
        printf("D2 copies + 2 augmented views of a %lldx%lldx%lld image: %.2f ms\n", (long long)sizes[k][0],
               (long long)sizes[k][1], (long long)sizes[k][2], ms);
    }
    return 0;
}
