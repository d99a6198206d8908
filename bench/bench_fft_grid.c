/* The FFT t-SNE repulsion's cost by grid size: for each box count b from 50 to 256 that FFTW
 * transforms with its fast codelets (2^a 3^b 5^c), the best of 7 calls of tsne_fft_repulsion
 * at exactly b boxes per axis (3 nodes per box: 6b × 6b transforms) on 20 000 points spread
 * over a b-unit square, one thread. A count is "dominated" when a larger one is faster: a map
 * needing it does better on the larger, finer grid. tsne_fft.c's table of box counts is the
 * non-dominated ones of this program's run (docs/analysis.md).
 *   bench_fft_grid [points] */
#include <stdio.h>
#include <stdlib.h>

#include "analysis/tsne_fft.h"
#include "astromorph/runtime.h"
#include "astromorph/tsne.h"

int main(int argc, char **argv)
{
    if (!am_tsne_have_fft()) {
        fprintf(stderr, "bench_fft_grid: this build has no FFTW\n");
        return 1;
    }
    const int64_t n = argc > 1 ? atoll(argv[1]) : 20000;
    int bs[64], nb = 0;
    double cost[64];
    double *y = malloc((size_t)n * 2 * sizeof *y), *neg = malloc((size_t)n * 2 * sizeof *neg);
    if (!y || !neg || n < 4) return 1;
    for (int b = 50; b <= 256 && nb < 64; b = tsne_fft_smooth_up(b + 1)) {
        uint64_t s = 12345;
        for (int64_t i = 0; i < 2 * n; i++) { /* uniform over the square, a fixed LCG */
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            y[i] = (double)(s >> 11) / 9007199254740992.0 * (b - 0.01);
        }
        tsne_fft f;
        tsne_fft_init(&f);
        f.min_boxes = f.max_boxes = b;
        double best = 1e30, z = 0;
        for (int r = 0; r < 7; r++) {
            double t0 = am_monotonic_seconds();
            if (tsne_fft_repulsion(&f, y, n, neg, &z) != AM_OK) {
                fprintf(stderr, "bench_fft_grid: %s\n", am_errmsg());
                return 1;
            }
            double t = am_monotonic_seconds() - t0;
            if (t < best) best = t;
        }
        tsne_fft_free(&f);
        bs[nb] = b, cost[nb++] = best * 1e3;
    }
    printf("FFT t-SNE repulsion by grid, %lld points, best of 7 (ms):\n", (long long)n);
    for (int i = 0; i < nb; i++) {
        int dominated = 0;
        for (int j = i + 1; j < nb; j++) dominated |= cost[j] < cost[i];
        printf("boxes %3d  grid %4d  %8.2f%s\n", bs[i], 6 * bs[i], cost[i], dominated ? "  dominated" : "");
    }
    free(y), free(neg);
    return 0;
}
