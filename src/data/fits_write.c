/* Writing float32 images as FITS (tests, examples, mask cutouts). */
#include <stdio.h>
#include <string.h>

#include "data/fits_internal.h"

static int put_meta_key(fitsfile *f, const char *key, const char *value, int *st)
{
    if (!value || !strcmp(value, "N/A")) return *st;
    return fits_update_key(f, TSTRING, key, (void *)value, NULL, st);
}

am_status am_fits_write(const char *path, const am_tensor *image, const am_meta *meta)
{
    if (image->ndim != 2 && image->ndim != 3)
        return am_error(AM_ERR_SHAPE, "%s: cannot write a %d-D tensor as an image", path, image->ndim);
    long naxes[3];
    int naxis = 2;
    if (image->ndim == 2) {
        naxes[0] = (long)image->shape[1];
        naxes[1] = (long)image->shape[0];
    } else {
        naxes[0] = (long)image->shape[2];
        naxes[1] = (long)image->shape[1];
        naxes[2] = (long)image->shape[0];
        if (image->shape[0] > 1) naxis = 3;
    }
    char bang[4200];
    snprintf(bang, sizeof bang, "!%s", path); /* '!' makes CFITSIO replace an existing file */
    fitsfile *f = NULL;
    int st = 0;
    am_fits_lock();
    fits_create_file(&f, bang, &st);
    fits_create_img(f, FLOAT_IMG, naxis, naxes, &st);
    fits_write_img(f, TFLOAT, 1, (LONGLONG)am_tensor_numel(image), image->data, &st);
    if (meta) {
        put_meta_key(f, "OBJECT", meta->object, &st);
        put_meta_key(f, "OBSRA", meta->ra, &st);
        put_meta_key(f, "OBSDEC", meta->dec, &st);
        put_meta_key(f, "RESTFRQ", meta->restfreq, &st);
    }
    int st_close = 0;
    if (f) fits_close_file(f, &st_close);
    if (!st) st = st_close;
    am_status s = AM_OK;
    if (st) {
        char txt[FLEN_STATUS];
        fits_get_errstatus(st, txt);
        s = am_error(AM_ERR_IO, "%s: cannot write FITS image (%s)", path, txt);
    }
    fits_clear_errmsg();
    am_fits_unlock();
    return s;
}
