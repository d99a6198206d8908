/* D2 copies, normalisation, each augmentation against its definition, the pipeline's settings,
 * and reproducibility at any thread count. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/augment.h"
#include "test_util.h"

static void test_d2(void)
{
    /* 1x2x3 image: rows (0 1 2) (3 4 5) */
    am_tensor img, out;
    CHECK_OK(am_tensor_alloc(&img, 3, (int64_t[]){1, 2, 3}));
    for (int i = 0; i < 6; i++) img.data[i] = (float)i;
    CHECK_OK(am_d2_copies(&img, 1, &out));
    CHECK(out.ndim == 4 && out.shape[0] == 4 && out.shape[1] == 1 && out.shape[2] == 2 && out.shape[3] == 3, "4x1x2x3");
    const float want[4][6] = {{0, 1, 2, 3, 4, 5}, {5, 4, 3, 2, 1, 0}, {2, 1, 0, 5, 4, 3}, {3, 4, 5, 0, 1, 2}};
    const char *names[4] = {"identity", "rot180", "flip left-right", "flip up-down"};
    for (int n = 0; n < 4; n++) CHECK(am_test_close(names[n], out.data + n * 6, want[n], 6, 0, 1), "%s", names[n]);
    /* the four are different: the original's two pairs of equal copies are gone */
    for (int a = 0; a < 4; a++)
        for (int b = a + 1; b < 4; b++) CHECK(memcmp(out.data + a * 6, out.data + b * 6, 24) != 0, "%d vs %d", a, b);
    am_tensor_free(&out);
    am_tensor_free(&img);

    /* 2 channels, stacksize 3: channel groups c0 c1 c0 c1 c0 c1 */
    CHECK_OK(am_tensor_alloc(&img, 3, (int64_t[]){2, 2, 2}));
    for (int i = 0; i < 8; i++) img.data[i] = (float)i;
    CHECK_OK(am_d2_copies(&img, 3, &out));
    CHECK(out.shape[1] == 6, "C*stacksize = 6");
    for (int k = 0; k < 6; k++) CHECK(out.data[k * 4] == (float)((k % 2) * 4), "channel %d of identity", k);
    /* rot180 of channel 1 (4 5 6 7) is (7 6 5 4) */
    CHECK(out.data[(1 * 6 + 1) * 4] == 7 && out.data[(1 * 6 + 3) * 4 + 3] == 4, "rot180 of channel 1");
    am_tensor_free(&out);
    CHECK_OK(am_stack_channels(&img, 2, &out));
    CHECK(out.shape[0] == 1 && out.shape[1] == 4 && out.data[8] == 0 && out.data[15] == 7, "stack_channels");
    am_tensor_free(&out);
    CHECK_FAILS(am_d2_copies(&img, 0, &out), AM_ERR_VALUE, "stacksize 0");
    am_tensor_free(&img);
}

static void test_single_transforms(void)
{
    float xs[6] = {2, 4, 6, 8, 10, 12};
    CHECK(am_normalize_minmax(xs, 6) == 1 && xs[0] == 0 && xs[5] == 1 && fabsf(xs[2] - 0.4f) < 1e-6f, "minmax");
    float flat[3] = {5, 5, 5};
    CHECK(am_normalize_minmax(flat, 3) == 0 && flat[0] == 0, "constant -> 0 and reported");

    enum { N = 7 };
    float src[N * N], dst[N * N], back[N * N];
    for (int i = 0; i < N * N; i++) src[i] = (float)(i * 37 % 11) + 0.5f * (float)(i % N);
    /* 90° counter-clockwise as displayed: out[y][x] = in[x][N-1-y] (numpy's rot90) */
    for (int interp = 0; interp < 2; interp++) {
        am_aug_rotate(src, dst, 1, N, N, 90.0, (am_interp)interp, 0.0f);
        int ok = 1;
        for (int y = 0; y < N; y++)
            for (int x = 0; x < N; x++) ok &= fabsf(dst[y * N + x] - src[x * N + (N - 1 - y)]) < 1e-5f;
        CHECK(ok, "rotate 90 (%s) is rot90", interp ? "bilinear" : "nearest");
        am_aug_rotate(src, dst, 1, N, N, 360.0, (am_interp)interp, 0.0f);
        CHECK(am_test_close("rotate 360", dst, src, N * N, 1e-5, 1), "360 is identity");
    }
    /* 180° on an even, non-square canvas is the D2 rot180 */
    float r[12], r180[12];
    for (int i = 0; i < 12; i++) r[i] = (float)i;
    am_aug_rotate(r, r180, 1, 3, 4, 180.0, AM_INTERP_NEAREST, 0.0f);
    int ok = 1;
    for (int i = 0; i < 12; i++) ok &= r180[i] == r[11 - i];
    CHECK(ok, "rotate 180 = reverse");
    /* 45°: corners fall outside and take the fill value; the centre stays */
    for (int i = 0; i < N * N; i++) back[i] = 1.0f;
    am_aug_rotate(back, dst, 1, N, N, 45.0, AM_INTERP_BILINEAR, -2.0f);
    CHECK(dst[0] == -2.0f && dst[N * N - 1] == -2.0f, "corners filled: %g", dst[0]);
    CHECK(dst[N * N / 2] == 1.0f, "centre kept");

    /* flips */
    memcpy(back, src, sizeof src);
    am_aug_hflip(back, 1, N, N);
    CHECK(back[0] == src[N - 1] && back[N] == src[2 * N - 1], "hflip mirrors columns");
    am_aug_hflip(back, 1, N, N);
    CHECK(!memcmp(back, src, sizeof src), "hflip twice is identity");
    am_aug_vflip(back, 1, N, N);
    CHECK(back[0] == src[(N - 1) * N], "vflip mirrors rows");

    /* blur: a constant stays constant; an impulse spreads as the 2-D Gaussian */
    float scratch[N * N];
    for (int i = 0; i < N * N; i++) back[i] = 0.25f;
    am_aug_gaussian_blur(back, 1, N, N, 3, 1.5, scratch);
    float quarter[N * N];
    for (int i = 0; i < N * N; i++) quarter[i] = 0.25f;
    CHECK(am_test_close("blur constant", back, quarter, N * N, 1e-6, 1), "blur keeps constants");
    memset(back, 0, sizeof back);
    back[3 * N + 3] = 1.0f;
    am_aug_gaussian_blur(back, 1, N, N, 3, 1.0, scratch);
    double g0 = 1, g1 = exp(-0.5), s = g0 + 2 * g1;
    CHECK(fabs(back[3 * N + 3] - g0 * g0 / (s * s)) < 1e-6, "centre weight %g", back[3 * N + 3]);
    CHECK(fabs(back[2 * N + 2] - g1 * g1 / (s * s)) < 1e-6, "diagonal weight %g", back[2 * N + 2]);
    CHECK(back[1 * N + 3] == 0.0f, "3x3 kernel reaches one pixel only");
    /* reflect padding at the edge: an edge impulse keeps weight g0/s in its row */
    memset(back, 0, sizeof back);
    back[0] = 1.0f;
    am_aug_gaussian_blur(back, 1, N, N, 3, 1.0, scratch);
    CHECK(fabs(back[0] - g0 * g0 / (s * s)) < 1e-6 && fabs(back[1] - g1 * g0 / (s * s)) < 1e-6, "reflect edge");

    /* jitter */
    float j[4] = {0.1f, 0.5f, 0.7f, 0.9f};
    am_aug_brightness(j, 4, 1.5);
    CHECK(fabsf(j[0] - 0.15f) < 1e-6f && j[3] == 1.0f, "brightness scales and clamps");
    float c[4] = {0.2f, 0.4f, 0.6f, 0.8f}; /* mean 0.5 */
    am_aug_contrast(c, 1, 2, 2, 0.5);
    CHECK(fabsf(c[0] - 0.35f) < 1e-6f && fabsf(c[3] - 0.65f) < 1e-6f, "contrast about the mean: %g %g", c[0], c[3]);
    float rgb[6] = {1, 0, 0, 1, 0, 0}; /* 1x2 pixels: red, green */
    am_aug_grayscale(rgb, 1, 2);
    CHECK(fabsf(rgb[0] - 0.299f) < 1e-6f && fabsf(rgb[1] - 0.587f) < 1e-6f && rgb[2] == rgb[0] && rgb[5] == rgb[1],
          "grayscale luminance");
}

static void test_settings(void)
{
    am_augment a;
    am_augment_original(&a);
    CHECK(a.step[AM_AUG_HFLIP].p == 0.5 && a.step[AM_AUG_BLUR].p == 0.2 && a.step[AM_AUG_JITTER].p == 0.3 &&
              a.step[AM_AUG_GRAYSCALE].p == 0.2 && a.rot_max_deg == 360 && a.blur_sigma_min == 1 &&
              a.blur_sigma_max == 2,
          "defaults are the original's");
    CHECK_OK(am_augment_set(&a, "rotation.p", 0.25));
    CHECK(a.step[AM_AUG_ROTATION].p == 0.25, "rotation.p set");
    CHECK_OK(am_augment_set_str(&a, "rotation.interpolation", "nearest"));
    CHECK(a.rot_interp == AM_INTERP_NEAREST, "interpolation set");
    CHECK_OK(am_augment_set_str(&a, "blur.sigma_max", "3.5"));
    CHECK(a.blur_sigma_max == 3.5, "numeric key as text");
    CHECK_OK(am_augment_set_str(&a, "hflip.enabled", "false"));
    CHECK(!a.step[AM_AUG_HFLIP].enabled, "bool key as text");
    CHECK_FAILS(am_augment_set(&a, "rotation.q", 1), AM_ERR_NOTFOUND, "\"rotation.q\"");
    CHECK_FAILS(am_augment_set(&a, "warp.p", 1), AM_ERR_NOTFOUND, "\"warp.p\"");
    CHECK_FAILS(am_augment_set(&a, "blur.p", 1.5), AM_ERR_VALUE, "augmentation: blur.p = 1.5: must be in [0, 1]");
    CHECK_FAILS(am_augment_set(&a, "blur.kernel", 4), AM_ERR_VALUE, "blur.kernel");
    CHECK_FAILS(am_augment_set_str(&a, "rotation.interpolation", "cubic"), AM_ERR_VALUE, "cubic");
    CHECK_FAILS(am_augment_set_str(&a, "order", "hflip,shear"), AM_ERR_VALUE, "\"shear\"");
    CHECK_FAILS(am_augment_set_str(&a, "order", "hflip,hflip"), AM_ERR_VALUE, "twice");
    CHECK_OK(am_augment_set_str(&a, "order", "rotation, vflip"));
    CHECK(a.n_order == 2 && a.order[0] == AM_AUG_ROTATION && a.step[AM_AUG_VFLIP].enabled &&
              !a.step[AM_AUG_BLUR].enabled,
          "order sets the list");
    CHECK_OK(am_augment_set(&a, "blur.enabled", 1));
    CHECK(a.n_order == 3 && a.order[2] == AM_AUG_BLUR, "enabling an unlisted transform appends it");
    CHECK_OK(am_augment_set(&a, "blur.sigma_min", 5));
    CHECK_FAILS(am_augment_check(&a), AM_ERR_VALUE, "blur.sigma_min 5 is above blur.sigma_max 3.5");
}

static void fill_image(am_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w)
{
    am_tensor_alloc4(t, n, c, h, w);
    for (int64_t i = 0; i < am_tensor_numel(t); i++) t->data[i] = (float)((i * 2654435761u) % 1000) * 0.37f - 50.0f;
}

static void test_pipeline(void)
{
    am_augment a;
    am_augment_original(&a);
    am_tensor img, v1, v2, v3;
    fill_image(&img, 1, 3, 21, 17);
    CHECK_OK(am_augment_view(&a, &img, &v1, 42, 3, 10, 0));
    CHECK_OK(am_augment_view(&a, &img, &v2, 42, 3, 10, 0));
    CHECK_OK(am_augment_view(&a, &img, &v3, 42, 3, 10, 1));
    CHECK(!memcmp(v1.data, v2.data, (size_t)am_tensor_numel(&v1) * 4), "same key, same view");
    CHECK(memcmp(v1.data, v3.data, (size_t)am_tensor_numel(&v1) * 4) != 0, "other view differs");
    float lo = 1, hi = 0;
    for (int64_t i = 0; i < am_tensor_numel(&v1); i++) {
        lo = fminf(lo, v1.data[i]);
        hi = fmaxf(hi, v1.data[i]);
    }
    CHECK(lo >= 0 && hi <= 1 && am_tensor_all_finite(&v1), "normalised before augmenting: [%g, %g]", lo, hi);
    am_tensor_free(&v1);
    am_tensor_free(&v2);
    am_tensor_free(&v3);

    /* Same results at 1 and 2 threads, in any order of images */
    enum { M = 24 };
    static float serial[M][3 * 21 * 17], parallel[M][3 * 21 * 17];
    for (int i = 0; i < M; i++) {
        am_tensor v;
        am_augment_view(&a, &img, &v, 7, 1, (uint64_t)i, 0);
        memcpy(serial[i], v.data, sizeof serial[i]);
        am_tensor_free(&v);
    }
    omp_set_num_threads(2);
#pragma omp parallel for schedule(dynamic)
    for (int i = M - 1; i >= 0; i--) {
        am_tensor v;
        am_augment_view(&a, &img, &v, 7, 1, (uint64_t)i, 0);
        memcpy(parallel[i], v.data, sizeof parallel[i]);
        am_tensor_free(&v);
    }
    CHECK(!memcmp(serial, parallel, sizeof serial), "thread count does not change results");

    /* shared: one draw for a whole batch, as torchvision on a batch tensor */
    am_tensor batch;
    fill_image(&batch, 4, 1, 9, 9);
    for (int n = 1; n < 4; n++) memcpy(batch.data + n * 81, batch.data, 81 * 4);
    am_tensor b2;
    am_tensor_clone(&b2, &batch);
    am_rng r;
    am_rng_init(&r, 1, am_rng_stream(0, 0, 0));
    CHECK_OK(am_augment_set(&a, "shared", 1));
    CHECK_OK(am_augment_apply(&a, &batch, &r));
    CHECK(!memcmp(batch.data, batch.data + 3 * 81, 81 * 4), "shared: equal inputs stay equal");
    am_rng_init(&r, 1, am_rng_stream(0, 0, 0));
    CHECK_OK(am_augment_set(&a, "shared", 0));
    CHECK_OK(am_augment_apply(&a, &b2, &r));
    CHECK(memcmp(b2.data, b2.data + 3 * 81, 81 * 4) != 0, "per sample: equal inputs diverge");

    /* probability: hflip alone with p 0.5 flips about half of 4000 draws */
    am_augment f;
    am_augment_none(&f);
    CHECK_OK(am_augment_set_str(&f, "order", "hflip"));
    am_tensor one;
    fill_image(&one, 1, 1, 1, 2);
    one.data[0] = 0;
    one.data[1] = 1;
    int flipped = 0;
    for (int i = 0; i < 4000; i++) {
        am_tensor v;
        am_augment_view(&f, &one, &v, 9, 0, (uint64_t)i, 0);
        flipped += v.data[0] == 1.0f;
        am_tensor_free(&v);
    }
    CHECK(flipped > 1850 && flipped < 2150, "hflip p 0.5: %d of 4000", flipped);
    CHECK_OK(am_augment_set(&f, "hflip.p", 0));
    am_tensor v;
    CHECK_OK(am_augment_view(&f, &one, &v, 9, 0, 0, 0));
    CHECK(v.data[0] == 0.0f, "p 0 never applies");
    am_tensor_free(&v);

    /* a NaN in the batch is refused, not spread */
    one.data[0] = NAN;
    CHECK_FAILS(am_augment_view(&a, &one, &v, 1, 0, 0, 0), AM_ERR_NUMERIC, "NaN");
    am_tensor_free(&one);
    am_tensor_free(&batch);
    am_tensor_free(&b2);
    am_tensor_free(&img);
}

int main(void)
{
    test_d2();
    test_single_transforms();
    test_settings();
    test_pipeline();
    return am_test_finish();
}
