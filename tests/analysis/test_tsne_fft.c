/* The FFT-interpolated t-SNE repulsion (src/analysis/tsne_fft.c) against the exact O(n²) sums,
 * its convergence with the box width, and the whole FFT t-SNE against Barnes–Hut: the same
 * cluster accuracy and 10-NN preservation, bit-identical maps at 1 and 2 threads. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/tsne_fft.h"
#include "astromorph/runtime.h"
#include "astromorph/tsne.h"
#include "map_quality.h"
#include "synth.h"
#include "test_util.h"

/* neg[i] = Σ_j q²(y_i - y_j), *z = Σ_{i≠j} q, q = 1/(1 + d²): what the FFT approximates. */
static void exact_repulsion(const double *y, int64_t n, double *neg, double *z)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double fx = 0, fy = 0;
        for (int64_t j = 0; j < n; j++) {
            if (j == i) continue;
            double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1], q = 1.0 / (1.0 + dx * dx + dy * dy);
            s += q;
            fx += q * q * dx;
            fy += q * q * dy;
        }
        neg[2 * i] = fx;
        neg[2 * i + 1] = fy;
    }
    *z = s;
}

/* Relative errors of the FFT repulsion: Z, and the forces in the l2 norm over all points. */
static void fft_errors(const double *y, int64_t n, const double *neg_ref, double z_ref, double box_width, int p,
                       double *ez, double *ef)
{
    tsne_fft f;
    tsne_fft_init(&f);
    f.box_width = box_width;
    f.p = p;
    f.max_boxes = 1024;
    double *neg = malloc((size_t)n * 2 * sizeof *neg), z = 0;
    CHECK_OK(tsne_fft_repulsion(&f, y, n, neg, &z));
    double e2 = 0, r2 = 0;
    for (int64_t i = 0; i < 2 * n; i++) {
        e2 += (neg[i] - neg_ref[i]) * (neg[i] - neg_ref[i]);
        r2 += neg_ref[i] * neg_ref[i];
    }
    *ez = fabs(z - z_ref) / z_ref;
    *ef = sqrt(e2 / r2);
    free(neg);
    tsne_fft_free(&f);
}

int main(void)
{
    am_tsne_options o;
    am_tsne_options_default(&o);
    CHECK(o.method == AM_TSNE_AUTO, "default method %d", (int)o.method);
    am_tsne_method m;
    CHECK_OK(am_tsne_method_parse("fft", "--tsne-method", &m));
    CHECK(m == AM_TSNE_FFT, "fft parsed as %d", (int)m);
    CHECK_OK(am_tsne_method_parse("bh", "--tsne-method", &m));
    CHECK(m == AM_TSNE_BARNES_HUT, "bh parsed as %d", (int)m);
    CHECK_FAILS(am_tsne_method_parse("fast", "--tsne-method", &m), AM_ERR_VALUE, "--tsne-method: 'fast'");
    const int64_t n = 1000, dim = 50;
    const int ncl = 10;
    int32_t *lab = malloc(n * sizeof *lab);
    float *x = synth_clusters(n, dim, ncl, 2.0, 21, lab);
    float *y = malloc(n * 3 * sizeof *y), *y2 = malloc(n * 3 * sizeof *y2);
    if (!am_tsne_have_fft()) {
        o.method = AM_TSNE_FFT;
        CHECK_FAILS(am_tsne(x, n, dim, &o, y, NULL), AM_ERR_VALUE, "needs FFTW");
        free(y), free(y2), free(lab), am_free(x);
        return am_test_skip("this build has no FFTW (libfftw3-dev): the FFT method is not built");
    }

    /* A map like a late t-SNE one: 10 blobs (sd 2) over a 60-unit square, 1500 points. */
    const int64_t nm = 1500;
    double *ym = malloc(nm * 2 * sizeof *ym), *ref = malloc(nm * 2 * sizeof *ref), zref;
    am_rng r;
    am_rng_init(&r, 9, 0);
    double cen[10][2];
    for (int c = 0; c < 10; c++) cen[c][0] = 60 * am_rng_uniform(&r) - 30, cen[c][1] = 60 * am_rng_uniform(&r) - 30;
    for (int64_t i = 0; i < nm; i++)
        for (int d = 0; d < 2; d++) ym[2 * i + d] = cen[i % 10][d] + 2 * am_rng_normal(&r);
    exact_repulsion(ym, nm, ref, &zref);
    /* At the defaults (3 nodes per box, boxes <= 1 unit) the forces came out within 1.5e-2 of
     * the exact ones and Z within 8.3e-4 (Barnes–Hut at theta 0.5 on uniform maps: ~2e-2 and
     * 1e-2); the bounds leave a factor above 2 for another map of the same kind. */
    double ez1, ef1, ez2, ef2;
    fft_errors(ym, nm, ref, zref, 1.0, 3, &ez1, &ef1);
    printf("default grid: force error %.3g, Z error %.3g\n", ef1, ez1);
    CHECK(ef1 < 4e-2 && ez1 < 2e-3, "default grid: force error %.3g, Z error %.3g", ef1, ez1);
    /* Interpolation by degree p - 1 polynomials: the error falls as h^p, 8 times for p = 3 at half
     * the box width. At least 4 leaves room for the cancellation between boxes. */
    fft_errors(ym, nm, ref, zref, 0.5, 3, &ez2, &ef2);
    printf("half-width boxes: force error %.3g, Z error %.3g\n", ef2, ez2);
    CHECK(ef2 < ef1 / 4 && ez2 < ez1 / 4, "half-width boxes: force error %.3g (was %.3g), Z %.3g (was %.3g)", ef2, ef1,
          ez2, ez1);
    /* ... and faster with more nodes: p = 5 at the default width beats p = 3 at half of it. */
    fft_errors(ym, nm, ref, zref, 1.0, 5, &ez1, &ef1);
    printf("5 nodes: force error %.3g, Z error %.3g\n", ef1, ez1);
    CHECK(ef1 < ef2 && ez1 < ez2, "5 nodes per box: force error %.3g, Z error %.3g", ef1, ez1);
    /* A tiny map (all points within one box of the 50-box minimum grid) is near exact. */
    for (int64_t i = 0; i < 2 * nm; i++) ym[i] *= 1e-3;
    exact_repulsion(ym, nm, ref, &zref);
    fft_errors(ym, nm, ref, zref, 1.0, 3, &ez1, &ef1);
    printf("tiny map: force error %.3g, Z error %.3g\n", ef1, ez1);
    CHECK(ef1 < 1e-6 && ez1 < 1e-9, "tiny map: force error %.3g, Z error %.3g", ef1, ez1);
    tsne_fft f;
    tsne_fft_init(&f);
    ym[7] = NAN;
    double zn;
    CHECK_FAILS(tsne_fft_repulsion(&f, ym, nm, ref, &zn), AM_ERR_NUMERIC, "non-finite");
    tsne_fft_free(&f);

    /* The whole t-SNE: FFT as good as Barnes–Hut on well-separated clusters (600 iterations:
     * the 250 exaggerated ones and enough after them for the clusters to settle). */
    o.seed = 5;
    o.iterations = 600;
    o.method = AM_TSNE_BARNES_HUT;
    double kl_bh, kl_fft;
    CHECK_OK(am_tsne(x, n, dim, &o, y, &kl_bh));
    o.method = AM_TSNE_FFT;
    am_tsne_timing tm = {-1, -1, -1, -1, -1, -1};
    o.timing = &tm;
    double t0 = am_monotonic_seconds();
    CHECK_OK(am_tsne(x, n, dim, &o, y2, &kl_fft));
    double wall = am_monotonic_seconds() - t0;
    o.timing = NULL;
    /* Every phase timed, and the phases are disjoint parts of the call (the final KL is outside them). */
    double phases = tm.knn + tm.affinities + tm.init + tm.attraction + tm.repulsion + tm.update;
    CHECK(tm.knn > 0 && tm.affinities > 0 && tm.init >= 0 && tm.attraction > 0 && tm.repulsion > 0 && tm.update > 0 &&
              phases <= wall,
          "phase times knn %g affinities %g init %g attraction %g repulsion %g update %g, sum %g of %g s", tm.knn,
          tm.affinities, tm.init, tm.attraction, tm.repulsion, tm.update, phases, wall);
    double acc_bh = map_knn_accuracy(y, n, 2, lab, ncl), acc_fft = map_knn_accuracy(y2, n, 2, lab, ncl);
    double kept_bh = map_preservation(x, dim, y, n, 2), kept_fft = map_preservation(x, dim, y2, n, 2);
    printf("cluster accuracy FFT %.3f BH %.3f; 10-NN preservation FFT %.3f BH %.3f; KL FFT %.4f BH %.4f\n", acc_fft,
           acc_bh, kept_fft, kept_bh, kl_fft, kl_bh);
    CHECK(acc_fft > 0.95 && acc_fft >= acc_bh - 0.01, "cluster accuracy: FFT %.3f, Barnes-Hut %.3f", acc_fft, acc_bh);
    /* 0.02 is about two standard errors of a preservation over 1000 points × 10 neighbours. */
    CHECK(kept_fft >= kept_bh - 0.02, "10-NN preservation: FFT %.3f, Barnes-Hut %.3f", kept_fft, kept_bh);
    CHECK(fabs(kl_fft - kl_bh) < 0.05 * kl_bh, "KL: FFT %.4f, Barnes-Hut %.4f", kl_fft, kl_bh);
    float *yr = malloc(n * 2 * sizeof *yr);
    for (int64_t i = 0; i < 2 * n; i++) yr[i] = (float)am_rng_normal(&r);
    double kept_random = map_preservation(x, dim, yr, n, 2);
    CHECK(kept_random < 0.05, "random map preservation %.3f", kept_random);
    free(yr);

    /* Bit-identical at 1 and 2 threads, through the grid's growth after the exaggeration. */
    o.iterations = 300;
    int same = tsne_thread_invariant(x, n, dim, &o, y, y2);
    CHECK(same == 1, "FFT t-SNE, 2 threads vs 1 thread: %s", same < 0 ? am_errmsg() : "maps differ");
    /* 3-D stays Barnes–Hut: asking for FFT there is an error, auto takes Barnes–Hut. */
    o.dims = 3;
    CHECK_FAILS(am_tsne(x, n, dim, &o, y, NULL), AM_ERR_VALUE, "2-D only");
    o.method = AM_TSNE_AUTO;
    o.iterations = 50;
    CHECK_OK(am_tsne(x, 100, dim, &o, y, NULL));
    free(ym);
    free(ref);
    free(y);
    free(y2);
    free(lab);
    am_free(x);
    return am_test_finish();
}
