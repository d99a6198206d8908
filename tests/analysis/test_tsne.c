/* t-SNE keeps well-separated Gaussian clusters apart (10-NN accuracy in the map), gives the same
 * map for the same seed at 1 and 2 threads, and works in 3-D. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/similarity.h"
#include "astromorph/tsne.h"
#include "map_quality.h"
#include "synth.h"
#include "test_util.h"

int main(void)
{
    const int64_t n = 600, dim = 50;
    const int ncl = 10;
    int32_t *lab = malloc(n * sizeof *lab);
    float *x = synth_clusters(n, dim, ncl, 2.0, 13, lab);
    am_tsne_options o;
    am_tsne_options_default(&o);
    CHECK(o.dims == 2 && o.perplexity == 30 && o.exaggeration == 12 && o.exaggeration_iters == 250, "defaults");
    o.seed = 3;
    float *y = malloc(n * 3 * sizeof *y), *y2 = malloc(n * 3 * sizeof *y2);
    double kl;
    CHECK_OK(am_tsne(x, n, dim, &o, y, &kl));
    double acc = map_knn_accuracy(y, n, 2, lab, ncl);
    CHECK(acc > 0.95, "10-NN accuracy in the t-SNE map %.3f", acc);
    CHECK(isfinite(kl) && kl > 0 && kl < 3, "final KL divergence %g", kl);
    /* A random map scores at chance. */
    am_rng r;
    am_rng_init(&r, 77, 0);
    for (int64_t i = 0; i < 2 * n; i++) y2[i] = (float)am_rng_normal(&r);
    double racc = map_knn_accuracy(y2, n, 2, lab, ncl);
    CHECK(racc < 0.5, "random map accuracy %.3f", racc);
    /* The map spreads out (the PCA start is at 1e-4 scale). */
    double ext = 0;
    for (int64_t i = 0; i < 2 * n; i++) ext = fmax(ext, fabs(y[i]));
    CHECK(ext > 5, "map extent %g", ext);

    /* Same seed → bit-identical map, with 1 thread and with 2; random initialisation too. */
    const int64_t m = 400;
    o.iterations = 300;
    o.pca_init = 0;
    int same = tsne_thread_invariant(x, m, dim, &o, y, y2);
    CHECK(same == 1, "same seed, 2 threads vs 1 thread: %s", same < 0 ? am_errmsg() : "maps differ");
    o.seed = 4;
    CHECK_OK(am_tsne(x, m, dim, &o, y2, NULL));
    CHECK(memcmp(y, y2, 2 * m * sizeof *y) != 0, "another seed (random start) gave the same map");
    o.pca_init = 1; /* the PCA start (BLAS and LAPACK) is thread-count independent too */
    same = tsne_thread_invariant(x, m, dim, &o, y, y2);
    CHECK(same == 1, "PCA start, 2 threads vs 1 thread: %s", same < 0 ? am_errmsg() : "maps differ");

    /* 3-D, fewer points. */
    am_tsne_options_default(&o);
    o.dims = 3;
    o.iterations = 500;
    CHECK_OK(am_tsne(x, 300, dim, &o, y, &kl));
    acc = map_knn_accuracy(y, 300, 3, lab, ncl);
    CHECK(acc > 0.95, "3-D 10-NN accuracy %.3f", acc);
    /* Tiny input: perplexity is lowered rather than failing. */
    o.dims = 2;
    CHECK_OK(am_tsne(x, 8, dim, &o, y, NULL));
    CHECK(isfinite(y[0]) && isfinite(y[15]), "tiny map not finite");
    CHECK_FAILS(am_tsne(x, 3, dim, &o, y, NULL), AM_ERR_VALUE, "at least 4");
    o.dims = 4;
    CHECK_FAILS(am_tsne(x, n, dim, &o, y, NULL), AM_ERR_VALUE, "dims = 4");
    free(y);
    free(y2);
    free(lab);
    am_free(x);
    return am_test_finish();
}
