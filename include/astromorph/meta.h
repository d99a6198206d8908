/* Per-image metadata carried from the FITS header to every output (CSV, projector, figures). */
#ifndef ASTROMORPH_META_H
#define ASTROMORPH_META_H

#include <stddef.h>
#include <stdint.h>

#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AM_META_LEN 72 /* a FITS string value fits in 68 characters */

typedef struct am_meta {
    char object[AM_META_LEN]; /* OBJECT, or "N/A" */
    char ra[AM_META_LEN]; /* OBSRA */
    char dec[AM_META_LEN]; /* OBSDEC */
    char restfreq[AM_META_LEN]; /* RESTFRQ */
    /* The image's position: from its WCS at the centre pixel (or, for a mask object, at its box's
     * centre) when the header has one, else OBSRA/OBSDEC read as degrees or sexagesimal. */
    double ra_deg, dec_deg; /* NAN when unknown */
    char radec_from[8]; /* "wcs", "obsra" or "" (unknown) */
    int hdu; /* the 1-based HDU the pixels came from (0: unknown) */
    char *filepath; /* as given in the data list (with [ext] if any) */
    char *extra; /* "KEY=value;KEY=value" (configured keys, mask label and box), or NULL */
} am_meta;

/* Sets every field to "N/A" / NULL / NAN. */
void am_meta_init(am_meta *m);
am_status am_meta_copy(am_meta *dst, const am_meta *src);
void am_meta_free(am_meta *m);

/* The value of extra key `key` ("KEY=value;KEY=value", a value running to the next ';') into
 * out; "" when the row has none. */
void am_meta_extra_value(const am_meta *m, const char *key, char *out, size_t size);
/* The extra keys of n rows, in order of first appearance, at most max of up to 63 characters;
 * returns how many. */
int am_meta_extra_keys(const am_meta *rows, int64_t n, char (*keys)[64], int max);

#ifdef __cplusplus
}
#endif
#endif
