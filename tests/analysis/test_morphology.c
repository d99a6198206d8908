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

int main(void)
{
    test_reference();
    test_flags();
    return am_test_finish();
}
