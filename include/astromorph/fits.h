/* Reading FITS images with CFITSIO into float32 C×H×W tensors, NaN-safe, with header metadata.
 *
 * Accepted: 2-D images (C = 1); 3-D cubes, whose third axis becomes channels; 4-D and higher
 * with axes of length 1 beyond the second squeezed (ALMA 1×1×H×W products); any BITPIX with
 * BSCALE/BZERO and BLANK honoured; tile-compressed (.fz) and gzipped (.gz) files. Without an
 * extension in the path, the first HDU that holds an image is read; `file.fits[ext]` (CFITSIO's
 * syntax: number or EXTNAME) names one. Pixel order is the file's: row 0 is FITS row 1, as
 * astropy's `getdata` returns it.
 *
 * Errors are one line naming the file and the problem: "<path>: not a FITS file", "<path>: no
 * image HDU", "<path>: axis 2 has length 0", "<path>: all pixels are NaN or Inf", ... */
#ifndef ASTROMORPH_FITS_H
#define ASTROMORPH_FITS_H

#include <stdint.h>

#include "astromorph/meta.h"
#include "astromorph/status.h"
#include "astromorph/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What replaces NaN/Inf pixels (settings key nan_policy): 0, the image's finite minimum, or
 * its finite median. */
typedef enum { AM_NAN_ZERO = 0, AM_NAN_MIN, AM_NAN_MEDIAN } am_nan_policy;

/* "zero" | "min" | "median". */
am_status am_nan_policy_parse(const char *s, am_nan_policy *out);
const char *am_nan_policy_name(am_nan_policy p);

typedef struct am_fits_options {
    am_nan_policy nan_policy; /* default AM_NAN_ZERO */
    const char *const *extra_keys; /* more header keys copied to am_meta.extra as KEY=value */
    int n_extra_keys;
    int max_channels; /* > 0: more channels than this is an error (what the network takes) */
    int64_t max_pixels; /* > 0: larger images are refused before allocating (default 2^31) */
} am_fits_options;

void am_fits_options_default(am_fits_options *o);

/* Reads one image as a 3-D tensor C×H×W, with NaN/Inf replaced by the policy. Fails with
 * AM_ERR_NUMERIC for an image that is all NaN/Inf or constant (it cannot be min-max
 * normalised). meta may be NULL; otherwise it is initialised and filled (OBJECT, OBSRA,
 * OBSDEC, RESTFRQ read from the image HDU, then the primary header; "N/A" when absent or
 * blank; filepath = path as given) and must be released with am_meta_free. On failure
 * image and meta hold nothing to free. */
am_status am_fits_read(const char *path, const am_fits_options *opt, am_tensor *image, am_meta *meta);

/* Reads the pixels as they are (NaN for BLANK and NaN pixels, no cleaning, no constant
 * check): C×H×W. Used for masks. opt (may be NULL) gives max_pixels. */
am_status am_fits_read_raw(const char *path, const am_fits_options *opt, am_tensor *image);

/* Reads the header metadata only. */
am_status am_fits_read_meta(const char *path, const am_fits_options *opt, am_meta *meta);

/* Replaces NaN/Inf in place by the policy and checks the image can be normalised. `name`
 * goes into the error message. Returns AM_ERR_NUMERIC "<name>: all pixels are NaN or Inf" or
 * "<name>: constant image (every pixel is <v>)"; *n_replaced (may be NULL) counts replaced
 * pixels. */
am_status am_image_clean(am_tensor *image, am_nan_policy policy, const char *name, int64_t *n_replaced);

/* Fails with AM_ERR_SHAPE "<name>: 5 channels, the network takes at most 3" when
 * image->shape[0] > max_channels (max_channels <= 0: no limit). */
am_status am_image_check_channels(const am_tensor *image, int max_channels, const char *name);

/* Writes a C×H×W (or H×W) tensor as a BITPIX -32 FITS image (NAXIS 2 when C == 1), creating
 * or replacing path; meta (may be NULL) adds OBJECT/OBSRA/OBSDEC/RESTFRQ cards unless "N/A".
 * For tests, examples and mask cutouts. */
am_status am_fits_write(const char *path, const am_tensor *image, const am_meta *meta);

#ifdef __cplusplus
}
#endif
#endif
