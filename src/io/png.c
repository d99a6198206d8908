/* PNG writer on libpng; the file is written under a temporary name and renamed when complete. */
#include "astromorph/png.h"

#include <png.h>
#include <setjmp.h>

#include "astromorph/runtime.h"

/* libpng reports errors by longjmp; its message is kept for am_error. */
static void png_err(png_structp png, png_const_charp msg)
{
    am_error(AM_ERR_IO, "%s", msg);
    png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static am_status write_rows(FILE *fp, const uint8_t *pixels, int width, int height, int color_type, size_t stride)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_err, png_warn);
    if (!png) return am_error(AM_ERR_NOMEM, "out of memory");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return am_error(AM_ERR_NOMEM, "out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return AM_ERR_IO;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, color_type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) png_write_row(png, pixels + (size_t)y * stride);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return AM_OK;
}

am_status am_png_write(const char *path, const uint8_t *pixels, int width, int height, int channels, size_t stride)
{
    static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                 PNG_COLOR_TYPE_RGB_ALPHA};
    if (!path || !pixels) return am_error(AM_ERR_VALUE, "png: no path or no pixels");
    if (channels < 1 || channels > 4)
        return am_error(AM_ERR_VALUE, "%s: %d channels (PNG takes 1 to 4)", path, channels);
    /* PNG's limit is 2^31-1 per side; keep rows addressable too. */
    if (width <= 0 || height <= 0 || width > (1 << 24) || height > (1 << 24))
        return am_error(AM_ERR_VALUE, "%s: bad size %dx%d", path, width, height);
    size_t row = (size_t)width * (size_t)channels;
    if (stride == 0) stride = row;
    if (stride < row) return am_error(AM_ERR_VALUE, "%s: stride %zu shorter than a row (%zu)", path, stride, row);

    am_atomic_file af;
    AM_TRY(am_atomic_open(&af, path, 1));
    am_status s = write_rows(af.fp, pixels, width, height, types[channels], stride);
    if (s != AM_OK) {
        am_error_prefix(s, "%s", path);
        am_atomic_abort(&af);
        return s;
    }
    return am_atomic_commit(&af);
}
