/* Mask datasets: 8-connected objects or labels cut to their bounding boxes, outside pixels 0,
 * size limits, metadata with label and box, and mismatched or bad masks named. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/dataset.h"
#include "astromorph/runtime.h"
#include "fits_files.h"
#include "test_util.h"

enum { H = 30, W = 40 };
static const char *dir;
static double image[H * W];

static void write_mask(const char *name, const double *mask)
{
    long nx[2] = {W, H};
    tf_write(tf_path(dir, name), SHORT_IMG, 2, nx, mask, 1, 0, -1);
}

static void rect(double *m, int y0, int y1, int x0, int x1, double v)
{
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) m[y * W + x] = v;
}

static void test_binary(void)
{
    double mask[H * W] = {0};
    /* Objects are numbered in reading order, as scipy.ndimage.label does: C, A, B. */
    rect(mask, 2, 10, 3, 9, 1); /* object A: 8x6 */
    rect(mask, 10, 14, 9, 15, 1); /* touches A only at a corner: 8-connected, same object */
    rect(mask, 20, 28, 20, 35, 1); /* object B: 8x15 */
    mask[21 * W + 22] = 0; /* a hole inside B: outside the object, so 0 */
    rect(mask, 1, 3, 30, 32, 1); /* object C: 2x2, below min_object_size */
    write_mask("binary.fits", mask);
    am_dataset_options o;
    am_dataset_options_default(&o);
    o.min_object_size = 3;
    am_dataset *ds = NULL;
    CHECK_OK(am_dataset_open_mask(&ds, tf_path(dir, "image.fits"), tf_path(dir, "binary.fits"), &o));
    if (!ds) return;
    CHECK(am_dataset_size(ds) == 2, "two objects large enough, got %lld", (long long)am_dataset_size(ds));
    am_tensor t;
    am_meta m;
    CHECK_OK(am_dataset_get(ds, 0, &t, &m));
    CHECK(t.shape[1] == 12 && t.shape[2] == 12, "A with its diagonal neighbour: 12x12 box, got %lldx%lld",
          (long long)t.shape[1], (long long)t.shape[2]);
    CHECK(m.extra && !strcmp(m.extra, "label=2;box=[2:14,3:15]"), "A meta: %s", m.extra ? m.extra : "(null)");
    CHECK(!strcmp(m.object, "Field"), "image header metadata: %s", m.object);
    CHECK(t.data[0] == (float)image[2 * W + 3], "inside pixel kept");
    CHECK(t.data[11] == 0.0f, "outside pixel (row 2, col 14) is 0");
    CHECK(t.data[8 * 12 + 6] == (float)image[10 * W + 9], "second part of A kept");
    am_tensor_free(&t);
    am_meta_free(&m);
    CHECK_OK(am_dataset_get(ds, 1, &t, &m));
    CHECK(t.shape[1] == 8 && t.shape[2] == 15, "B 8x15");
    CHECK(t.data[1 * 15 + 2] == 0.0f, "hole in B is 0");
    CHECK(t.data[0] == (float)image[20 * W + 20], "B corner");
    CHECK(strstr(am_dataset_name(ds, 1), "image.fits#label=3") != NULL, "name %s", am_dataset_name(ds, 1));
    am_tensor_free(&t);
    am_meta_free(&m);
    am_dataset_free(ds);

    /* min_object_pixels leaves out the smaller one */
    o.min_object_size = 1;
    o.min_object_pixels = 60;
    CHECK_OK(am_dataset_open_mask(&ds, tf_path(dir, "image.fits"), tf_path(dir, "binary.fits"), &o));
    CHECK(ds && am_dataset_size(ds) == 2, "C (4 pixels) dropped by pixel count");
    am_dataset_free(ds);
    o.min_object_pixels = 100000;
    CHECK_FAILS(am_dataset_open_mask(&ds, tf_path(dir, "image.fits"), tf_path(dir, "binary.fits"), &o), AM_ERR_VALUE,
                "binary.fits: no object");
}

static void test_labels(void)
{
    double mask[H * W] = {0};
    rect(mask, 2, 8, 2, 8, 7); /* label 7, in two parts */
    rect(mask, 20, 26, 30, 38, 7);
    rect(mask, 10, 18, 10, 20, 3); /* label 3 */
    write_mask("labels.fits", mask);
    am_dataset *ds = NULL;
    am_dataset_options o;
    am_dataset_options_default(&o);
    CHECK_OK(am_dataset_open_mask(&ds, tf_path(dir, "image.fits"), tf_path(dir, "labels.fits"), &o));
    if (!ds) return;
    CHECK(am_dataset_size(ds) == 2, "one item per label: %lld", (long long)am_dataset_size(ds));
    am_meta m;
    am_tensor t;
    CHECK_OK(am_dataset_get(ds, 0, &t, &m));
    CHECK(m.extra && !strcmp(m.extra, "label=3;box=[10:18,10:20]"), "label 3 first: %s", m.extra);
    am_tensor_free(&t);
    am_meta_free(&m);
    CHECK_OK(am_dataset_get(ds, 1, &t, &m));
    CHECK(m.extra && !strcmp(m.extra, "label=7;box=[2:26,2:38]"), "label 7 spans both parts: %s", m.extra);
    CHECK(t.shape[1] == 24 && t.shape[2] == 36 && t.data[10 * 36 + 10] == 0.0f, "gap between the parts is 0");
    am_tensor_free(&t);
    am_meta_free(&m);
    am_dataset_free(ds);

    /* the same mask read as binary: label 7's parts and label 3 are three objects */
    o.mask_mode = AM_MASK_BINARY;
    CHECK_OK(am_dataset_open_mask(&ds, tf_path(dir, "image.fits"), tf_path(dir, "labels.fits"), &o));
    CHECK(ds && am_dataset_size(ds) == 3, "binary mode: 3 objects");
    am_dataset_free(ds);

    double frac[H * W] = {0};
    rect(frac, 2, 8, 2, 8, 2.5);
    long nx[2] = {W, H};
    tf_write(tf_path(dir, "fraction.fits"), FLOAT_IMG, 2, nx, frac, 1, 0, -1);
    CHECK_FAILS(am_dataset_open_mask(&ds, tf_path(dir, "image.fits"), tf_path(dir, "fraction.fits"), NULL),
                AM_ERR_VALUE, "fraction.fits: value 2.5 at row 2, column 2 is not an integer label");
}

static void test_nan_and_errors(void)
{
    /* NaN inside an object is filled from the object's own pixels (median policy) */
    double img2[H * W];
    memcpy(img2, image, sizeof img2);
    img2[5 * W + 5] = NAN;
    long nx[2] = {W, H};
    tf_write(tf_path(dir, "nanimage.fits"), FLOAT_IMG, 2, nx, img2, 1, 0, -1);
    double mask[H * W] = {0};
    rect(mask, 4, 7, 4, 7, 1); /* 3x3 around the NaN */
    write_mask("small.fits", mask);
    am_dataset_options o;
    am_dataset_options_default(&o);
    o.min_object_size = 3;
    o.fits.nan_policy = AM_NAN_MEDIAN;
    am_dataset *ds = NULL;
    CHECK_OK(am_dataset_open_mask(&ds, tf_path(dir, "nanimage.fits"), tf_path(dir, "small.fits"), &o));
    if (ds) {
        am_tensor t;
        CHECK_OK(am_dataset_get(ds, 0, &t, NULL));
        float v[8];
        int k = 0;
        for (int i = 0; i < 9; i++)
            if (i != 4) v[k++] = t.data[i];
        /* the 8 finite values' upper median */
        for (int a = 0; a < 8; a++)
            for (int b = a + 1; b < 8; b++)
                if (v[b] < v[a]) {
                    float s = v[a];
                    v[a] = v[b];
                    v[b] = s;
                }
        CHECK(t.data[4] == v[4], "NaN filled with the object's median %g, got %g", v[4], t.data[4]);
        am_tensor_free(&t);
        am_dataset_free(ds);
    }

    /* Shape mismatch names both files */
    double other[10 * 12] = {0};
    long nx2[2] = {12, 10};
    other[5] = 1;
    tf_write(tf_path(dir, "othermask.fits"), SHORT_IMG, 2, nx2, other, 1, 0, -1);
    CHECK_FAILS(am_dataset_open_mask(&ds, tf_path(dir, "image.fits"), tf_path(dir, "othermask.fits"), NULL),
                AM_ERR_SHAPE, "othermask.fits: mask is 10x12, image ");
    CHECK(strstr(am_errmsg(), "image.fits is 30x40") != NULL, "image named: %s", am_errmsg());
    CHECK_FAILS(am_dataset_open_mask(&ds, tf_path(dir, "image.fits"), tf_path(dir, "nomask.fits"), NULL), AM_ERR_IO,
                "nomask.fits: cannot open");
    CHECK_FAILS(am_dataset_open_mask(&ds, tf_path(dir, "noimage.fits"), tf_path(dir, "small.fits"), NULL), AM_ERR_IO,
                "noimage.fits: cannot open");
    /* A cube as mask */
    double cube[2 * H * W];
    memset(cube, 0, sizeof cube);
    long nx3[3] = {W, H, 2};
    tf_write(tf_path(dir, "cubemask.fits"), SHORT_IMG, 3, nx3, cube, 1, 0, -1);
    CHECK_FAILS(am_dataset_open_mask(&ds, tf_path(dir, "image.fits"), tf_path(dir, "cubemask.fits"), NULL),
                AM_ERR_SHAPE, "cubemask.fits: mask has 2 planes");
    /* A constant object is left out with a warning, not turned into NaN */
    double flat[H * W];
    for (int i = 0; i < H * W; i++) flat[i] = 4;
    tf_write(tf_path(dir, "flatimage.fits"), FLOAT_IMG, 2, nx, flat, 1, 0, -1);
    memset(mask, 0, sizeof mask);
    rect(mask, 2, 8, 2, 8, 1); /* a square: fills its box, constant */
    rect(mask, 10, 20, 10, 13, 1); /* an L: flat, but its shape shows against 0 */
    rect(mask, 17, 20, 13, 20, 1);
    write_mask("flatmask.fits", mask);
    o.fits.nan_policy = AM_NAN_ZERO;
    CHECK_OK(am_dataset_open_mask(&ds, tf_path(dir, "flatimage.fits"), tf_path(dir, "flatmask.fits"), &o));
    if (ds) {
        CHECK(am_dataset_size(ds) == 1 && am_dataset_n_skipped(ds) == 1, "constant square left out, L kept");
        am_dataset_free(ds);
    }
    memset(mask, 0, sizeof mask);
    rect(mask, 2, 8, 2, 8, 1);
    write_mask("flatmask.fits", mask);
    CHECK_FAILS(am_dataset_open_mask(&ds, tf_path(dir, "flatimage.fits"), tf_path(dir, "flatmask.fits"), &o),
                AM_ERR_VALUE, "flatmask.fits: no usable object (1 left out");
}

int main(void)
{
    dir = am_test_tmpdir();
    for (int i = 0; i < H * W; i++) image[i] = 100.0 + (i % W) * 1.5 + (i / W) * 0.25 + (i * 7919 % 13);
    long nx[2] = {W, H};
    tf_write(tf_path(dir, "image.fits"), DOUBLE_IMG, 2, nx, image, 1, 0, -1);
    fitsfile *f = NULL;
    int st = 0;
    fits_open_file(&f, tf_path(dir, "image.fits"), READWRITE, &st);
    fits_write_key(f, TSTRING, "OBJECT", "Field", NULL, &st);
    fits_close_file(f, &st);
    am_log_set_sink(NULL, NULL);
    test_binary();
    test_labels();
    test_nan_and_errors();
    return am_test_finish();
}
