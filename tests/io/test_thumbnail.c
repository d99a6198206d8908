/* Thumbnails: the noise fit on images of known noise (with sources, NaNs and blanked areas),
 * masking at mean + 5σ, stretches against their formulas, aspect and padding, RGB, resizing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/rng.h"
#include "astromorph/thumbnail.h"
#include "test_util.h"

/* Noise N(mu, sigma) plus a few bright Gaussian sources covering a few % of the image. */
static float *noisy_image(int h, int w, double mu, double sigma, uint64_t seed)
{
    float *img = malloc((size_t)h * (size_t)w * sizeof *img);
    am_rng r;
    am_rng_init(&r, seed, 0);
    const double src[3][4] = {{0.3, 0.3, 4, 60}, {0.7, 0.6, 6, 25}, {0.5, 0.8, 3, 200}}; /* y, x, width, peak/σ */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double v = mu + sigma * am_rng_normal(&r);
            for (int k = 0; k < 3; k++) {
                double dy = y - src[k][0] * h, dx = x - src[k][1] * w;
                v += src[k][3] * sigma * exp(-(dx * dx + dy * dy) / (2 * src[k][2] * src[k][2]));
            }
            img[(size_t)y * (size_t)w + (size_t)x] = (float)v;
        }
    return img;
}

static void test_noise_fit(void)
{
    const int h = 200, w = 256;
    const double mu = 10, sigma = 2;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        float *img = noisy_image(h, w, mu, sigma, seed);
        img[5] = NAN;
        img[77] = INFINITY;
        am_thumb_noise nz;
        CHECK_OK(am_thumb_noise_fit(img, (int64_t)h * w, 5.0, &nz));
        CHECK(nz.fitted == 1, "seed %llu: Gaussian fit did not converge", (unsigned long long)seed);
        CHECK(fabs(nz.mean - mu) < 0.03 * sigma, "seed %llu: mean %g, want %g", (unsigned long long)seed, nz.mean, mu);
        CHECK(fabs(nz.sigma / sigma - 1) < 0.03, "seed %llu: sigma %g, want %g", (unsigned long long)seed, nz.sigma,
              sigma);
        /* The mask threshold: mean + 5σ = 20, within 3 % of 5σ. */
        CHECK(fabs(nz.threshold - (mu + 5 * sigma)) < 0.03 * 5 * sigma, "seed %llu: threshold %g, want %g",
              (unsigned long long)seed, nz.threshold, mu + 5 * sigma);
        CHECK(nz.max > mu + 150 * sigma, "max %g misses the brightest source", nz.max);
        free(img);
    }

    /* 40 % of the pixels blanked to exactly 0 inside noise N(0.5, 0.1): the spike is not noise. */
    const int n = 400000; /* more than the 2^18-value sample the order statistics use */
    float *v = malloc(n * sizeof *v);
    am_rng r;
    am_rng_init(&r, 11, 0);
    for (int i = 0; i < n; i++) v[i] = i % 5 < 2 ? 0.0f : (float)(0.5 + 0.1 * am_rng_normal(&r));
    am_thumb_noise nz;
    CHECK_OK(am_thumb_noise_fit(v, n, 5.0, &nz));
    CHECK(fabs(nz.sigma - 0.1) < 0.003 && fabs(nz.mean - 0.5) < 0.003, "blanked image: mean %g sigma %g", nz.mean,
          nz.sigma);

    /* An 8-bit stamp: noise N(0, 3) rounded to whole levels and clipped at 0 (the sky set to
     * black), with a galaxy in the middle whose wings widen the fit by ~7 % (exact without it).
     * The fit is one-sided from the clip level. */
    for (int i = 0; i < 65536; i++) {
        int y = i / 256, x = i % 256;
        double g = 200 * exp(-((x - 128.0) * (x - 128.0) + (y - 128.0) * (y - 128.0)) / (2 * 15.0 * 15.0));
        double q = round(3 * am_rng_normal(&r) + g);
        v[i] = (float)(q < 0 ? 0 : q > 255 ? 255 : q);
    }
    CHECK_OK(am_thumb_noise_fit(v, 65536, 5.0, &nz));
    CHECK(nz.fitted && nz.mean == 0 && fabs(nz.sigma / 3 - 1) < 0.1, "clipped 8-bit: mean %g sigma %g fitted %d",
          nz.mean, nz.sigma, nz.fitted);

    /* Integer counts: noise N(1000, 1.5) rounded (variance + 1/12 from the rounding), hot pixels. */
    for (int i = 0; i < 65536; i++) v[i] = (float)round(1000 + 1.5 * am_rng_normal(&r) + (i % 50 == 0) * 300);
    CHECK_OK(am_thumb_noise_fit(v, 65536, 5.0, &nz));
    CHECK(fabs(nz.mean - 1000) < 0.05 && fabs(nz.sigma / sqrt(1.5 * 1.5 + 1 / 12.0) - 1) < 0.03,
          "integer counts: mean %g sigma %g", nz.mean, nz.sigma);

    /* Constant image: no width, no failure. */
    for (int i = 0; i < n; i++) v[i] = 3.0f;
    CHECK_OK(am_thumb_noise_fit(v, n, 5.0, &nz));
    CHECK(nz.sigma == 0 && nz.mean == 3 && nz.threshold == 3, "constant: mean %g sigma %g", nz.mean, nz.sigma);
    for (int i = 0; i < n; i++) v[i] = NAN;
    CHECK_FAILS(am_thumb_noise_fit(v, n, 5.0, &nz), AM_ERR_NUMERIC, "finite");
    free(v);
}

static void test_mask(void)
{
    const int h = 200, w = 256, size = 128;
    float *img = noisy_image(h, w, 10, 2, 5);
    am_thumbnail t;
    am_thumb_noise nz;
    CHECK_OK(am_thumbnail_make(img, 1, h, w, size, NULL, &t, &nz));
    CHECK(t.size == size && t.channels == 1, "size %d channels %d", t.size, t.channels);
    if (t.pixels) {
        /* 256×200 → 128×100, centred: rows 14..113 hold the image, the rest is padding. */
        int pad_lit = 0, noise_lit = 0;
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                uint8_t p = t.pixels[y * size + x];
                if (y < 14 || y >= 114) pad_lit += p != 0;
            }
        /* A corner far from every source is pure noise: masked to black. */
        for (int y = 20; y < 40; y++)
            for (int x = 90; x < 125; x++) noise_lit += t.pixels[y * size + x] != 0;
        CHECK(pad_lit == 0, "%d padding pixels are not black", pad_lit);
        CHECK(noise_lit == 0, "%d noise pixels survived the mask", noise_lit);
        /* The brightest source (at y = 0.5 h, x = 0.8 w) is near white. */
        int cy = 14 + 50, cx = (int)(0.8 * 128);
        CHECK(t.pixels[cy * size + cx] > 200, "brightest source drawn at %d", t.pixels[cy * size + cx]);
        /* The faint wide source (25σ peak) is visible but dim in a linear stretch. */
        uint8_t faint = t.pixels[(14 + 70) * size + (int)(0.6 * 128)];
        CHECK(faint > 0 && faint < 60, "faint source drawn at %d", faint);
    }
    am_thumbnail_free(&t);
    CHECK(t.pixels == NULL, "free must clear the pointer");
    free(img);
}

/* A ramp 0..1 along x, no mask, thumbnail the size of the image (no resampling): every pixel
 * is its stretch formula. */
static void test_stretch(void)
{
    const int w = 101, h = 3;
    float img[3 * 101];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) img[y * w + x] = x / 100.0f;
    const am_stretch kinds[3] = {AM_STRETCH_LINEAR, AM_STRETCH_ASINH, AM_STRETCH_LOG};
    for (int k = 0; k < 3; k++) {
        am_thumb_options o;
        am_thumb_options_default(&o);
        o.mask_sigma = 0;
        o.stretch = kinds[k];
        am_thumbnail t;
        CHECK_OK(am_thumbnail_make(img, 1, h, w, w, &o, &t, NULL));
        if (!t.pixels) continue;
        int worst = 0;
        for (int x = 0; x < w; x++) {
            double v = x / 100.0, want = v;
            if (kinds[k] == AM_STRETCH_ASINH) want = asinh(v / 0.1) / asinh(10);
            if (kinds[k] == AM_STRETCH_LOG) want = log1p(1000 * v) / log1p(1000);
            int d = abs((int)t.pixels[50 * w + x] - (int)lround(want * 255));
            if (d > worst) worst = d;
        }
        CHECK(worst <= 1, "stretch %d: off by %d grey levels", k, worst);
        CHECK(t.pixels[48 * w + 50] == 0 && t.pixels[52 * w + 50] == 0 && t.pixels[49 * w + 50] != 0,
              "rows outside the 3-row image must be black");
        am_thumbnail_free(&t);
    }
}

static void test_rgb_and_aspect(void)
{
    /* 3 channels 40 tall × 20 wide, a source only in green: RGB, content in the middle half. */
    const int h = 40, w = 20, size = 64;
    float *img = calloc(3 * h * w, sizeof *img);
    am_rng r;
    am_rng_init(&r, 3, 0);
    for (int i = 0; i < 3 * h * w; i++) img[i] = (float)am_rng_normal(&r);
    for (int y = 15; y < 25; y++)
        for (int x = 5; x < 15; x++) img[h * w + y * w + x] += 100;
    am_thumbnail t;
    am_thumb_noise nz[3];
    CHECK_OK(am_thumbnail_make(img, 3, h, w, size, NULL, &t, nz));
    CHECK(t.channels == 3 && t.size == size, "channels %d size %d", t.channels, t.size);
    if (t.pixels && t.channels == 3) {
        const uint8_t *c = t.pixels + ((size_t)32 * size + 32) * 3;
        CHECK(c[1] > 200 && c[0] == 0 && c[2] == 0, "centre RGB %d %d %d, want green", c[0], c[1], c[2]);
        int pad = 0;
        for (int y = 0; y < size; y++)
            for (int x = 0; x < 16; x++)
                pad += t.pixels[((size_t)y * size + x) * 3 + 1] + t.pixels[((size_t)y * size + 63 - x) * 3 + 1];
        CHECK(pad == 0, "side padding is not black (%d)", pad);
        CHECK(nz[1].max > 90 && nz[0].max < 10, "per-channel noise: max %g %g", nz[0].max, nz[1].max);
    }
    am_thumbnail_free(&t);

    /* Two channels give gray: the mean of the stretched channels. */
    CHECK_OK(am_thumbnail_make(img, 2, h, w, size, NULL, &t, NULL));
    CHECK(t.channels == 1, "2 channels gave %d", t.channels);
    if (t.pixels) CHECK(abs(t.pixels[32 * size + 32] - 128) <= 2, "gray mean %d, want 128", t.pixels[32 * size + 32]);
    am_thumbnail_free(&t);
    free(img);

    float one[4] = {1, 2, 3, NAN};
    CHECK_FAILS(am_thumbnail_make(one, 1, 2, 2, 0, NULL, &t, NULL), AM_ERR_VALUE, "size");
    CHECK_FAILS(am_thumbnail_make(one, 0, 2, 2, 8, NULL, &t, NULL), AM_ERR_VALUE, "image");
    float nan4[4] = {NAN, NAN, NAN, NAN};
    CHECK_FAILS(am_thumbnail_make(nan4, 1, 2, 2, 8, NULL, &t, NULL), AM_ERR_NUMERIC, "channel 0");
}

static void test_resize(void)
{
    /* A 2-pixel checkerboard averages to mid-grey when halved; a flat tile stays flat when grown. */
    am_thumbnail in = {8, 1, malloc(64)}, out;
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++) in.pixels[y * 8 + x] = (uint8_t)((x + y) % 2 ? 255 : 0);
    CHECK_OK(am_thumbnail_resize(&in, 4, &out));
    int worst = 0;
    for (int i = 0; out.pixels && i < 16; i++)
        worst = abs(out.pixels[i] - 128) > worst ? abs(out.pixels[i] - 128) : worst;
    CHECK(out.size == 4 && worst <= 1, "halved checkerboard off mid-grey by %d", worst);
    am_thumbnail_free(&out);
    memset(in.pixels, 200, 64);
    CHECK_OK(am_thumbnail_resize(&in, 13, &out));
    worst = 0;
    for (int i = 0; out.pixels && i < 169; i++)
        worst = abs(out.pixels[i] - 200) > worst ? abs(out.pixels[i] - 200) : worst;
    CHECK(out.size == 13 && worst == 0, "grown flat tile off by %d", worst);
    am_thumbnail_free(&out);
    CHECK_FAILS(am_thumbnail_resize(&in, 0, &out), AM_ERR_VALUE, "size");
    am_thumbnail_free(&in);
}

int main(void)
{
    test_noise_fit();
    test_mask();
    test_stretch();
    test_rgb_and_aspect();
    test_resize();
    return am_test_finish();
}
