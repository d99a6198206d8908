/* Views at a common size and the asinh normalisation: the percentiles against a full sort, the
 * stretch's fixed points, a crop of the whole image at its own size (identity) and at half its
 * size (the 2x2 block means), crops inside the requested area range, same stream same view. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/augment.h"
#include "astromorph/rng.h"
#include "test_util.h"

static int cmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void test_asinh(void)
{
    enum { N = 5000 };
    static float x[N], sorted[N];
    am_rng r;
    am_rng_init(&r, 5, 0);
    for (int i = 0; i < N; i++) x[i] = (float)(2.0 + 0.1 * am_rng_normal(&r) + (i % 97 == 0 ? 50.0 : 0.0));
    memcpy(sorted, x, sizeof x);
    qsort(sorted, N, sizeof *sorted, cmp);
    double lo = sorted[N / 2], hi = sorted[(int)(0.999 * (N - 1))];
    float y[N];
    memcpy(y, x, sizeof x);
    CHECK(am_normalize_asinh(y, N) == 1, "normalised");
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double t = (x[i] - lo) / (hi - lo);
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        double want = asinh(AM_ASINH_SOFTENING * t) / asinh(AM_ASINH_SOFTENING);
        worst = fmax(worst, fabs(y[i] - want));
    }
    CHECK(worst < 1e-6, "asinh normalisation off by %.3g (median %g, 99.9th percentile %g)", worst, lo, hi);
}

static void test_crop(void)
{
    enum { C = 2, H = 16, W = 16 };
    float img[C * H * W], out[C * H * W], half[C * 8 * 8], blocks[C * 8 * 8];
    for (int i = 0; i < C * H * W; i++) img[i] = (float)((i * 13) % 17) / 17.0f;
    am_augment a;
    am_augment_original(&a);
    a.view_size = W;
    a.crop.enabled = 0;
    am_rng r;
    am_rng_init(&r, 1, 2);
    CHECK_OK(am_view_crop(img, C, H, W, &a, &r, out));
    CHECK(memcmp(out, img, sizeof img) == 0, "the whole image at its own size is itself");
    a.view_size = 8;
    CHECK_OK(am_view_crop(img, C, H, W, &a, &r, half));
    CHECK_OK(am_resample(img, C, H, W, blocks, 8, 8));
    double worst = 0;
    for (int i = 0; i < C * 64; i++) worst = fmax(worst, fabs(half[i] - blocks[i]));
    CHECK(worst < 1e-6, "the whole image at half size: 2x2 means, off by %.3g", worst);
    /* crops: the same stream gives the same view; another stream another one */
    a.crop.enabled = 1, a.crop_scale_min = 0.3, a.crop_scale_max = 0.6;
    float v1[C * 64], v2[C * 64], v3[C * 64];
    am_rng_init(&r, 9, 1);
    CHECK_OK(am_view_crop(img, C, H, W, &a, &r, v1));
    am_rng_init(&r, 9, 1);
    CHECK_OK(am_view_crop(img, C, H, W, &a, &r, v2));
    am_rng_init(&r, 9, 2);
    CHECK_OK(am_view_crop(img, C, H, W, &a, &r, v3));
    CHECK(memcmp(v1, v2, sizeof v1) == 0 && memcmp(v1, v3, sizeof v1) != 0, "views are functions of their stream");
    /* a constant image stays constant inside the crop (no fill leaks in) */
    for (int i = 0; i < C * H * W; i++) img[i] = 0.5f;
    int inside = 1;
    for (int t = 0; t < 20; t++) {
        am_rng_init(&r, 3, (uint64_t)t);
        CHECK_OK(am_view_crop(img, C, H, W, &a, &r, v1));
        for (int i = 0; i < C * 64; i++) inside &= fabsf(v1[i] - 0.5f) < 1e-6f;
    }
    CHECK(inside, "crops stay inside the image");
}

static void test_network_input(void)
{
    am_tensor img, x;
    CHECK_OK(am_tensor_alloc(&img, 3, (const int64_t[]){1, 30, 20}));
    for (int i = 0; i < 600; i++) img.data[i] = (float)i;
    CHECK_OK(am_network_input(&img, 2, AM_NORMALIZE_MINMAX, 12, &x));
    CHECK(x.ndim == 4 && x.shape[0] == 1 && x.shape[1] == 2 && x.shape[2] == 12 && x.shape[3] == 12,
          "stacked twice, at 12 x 12");
    float lo = 1, hi = 0;
    for (int64_t i = 0; i < am_tensor_numel(&x); i++) lo = fminf(lo, x.data[i]), hi = fmaxf(hi, x.data[i]);
    CHECK(lo >= 0 && hi <= 1 && hi > 0.9f, "normalised before resampling: [%g, %g]", lo, hi);
    am_tensor_free(&x);
    am_tensor_free(&img);
}

static void test_keys(void)
{
    am_augment a;
    am_augment_original(&a);
    CHECK(a.view_size == 0 && a.normalization == AM_NORMALIZE_MINMAX, "the original's: native size, min-max");
    CHECK_OK(am_augment_set(&a, "view_size", 64));
    CHECK_OK(am_augment_set_str(&a, "normalization", "asinh"));
    CHECK_OK(am_augment_set_str(&a, "order", "hflip,rotation,stretch,noise"));
    CHECK_OK(am_augment_set(&a, "crop.scale_min", 0.8));
    CHECK(a.view_size == 64 && a.normalization == AM_NORMALIZE_ASINH && a.n_order == 4 && a.crop_scale_min == 0.8,
          "keys set");
    CHECK_FAILS(am_augment_set(&a, "view_size", 7), AM_ERR_VALUE, "view_size = 7: must be 0 or between 8 and 4096");
    CHECK_FAILS(am_augment_set(&a, "crop.scale_min", 0), AM_ERR_VALUE, "crop.scale_min = 0: must be in (0, 1]");
    CHECK_FAILS(am_augment_set(&a, "crop.ratio", 0.5), AM_ERR_VALUE, "crop.ratio");
    CHECK_FAILS(am_augment_set(&a, "crop.size", 1), AM_ERR_NOTFOUND, "unknown key");
    CHECK_FAILS(am_augment_set_str(&a, "normalization", "log"), AM_ERR_VALUE,
                "normalization = \"log\": must be one of \"minmax\", \"asinh\"");
    a.crop_scale_min = 0.9, a.crop_scale_max = 0.5;
    CHECK_FAILS(am_augment_check(&a), AM_ERR_VALUE, "crop.scale_min 0.9 is above crop.scale_max 0.5");

    /* multi-crop: local views are drawn with their own size and crop range, always cropped */
    am_augment_default(&a);
    CHECK(a.local_views == 0, "no local views unless asked");
    CHECK_OK(am_augment_set(&a, "local.views", 4));
    CHECK_OK(am_augment_set(&a, "local.size", 24));
    CHECK_OK(am_augment_set(&a, "local.scale_max", 0.3));
    a.crop.p = 0.0;
    am_augment l = am_augment_local(&a);
    CHECK(l.view_size == 24 && l.crop.enabled && l.crop.p == 1.0 && l.crop_scale_min == 0.05 &&
              l.crop_scale_max == 0.3 && l.n_order == a.n_order,
          "a local view's settings");
    CHECK_OK(am_augment_check(&a));
    CHECK_FAILS(am_augment_set(&a, "local.views", 17), AM_ERR_VALUE, "local.views = 17");
    CHECK_FAILS(am_augment_set(&a, "local.size", 4), AM_ERR_VALUE, "local.size = 4");
    a.local_scale_min = 0.5;
    CHECK_FAILS(am_augment_check(&a), AM_ERR_VALUE, "local.scale_min 0.5 is above local.scale_max 0.3");
    a.local_scale_min = 0.05, a.view_size = 0;
    CHECK_FAILS(am_augment_check(&a), AM_ERR_VALUE, "local.views = 4 needs views at a common size");
}

int main(void)
{
    test_keys();
    test_asinh();
    test_crop();
    test_network_input();
    return am_test_finish();
}
