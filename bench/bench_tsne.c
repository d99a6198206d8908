/* t-SNE speed on N × D embeddings (default 20 000 × 512, the target: within 2 minutes
 * on 2 cores): 20 Gaussian clusters, default options (perplexity 30, 1000 iterations, theta
 * 0.5) with the repulsion METHOD (auto, bh or fft; default auto). Prints the time of the exact
 * kNN graph (the affinity step's main cost) and of the whole run, and the 10-NN accuracy of the
 * clusters in the map. bench_tsne_scale compares the methods with scikit-learn at scale.
 *   bench_tsne [N] [D] [iterations] [METHOD] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "astromorph/rng.h"
#include "astromorph/runtime.h"
#include "astromorph/similarity.h"
#include "astromorph/tensor.h"
#include "astromorph/tsne.h"

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 20000, dim = argc > 2 ? atoll(argv[2]) : 512;
    int iters = argc > 3 ? atoi(argv[3]) : 1000;
    const int ncl = 20;
    am_tsne_options o;
    am_tsne_options_default(&o);
    if (n < 100 || dim < 2 || iters < 1 || (argc > 4 && am_tsne_method_parse(argv[4], "METHOD", &o.method))) {
        fprintf(stderr, "usage: bench_tsne [N >= 100] [D] [iterations] [auto|bh|fft]\n");
        return 2;
    }
    float *x = am_malloc((size_t)n * (size_t)dim * sizeof *x), *c = malloc((size_t)ncl * (size_t)dim * sizeof *c);
    float *y = malloc((size_t)n * 2 * sizeof *y);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    int64_t *idx = malloc((size_t)n * 90 * sizeof *idx);
    float *sc = malloc((size_t)n * 90 * sizeof *sc);
    if (!x || !c || !y || !lab || !idx || !sc) {
        fprintf(stderr, "bench_tsne: out of memory\n");
        return 1;
    }
    am_rng r;
    am_rng_init(&r, 2, 0);
    for (int64_t i = 0; i < (int64_t)ncl * dim; i++) c[i] = (float)(0.5 * am_rng_normal(&r));
    for (int64_t i = 0; i < n; i++) {
        lab[i] = (int32_t)(i % ncl);
        for (int64_t d = 0; d < dim; d++) x[i * dim + d] = c[lab[i] * dim + d] + (float)am_rng_normal(&r);
    }
    printf("t-SNE bench: %lld x %lld, %d clusters, %d iterations, method %s, %d threads\n", (long long)n,
           (long long)dim, ncl, iters, argc > 4 ? argv[4] : "auto", am_get_threads());
    double t0 = am_monotonic_seconds();
    if (am_knn_all(x, n, dim, AM_METRIC_EUCLIDEAN, 90, idx, sc) != AM_OK) {
        fprintf(stderr, "bench_tsne: %s\n", am_errmsg());
        return 1;
    }
    double t1 = am_monotonic_seconds();
    printf("exact 90-NN graph (the affinity step's main cost): %.1f s\n", t1 - t0);
    o.iterations = iters;
    o.verbose = 0;
    double kl;
    double t2 = am_monotonic_seconds();
    if (am_tsne(x, n, dim, &o, y, &kl) != AM_OK) {
        fprintf(stderr, "bench_tsne: %s\n", am_errmsg());
        return 1;
    }
    double t3 = am_monotonic_seconds();
    /* Cluster 10-NN accuracy in the map, as a check that the run was meaningful. */
    int64_t *i10 = malloc((size_t)n * 10 * sizeof *i10);
    float *s10 = malloc((size_t)n * 10 * sizeof *s10);
    double acc = -1;
    if (i10 && s10 && am_knn_all(y, n, 2, AM_METRIC_EUCLIDEAN, 10, i10, s10) == AM_OK) {
        int64_t good = 0;
        for (int64_t i = 0; i < n; i++) {
            int votes[20] = {0}, best = 0;
            for (int j = 0; j < 10; j++) votes[lab[i10[i * 10 + j]]]++;
            for (int q = 1; q < ncl; q++)
                if (votes[q] > votes[best]) best = q;
            good += best == lab[i];
        }
        acc = (double)good / n;
    }
    printf("t-SNE total (kNN, affinities, %d iterations): %.1f s; KL %.3f; 10-NN cluster accuracy in the map %.3f\n",
           iters, t3 - t2, kl, acc);
    free(i10);
    free(s10);
    am_free(x);
    free(c);
    free(y);
    free(lab);
    free(idx);
    free(sc);
    return 0;
}
