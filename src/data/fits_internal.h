/* Shared between the FITS files of src/data: open/close with one-line errors, pixel and header
 * reading on an open file (masks and images read from the same code). */
#ifndef AM_DATA_FITS_INTERNAL_H
#define AM_DATA_FITS_INTERNAL_H

#include <fitsio.h>

#include "astromorph/fits.h"

#include "io/cfitsio_lock.h"

/* Opens with one-line errors; max_pixels bounds what a gzip trailer may claim. */
am_status am_fits_open(const char *path, int64_t max_pixels, fitsfile **out);
void am_fits_close(fitsfile *f);
/* Moves to the image HDU (first with pixels, or the named one) and reads it raw (NaN kept). */
am_status am_fits_read_hdu_pixels(fitsfile *f, const char *path, int64_t max_pixels, am_tensor *image);
/* OBJECT/OBSRA/OBSDEC/RESTFRQ and extra keys from the current HDU, then the primary one;
 * sets meta->filepath = path. */
am_status am_fits_header_meta(fitsfile *f, const char *path, const am_fits_options *opt, am_meta *meta);

/* The celestial WCS of the current HDU (fits_wcs.c, wcslib), or NULL when it has none that gives
 * RA/Dec. am_wcs_radec: RA, Dec in degrees of the 0-based pixel (x, y) of the image plane; 0
 * when that pixel has no position. */
typedef struct am_wcs am_wcs;
am_wcs *am_fits_wcs(fitsfile *f);
int am_wcs_radec(const am_wcs *w, double x, double y, double *ra, double *dec);
void am_wcs_free(am_wcs *w);
/* Degrees from "12.5" or sexagesimal text (hours for RA); NAN when it is neither. */
double am_parse_angle(const char *text, int hours);

#endif
