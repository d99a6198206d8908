/* The map figure at scale: 10^5 points draw as a density image whose pixels are where the points
 * are (the fraction hit matches the Poisson expectation), coloured by cluster, and thumbnails of
 * a spatially spread sample. Not timed (the machine is shared); the time is printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/png_readback.h"
#include "astromorph/figure.h"
#include "astromorph/rng.h"
#include "astromorph/runtime.h"
#include "test_util.h"

enum { N = 100000 };
/* the panel's plot area (fig_map.c: 1000 × 940 panel, margins 100 / 40 left-right, 90 / 80 top-bottom) */
static const double X0 = 100, Y0 = 90, W = 860, H = 770;

/* Pixels of the 0.88 grey of a thumbnail's placeholder in [x0, x1) × [y0, y1). */
static double placeholder_fraction(const png_readback *img, int x0, int x1, int y0, int y1)
{
    int64_t hit = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            const uint8_t *p = img->pixels + ((size_t)y * img->width + x) * img->channels;
            hit += p[0] == 225 && p[1] == 225 && p[2] == 225; /* 0.88 · 255, as cairo rounds it */
        }
    return (double)hit / ((double)(x1 - x0) * (y1 - y0));
}

/* Pixels in [x0, x1) × [y0, y1) drawn by the density (darker than the 0.9-grey grid lines in some
 * channel); their mean colour into rgb. */
static double hit_fraction(const png_readback *img, int x0, int x1, int y0, int y1, double rgb[3])
{
    int64_t hit = 0, all = 0;
    double s[3] = {0};
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            const uint8_t *p = img->pixels + ((size_t)y * img->width + x) * img->channels;
            int lo = p[0] < p[1] ? p[0] : p[1];
            lo = lo < p[2] ? lo : p[2];
            all++;
            if (lo < 215) {
                hit++;
                for (int k = 0; k < 3; k++) s[k] += p[k];
            }
        }
    for (int k = 0; rgb && k < 3; k++) rgb[k] = hit ? s[k] / hit : 0;
    return all ? (double)hit / all : 0;
}

int main(void)
{
    am_rng g;
    am_rng_init(&g, 4, 0);
    float *xy = malloc(sizeof(float) * 2 * N);
    int32_t *lab = malloc(sizeof(int32_t) * N);
    for (int i = 0; i < N; i++) {
        xy[2 * i] = (float)am_rng_uniform(&g), xy[2 * i + 1] = (float)am_rng_uniform(&g);
        if (i < 4) xy[2 * i] = (float)(i & 1), xy[2 * i + 1] = (float)(i >> 1); /* the corners fix the range */
        lab[i] = xy[2 * i] >= 0.5f;
    }
    am_embeddings e;
    CHECK_OK(am_embeddings_alloc(&e, N, 1));
    am_fig_panel p = {xy, 2, 0, 1, "x", "y", "10^5 points"};
    char path[512];
    snprintf(path, sizeof path, "%s/dense.png", am_test_tmpdir());
    double t = am_monotonic_seconds();
    CHECK_OK(am_figure_map(path, &e, &p, 1, lab, 0, NULL));
    printf("10^5-point density map: %.2f s\n", am_monotonic_seconds() - t);
    png_readback img;
    CHECK(png_read_back(path, &img) && img.width == 1230 && img.height == 940 && img.channels >= 3, "read %s", path);
    if (img.pixels) {
        /* The unit square spans the inner 1/1.1 of each axis (5% padding): 781.8 × 700 px, so
         * λ = N / (781.8 · 700) = 0.183 points a pixel and a fraction 1 − e^−λ = 0.167 is hit;
         * ±0.02 covers the pixels cut by the 6-px inset, not a markers' map (every point a disc
         * of radius 2 would cover most of the square). */
        const double sx0 = X0 + W * 0.05 / 1.1, sx1 = X0 + W * 1.05 / 1.1, sy0 = Y0 + H * 0.05 / 1.1,
                     sy1 = Y0 + H * 1.05 / 1.1;
        double want = 1 - exp(-N / ((sx1 - sx0) * (sy1 - sy0)));
        double left[3], right[3];
        double fl = hit_fraction(&img, (int)sx0 + 6, (int)((sx0 + sx1) / 2) - 3, (int)sy0 + 6, (int)sy1 - 6, left);
        double fr = hit_fraction(&img, (int)((sx0 + sx1) / 2) + 3, (int)sx1 - 6, (int)sy0 + 6, (int)sy1 - 6, right);
        CHECK(fabs(fl - want) < 0.02 && fabs(fr - want) < 0.02, "hit fractions %.4f and %.4f, expected %.4f", fl, fr,
              want);
        double gap = 0;
        for (int k = 0; k < 3; k++) gap = fmax(gap, fabs(left[k] - right[k]));
        CHECK(gap > 30, "the two clusters' pixels have the same colour (%.0f %.0f %.0f)", left[0], left[1], left[2]);
        /* the padding band between the square and the frame is empty */
        CHECK(hit_fraction(&img, (int)X0 + 4, (int)sx0 - 2, (int)sy0 + 6, (int)sy1 - 6, NULL) < 0.001,
              "points drawn outside their range");
        free(img.pixels);
    }
    /* thumbnails (grey placeholders: no image source) for cells spread over the map */
    t = am_monotonic_seconds();
    CHECK_OK(am_figure_map(path, &e, &p, 1, lab, 60, NULL));
    printf("with 60 thumbnails: %.2f s\n", am_monotonic_seconds() - t);
    CHECK(png_read_back(path, &img), "read %s", path);
    if (img.pixels) {
        /* 84-px thumbnails in 88-px cells: 9 × 8 cells, all occupied, so 60 placed without
         * overlapping cover 60 · 81² / (860 · 770) = 0.59 of the plot area inside their frames;
         * 0.45 still fails with fewer than 46, as the random order of the small maps would give. */
        double f = placeholder_fraction(&img, (int)X0, (int)(X0 + W), (int)Y0, (int)(Y0 + H));
        CHECK(f > 0.45, "thumbnails cover %.3f of the plot area", f);
        free(img.pixels);
    }
    am_embeddings_free(&e);
    free(xy), free(lab);
    return am_test_finish();
}
