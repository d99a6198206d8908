/* The map figure at scale: N points (default 10^6) in 20 Gaussian clusters drawn as the
 * density image with 60 thumbnails of a spread sample (placeholders: no image source), timed.
 *   bench_map [N] [file.png] */
#include <stdio.h>
#include <stdlib.h>

#include "astromorph/figure.h"
#include "astromorph/rng.h"
#include "astromorph/runtime.h"

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 1000000;
    const char *path = argc > 2 ? argv[2] : "/tmp/bench_map.png";
    float *xy = malloc(sizeof(float) * 2 * (size_t)n);
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)n);
    am_embeddings e;
    if (n < 1 || !xy || !lab || am_embeddings_alloc(&e, n, 1) != AM_OK) {
        fprintf(stderr, "usage: bench_map [N >= 1] [file.png] (or out of memory)\n");
        return 2;
    }
    am_rng r;
    am_rng_init(&r, 5, 0);
    double c[20][2];
    for (int j = 0; j < 20; j++) c[j][0] = 20 * am_rng_normal(&r), c[j][1] = 20 * am_rng_normal(&r);
    for (int64_t i = 0; i < n; i++) {
        lab[i] = (int32_t)am_rng_below(&r, 20);
        xy[2 * i] = (float)(c[lab[i]][0] + 3 * am_rng_normal(&r));
        xy[2 * i + 1] = (float)(c[lab[i]][1] + 3 * am_rng_normal(&r));
    }
    am_fig_panel p = {xy, 2, 0, 1, "t-SNE 1", "t-SNE 2", "map at scale"};
    double t = am_monotonic_seconds();
    am_status s = am_figure_map(path, &e, &p, 1, lab, 60, NULL);
    t = am_monotonic_seconds() - t;
    if (s != AM_OK) fprintf(stderr, "bench_map: %s\n", am_errmsg());
    else printf("map of %lld points with 60 thumbnails: %.2f s -> %s\n", (long long)n, t, path);
    am_embeddings_free(&e);
    free(xy), free(lab);
    return s == AM_OK ? 0 : 1;
}
