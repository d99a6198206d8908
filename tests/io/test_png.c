/* PNG writer: every pixel format read back with libpng, strides, atomic output, errors. */
#include <stdlib.h>
#include <string.h>

#include "astromorph/png.h"
#include "png_readback.h"
#include "test_util.h"

static void test_formats(void)
{
    const int w = 37, h = 23;
    for (int c = 1; c <= 4; c++) {
        /* Rows padded to a stride, with garbage in the padding that must not reach the file. */
        size_t stride = (size_t)w * (size_t)c + 5;
        uint8_t *px = malloc(stride * h);
        memset(px, 0xEE, stride * h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w * c; x++) px[(size_t)y * stride + (size_t)x] = (uint8_t)(x * 7 + y * 13 + c);
        char path[512];
        snprintf(path, sizeof path, "%s/img%d.png", am_test_tmpdir(), c);
        CHECK_OK(am_png_write(path, px, w, h, c, stride));
        png_readback img;
        CHECK(png_read_back(path, &img), "libpng cannot read %s", path);
        if (img.pixels) {
            CHECK(img.width == w && img.height == h && img.channels == c && img.depth == 8,
                  "%d channels: read %dx%d, %d channels, depth %d", c, img.width, img.height, img.channels, img.depth);
            int bad = 0;
            for (int y = 0; y < h && img.width == w && img.channels == c; y++)
                bad += memcmp(img.pixels + (size_t)y * w * c, px + (size_t)y * stride, (size_t)w * c) != 0;
            CHECK(bad == 0, "%d channels: %d rows differ", c, bad);
            free(img.pixels);
        }
        free(px);
    }
}

static void test_errors(void)
{
    uint8_t px[16] = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/bad.png", am_test_tmpdir());
    CHECK_FAILS(am_png_write(path, px, 2, 2, 5, 0), AM_ERR_VALUE, "channels");
    CHECK_FAILS(am_png_write(path, px, 0, 2, 1, 0), AM_ERR_VALUE, "size");
    CHECK_FAILS(am_png_write(path, px, 4, 2, 2, 4), AM_ERR_VALUE, "stride");
    FILE *f = fopen(path, "rb");
    CHECK(f == NULL, "a refused write left %s behind", path);
    if (f) fclose(f);
    CHECK_FAILS(am_png_write("/nonexistent-dir/x.png", px, 2, 2, 1, 0), AM_ERR_IO, "/nonexistent-dir/x.png");
}

int main(void)
{
    test_formats();
    test_errors();
    return am_test_finish();
}
