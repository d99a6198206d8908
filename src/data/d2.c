/* The four D2 copies of an image (identity, rot180, flip left-right, flip up-down), with the
 * channels replicated `stacksize` times: one batch of equal-sized images for BatchNorm. */
#include <string.h>

#include "astromorph/augment.h"

static am_status image_dims(const am_tensor *image, int stacksize, int64_t *c, int64_t *h, int64_t *w)
{
    if (stacksize < 1) return am_error(AM_ERR_VALUE, "stacksize %d: must be at least 1", stacksize);
    if (image->ndim == 3) {
        *c = image->shape[0];
        *h = image->shape[1];
        *w = image->shape[2];
    } else if (image->ndim == 4 && image->shape[0] == 1) {
        *c = image->shape[1];
        *h = image->shape[2];
        *w = image->shape[3];
    } else {
        char buf[64];
        return am_error(AM_ERR_SHAPE, "D2 copies: image is %s, need CxHxW",
                        am_tensor_shape_str(image, buf, sizeof buf));
    }
    return AM_OK;
}

/* dst plane = src plane mirrored: rows when flip_rows, columns when flip_cols. */
static void copy_plane(const float *src, float *dst, int64_t h, int64_t w, int flip_rows, int flip_cols)
{
    for (int64_t y = 0; y < h; y++) {
        const float *s = src + (flip_rows ? h - 1 - y : y) * w;
        float *d = dst + y * w;
        if (!flip_cols) {
            memcpy(d, s, (size_t)w * sizeof *d);
        } else {
            for (int64_t x = 0; x < w; x++) d[x] = s[w - 1 - x];
        }
    }
}

am_status am_d2_copies(const am_tensor *image, int stacksize, am_tensor *out)
{
    int64_t c, h, w;
    AM_TRY(image_dims(image, stacksize, &c, &h, &w));
    int64_t cs = c * stacksize;
    AM_TRY(am_tensor_alloc4(out, 4, cs, h, w));
    /* identity, rot180 (both axes), flip left-right (columns), flip up-down (rows) */
    static const int flips[4][2] = {{0, 0}, {1, 1}, {0, 1}, {1, 0}};
    for (int n = 0; n < 4; n++)
        for (int64_t k = 0; k < cs; k++)
            copy_plane(image->data + (k % c) * h * w, out->data + (n * cs + k) * h * w, h, w, flips[n][0], flips[n][1]);
    return AM_OK;
}

void am_sum_channels(am_tensor *image)
{
    am_sum_planes(image->data, image->shape[0], image->shape[1] * image->shape[2], image->data);
    image->shape[0] = 1;
}

am_status am_stack_channels(const am_tensor *image, int stacksize, am_tensor *out)
{
    int64_t c, h, w;
    AM_TRY(image_dims(image, stacksize, &c, &h, &w));
    AM_TRY(am_tensor_alloc4(out, 1, c * stacksize, h, w));
    for (int s = 0; s < stacksize; s++)
        memcpy(out->data + s * c * h * w, image->data, (size_t)(c * h * w) * sizeof(float));
    return AM_OK;
}
