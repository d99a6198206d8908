/* Shared between the FITS files of src/data: open/close with one-line errors, pixel and header
 * reading on an open file (masks and images read from the same code). */
#ifndef AM_DATA_FITS_INTERNAL_H
#define AM_DATA_FITS_INTERNAL_H

#include <fitsio.h>

#include "astromorph/fits.h"

/* Serialise CFITSIO calls when the library is not reentrant (a no-op when it is). */
void am_fits_lock(void);
void am_fits_unlock(void);

/* Opens with one-line errors; max_pixels bounds what a gzip trailer may claim. */
am_status am_fits_open(const char *path, int64_t max_pixels, fitsfile **out);
void am_fits_close(fitsfile *f);
/* Moves to the image HDU (first with pixels, or the named one) and reads it raw (NaN kept). */
am_status am_fits_read_hdu_pixels(fitsfile *f, const char *path, int64_t max_pixels, am_tensor *image);
/* OBJECT/OBSRA/OBSDEC/RESTFRQ and extra keys from the current HDU, then the primary one;
 * sets meta->filepath = path. */
am_status am_fits_header_meta(fitsfile *f, const char *path, const am_fits_options *opt, am_meta *meta);

#endif
