/* Morphology statistics against an independent measurement (tools/morphology_reference.py:
 * photutils for Gini, ellipticity and orientation, numpy for the rest) of images with known
 * answers, and against the answers themselves: an exponential disk's concentration, a flat
 * ellipse's axis ratio and angle, a point-symmetric image's zero asymmetry, a three-component
 * radio source's components, FR ratio and bend. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/fits.h"
#include "astromorph/morphology.h"
#include "astromorph/rng.h"
#include "test_util.h"

enum { MAXCOL = 64 };

/* float32 pixels against float64 reference arithmetic: sums over thousands of pixels agree to
 * about 1e-6 relative; a pixel that lands exactly on a threshold or ratio could flip, which these
 * smooth images avoid. Values near zero are compared absolutely. */
static int close_to(double got, double want, double rtol, double atol)
{
    if (isnan(want)) return isnan(got);
    return fabs(got - want) <= atol + rtol * fabs(want);
}

static void check_image(const char *name, double bkg, double sigma, char **col, const double *want, int ncol)
{
    char path[1024];
    snprintf(path, sizeof path, "tests/fixtures/morphology/%s.fits", name);
    am_tensor img;
    am_status s = am_fits_read(am_test_path(path), NULL, &img, NULL);
    CHECK(s == AM_OK, "%s: %s", path, am_errmsg());
    if (s != AM_OK) return;
    am_morph_options o;
    am_morph_options_default(&o);
    o.background = bkg, o.sigma = sigma;
    am_morphology m;
    CHECK_OK(am_morphology_measure(img.data, img.shape[1], img.shape[2], &o, &m));
    double row[MAXCOL];
    int nrow = am_morphology_row(&m, row);
    for (int c = 0; c < ncol; c++) {
        int k = -1;
        for (int j = 0; am_morphology_columns[j]; j++)
            if (!strcmp(am_morphology_columns[j], col[c])) k = j;
        if (k < 0 || k >= nrow) continue;
        /* the orientation of a nearly round source is noise */
        if (!strcmp(col[c], "orientation") && m.ellipticity < 0.01) continue;
        /* photutils regularises the moments of a source of a few pixels (its covariance gets the
         * 1/12 of a pixel's own extent), so its shape is not comparable there */
        if ((!strcmp(col[c], "orientation") || !strcmp(col[c], "ellipticity")) && m.area < 20) continue;
        double rtol = 1e-4, atol = 1e-5;
        if (!strcmp(col[c], "orientation")) atol = 1e-3; /* degrees */
        CHECK(close_to(row[k], want[c], rtol, atol), "%s %s: %.8g, reference %.8g", name, col[c], row[k], want[c]);
    }
    /* known answers */
    if (!strcmp(name, "exp_disk"))
        CHECK(fabs(m.concentration - 5 * log10(2.9943 / 0.8244)) < 0.03, "exponential disk C = %.4f, analytic 2.80",
              m.concentration);
    if (!strcmp(name, "flat_ellipse")) {
        CHECK(fabs(m.ellipticity - 0.6) < 0.005, "flat ellipse 30x12: ellipticity %.4f, want 0.6", m.ellipticity);
        CHECK(fabs(m.orientation - 30) < 0.2, "flat ellipse at 30 degrees: %.3f", m.orientation);
        CHECK(fabs(m.gini) < 1e-6, "a flat disk has Gini 0: %.3g", m.gini);
    }
    if (!strcmp(name, "symmetric_pair")) CHECK(fabs(m.asymmetry) < 1e-5, "point-symmetric: A = %.3g", m.asymmetry);
    if (!strcmp(name, "point")) CHECK(m.gini > 0.9, "a point source: Gini %.3f near 1", m.gini);
    /* two lobes 56 pixels apart, each about 8 pixels in radius above the threshold: las near 72,
     * the brightest spots at the lobes' centres; seen from the core at 180 and 120 degrees */
    if (!strcmp(name, "two_lobes") || !strcmp(name, "bent_lobes")) {
        int bent = name[0] == 'b';
        CHECK(m.components == 3 && fabs(m.main_fraction - 0.5) < 0.02, "%s: %g components, main share %.3f", name,
              m.components, m.main_fraction);
        CHECK(bent || fabs(m.las - 72) < 3, "two lobes: las %.2f, want about 72", m.las);
        CHECK(m.fr_ratio > 0.7 && m.peak_offset > 0.7, "%s: edge-brightened, FR ratio %.3f, peak offset %.3f", name,
              m.fr_ratio, m.peak_offset);
        CHECK(fabs(m.bend - (bent ? 0.5 : 0)) < 0.03, "%s: bend %.3f, want %.1f", name, m.bend, bent ? 0.5 : 0.0);
        CHECK(bent || (m.fourier[1] > 0.9 && m.fourier[0] < 0.05), "two lobes: bipolar, m=2 %.3f, m=1 %.3f",
              m.fourier[1], m.fourier[0]);
    }
    if (!strcmp(name, "exp_disk") || !strcmp(name, "devauc"))
        CHECK(m.components == 1 && m.bend == 0 && m.fr_ratio < 0.05, "%s: one smooth component (%g, FR %.3f)", name,
              m.components, m.fr_ratio);
    CHECK(!(m.flags & (AM_MORPH_NO_SOURCE | AM_MORPH_FEW_PIXELS)), "%s flags %d", name, m.flags);
    am_tensor_free(&img);
}

static void test_reference(void)
{
    FILE *fp = fopen(am_test_path("tests/fixtures/morphology/expected.csv"), "r");
    CHECK(fp != NULL, "no expected.csv (run tools/morphology_reference.py)");
    if (!fp) return;
    char line[8192], *col[MAXCOL];
    int ncol = 0, nimg = 0;
    CHECK(fgets(line, sizeof line, fp) != NULL, "header");
    line[strcspn(line, "\n")] = 0;
    for (char *t = strtok(line, ","); t && ncol < MAXCOL; t = strtok(NULL, ",")) col[ncol++] = strdup(t);
    while (fgets(line, sizeof line, fp)) {
        char *name = strtok(line, ",");
        double v[MAXCOL];
        for (int c = 1; c < ncol; c++) {
            char *t = strtok(NULL, ",\n");
            v[c] = t ? strtod(t, NULL) : NAN;
        }
        /* columns 0-2: image, background, sigma */
        check_image(name, v[1], v[2], col + 3, v + 3, ncol - 3);
        nimg++;
    }
    fclose(fp);
    CHECK(nimg == 10, "%d reference images, want 10", nimg);
    for (int c = 0; c < ncol; c++) free(col[c]);
}

/* No source and too small a source are not errors: NaN statistics and a flag. The noise fit
 * finds the threshold by itself. */
static void test_flags(void)
{
    enum { S = 32 };
    float img[S * S];
    am_rng r;
    am_rng_init(&r, 3, 0);
    for (int i = 0; i < S * S; i++) img[i] = (float)(0.01 * am_rng_normal(&r));
    am_morphology m;
    CHECK_OK(am_morphology_measure(img, S, S, NULL, &m));
    CHECK((m.flags & (AM_MORPH_NO_SOURCE | AM_MORPH_FEW_PIXELS)) && isnan(m.concentration),
          "pure noise: flags %d, C %g", m.flags, m.concentration);
    img[5 * S + 0] = 10, img[5 * S + 1] = 8, img[6 * S + 0] = 8, img[6 * S + 1] = 7, img[4 * S + 0] = 6,
                img[4 * S + 1] = 5;
    img[7 * S + 0] = 5, img[7 * S + 1] = 4;
    CHECK_OK(am_morphology_measure(img, S, S, NULL, &m));
    CHECK((m.flags & AM_MORPH_EDGE) && !isnan(m.gini), "a source on the border: flags %d", m.flags);
    float feat[AM_MORPH_FEATURES];
    am_morphology_features(&m, feat);
    CHECK(feat[3] == (float)m.gini && feat[0] == (float)m.concentration, "features in the documented order");
}

/* The colours of a source of three bands, each with its own sky level: a uniform colour comes
 * out as -2.5 log10 of the bands' flux ratio with no gradient, a centre brighter in the first
 * band as a negative gradient; one channel and a cube of 6 have none. */
static void test_colours(void)
{
    enum { S = 48, C = 3 };
    static float img[C * S * S];
    am_rng r;
    am_rng_init(&r, 5, 0);
    const double sky[C] = {10, 40, 90}, amp[C] = {300, 150, 100}, noise = 0.05;
    for (int pass = 0; pass < 2; pass++) {
        for (int c = 0; c < C; c++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++) {
                    double r2 = (x - 23.5) * (x - 23.5) + (y - 23.5) * (y - 23.5);
                    /* the second pass adds a compact core to the first band only */
                    double core = pass && c == 0 ? 200 * exp(-r2 / 2.0) : 0;
                    img[(c * S + y) * S + x] =
                        (float)(sky[c] + amp[c] * exp(-r2 / 50.0) + core + noise * am_rng_normal(&r));
                }
        am_tensor t = am_tensor_view(img, 3, (int64_t[]){C, S, S});
        am_morphology m;
        CHECK_OK(am_morphology_measure_image(&t, NULL, &m));
        CHECK(m.ncolours == 4, "3 bands: %d colours", m.ncolours);
        if (pass == 0) {
            /* The region holds the Gaussian down to about 3 sigma of the summed noise (sqrt(3) ·
             * 0.05) out of a peak of 550: all but exp(-R²/50) of each band's flux, the same share
             * in every band, so the ratio is exact but for the noise: about 0.05 · sqrt(pixels ·
             * (1 + 1/4)) / flux of the second band, 2.5 / ln 10 of it in magnitudes, < 1e-4. */
            const double want[2] = {-2.5 * log10(amp[0] / amp[1]), -2.5 * log10(amp[1] / amp[2])};
            CHECK(fabs(m.colour[0] - want[0]) < 1e-3 && fabs(m.colour[1] - want[1]) < 1e-3,
                  "uniform colours %.5f %.5f, want %.5f %.5f", m.colour[0], m.colour[1], want[0], want[1]);
            CHECK(fabs(m.colour[2]) < 2e-3 && fabs(m.colour[3]) < 2e-3, "no gradient: %.5f %.5f", m.colour[2],
                  m.colour[3]);
        } else {
            /* The core's 400 pi of flux lies within r50 (it is 1 pixel wide), where band 0 of the
             * Gaussian holds A0 · 50 pi · f, f = 1 - exp(-r50² / 50); beyond it the bands keep their
             * ratio. So the gradient is -2.5 log10(1 + 8 / (A0 f)); the pixel grid's version of f
             * differs from the disk's by well under 10 %. */
            const double f = 1 - exp(-m.r50 * m.r50 / 50), want = -2.5 * log10(1 + 8 / (amp[0] * f));
            CHECK(fabs(m.colour[2] - want) < 0.1 * fabs(want) && fabs(m.colour[3]) < 2e-3,
                  "a core bright in band 0: gradients %.4f %.4f, want %.4f 0", m.colour[2], m.colour[3], want);
            CHECK(m.colour[0] < -2.5 * log10(amp[0] / amp[1]), "and bluer overall: %.4f", m.colour[0]);
        }
        am_morphology one;
        CHECK_OK(am_morphology_measure_image(&(am_tensor){.ndim = 3, .shape = {1, S, S}, .data = img}, NULL, &one));
        CHECK(one.ncolours == 0 && am_morphology_colour_count(1) == 0 && am_morphology_colour_count(6) == 0 &&
                  am_morphology_feature_count(5) == AM_MORPH_FEATURES + 8,
              "colours only of 2 to 5 bands");
        float feat[AM_MORPH_FEATURES + AM_MORPH_MAX_COLOURS];
        am_morphology_features_all(&m, feat);
        CHECK(feat[AM_MORPH_FEATURES] == (float)m.colour[0] && feat[AM_MORPH_FEATURES + 3] == (float)m.colour[3],
              "colours after the statistics");
    }
    /* a band seen in absorption (less flux than its sky): the colours with it are undefined */
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            double r2 = (x - 23.5) * (x - 23.5) + (y - 23.5) * (y - 23.5);
            img[(2 * S + y) * S + x] = (float)(90 - 50 * exp(-r2 / 50.0) + noise * am_rng_normal(&r));
        }
    am_tensor t = am_tensor_view(img, 3, (int64_t[]){C, S, S});
    am_morphology m;
    CHECK_OK(am_morphology_measure_image(&t, NULL, &m));
    CHECK(!isnan(m.colour[0]) && isnan(m.colour[1]) && isnan(m.colour[3]),
          "band 0 - band 1 defined (%g), band 1 - band 2 not (%g, %g)", m.colour[0], m.colour[1], m.colour[3]);
}

int main(void)
{
    test_reference();
    test_flags();
    test_colours();
    return am_test_finish();
}
