/* Reads a PNG back with libpng, for the tests of the PNG writer and the projector sprite. */
#ifndef AM_TEST_PNG_READBACK_H
#define AM_TEST_PNG_READBACK_H

#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int width, height, channels, depth;
    uint8_t *pixels; /* width*channels bytes per row; free() it */
} png_readback;

/* 1 on success; on failure 0 and no pixels. */
static int png_read_back(const char *path, png_readback *img)
{
    memset(img, 0, sizeof *img);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        free(img->pixels);
        img->pixels = NULL;
        return 0;
    }
    png_init_io(png, f);
    png_read_info(png, info);
    img->width = (int)png_get_image_width(png, info);
    img->height = (int)png_get_image_height(png, info);
    img->channels = png_get_channels(png, info);
    img->depth = png_get_bit_depth(png, info);
    size_t row = png_get_rowbytes(png, info);
    img->pixels = malloc(row * (size_t)img->height);
    for (int y = 0; y < img->height; y++) png_read_row(png, img->pixels + (size_t)y * row, NULL);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    return 1;
}

#endif
