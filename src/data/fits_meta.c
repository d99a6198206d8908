/* Header metadata (OBJECT, OBSRA, OBSDEC, RESTFRQ, the WCS position, configured keys) for outputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/fits_internal.h"

/* The card's value as text: quotes removed, '' unescaped, blanks trimmed. 0 when absent,
 * undefined or blank, so that the caller writes "N/A" (blank values break TensorBoard search). */
static int card_text(fitsfile *f, const char *key, char *out, size_t len)
{
    char value[FLEN_VALUE] = "", comment[FLEN_COMMENT];
    int st = 0;
    if (fits_read_keyword(f, key, value, comment, &st)) {
        fits_clear_errmsg();
        return 0;
    }
    const char *v = value;
    size_t n = 0;
    if (v[0] == '\'') {
        for (v++; *v && n + 1 < len; v++) {
            if (*v == '\'') {
                if (v[1] != '\'') break;
                v++;
            }
            out[n++] = *v;
        }
    } else {
        while (*v == ' ') v++;
        for (; *v && n + 1 < len; v++) out[n++] = *v;
    }
    while (n > 0 && out[n - 1] == ' ') n--;
    out[n] = '\0';
    size_t lead = strspn(out, " ");
    if (lead) memmove(out, out + lead, n - lead + 1);
    return out[0] != '\0';
}

/* From the current HDU, else from the primary header (where many archives keep OBJECT). */
static int lookup(fitsfile *f, const char *key, char *out, size_t len)
{
    if (card_text(f, key, out, len)) return 1;
    int here = 1, st = 0, type = 0;
    fits_get_hdu_num(f, &here);
    if (here == 1) return 0;
    if (fits_movabs_hdu(f, 1, &type, &st)) {
        fits_clear_errmsg();
        return 0;
    }
    int found = card_text(f, key, out, len);
    st = 0;
    fits_movabs_hdu(f, here, &type, &st);
    fits_clear_errmsg();
    return found;
}

static void fill(fitsfile *f, const char *key, char *dst)
{
    if (!lookup(f, key, dst, AM_META_LEN)) strcpy(dst, "N/A");
}

/* RA/Dec of the image's centre from its WCS, else from OBSRA/OBSDEC. */
static void position(fitsfile *f, am_meta *meta)
{
    int st = 0, naxis = 0;
    long size[3] = {0, 0, 0};
    am_wcs *w = am_fits_wcs(f);
    if (w && !fits_get_img_dim(f, &naxis, &st) && naxis >= 2 && !fits_get_img_size(f, 2, size, &st) &&
        am_wcs_radec(w, (double)(size[0] - 1) / 2, (double)(size[1] - 1) / 2, &meta->ra_deg, &meta->dec_deg)) {
        strcpy(meta->radec_from, "wcs");
    } else {
        double ra = am_parse_angle(meta->ra, 1), dec = am_parse_angle(meta->dec, 0);
        if (isfinite(ra) && isfinite(dec) && ra >= 0 && ra < 360 && fabs(dec) <= 90) {
            meta->ra_deg = ra, meta->dec_deg = dec;
            strcpy(meta->radec_from, "obsra");
        }
    }
    fits_clear_errmsg();
    am_wcs_free(w);
}

am_status am_fits_header_meta(fitsfile *f, const char *path, const am_fits_options *opt, am_meta *meta)
{
    fill(f, "OBJECT", meta->object);
    fill(f, "OBSRA", meta->ra);
    fill(f, "OBSDEC", meta->dec);
    fill(f, "RESTFRQ", meta->restfreq);
    fits_get_hdu_num(f, &meta->hdu);
    position(f, meta);
    meta->filepath = strdup(path);
    if (!meta->filepath) return am_error(AM_ERR_NOMEM, "%s: out of memory for metadata", path);
    if (!opt || opt->n_extra_keys <= 0) return AM_OK;
    size_t cap = 0;
    for (int k = 0; k < opt->n_extra_keys; k++) cap += strlen(opt->extra_keys[k]) + FLEN_VALUE + 2;
    char *extra = malloc(cap + 1);
    if (!extra) return am_error(AM_ERR_NOMEM, "%s: out of memory for metadata", path);
    size_t n = 0;
    extra[0] = '\0';
    for (int k = 0; k < opt->n_extra_keys; k++) {
        char v[FLEN_VALUE];
        if (!lookup(f, opt->extra_keys[k], v, sizeof v)) strcpy(v, "N/A");
        n += (size_t)snprintf(extra + n, cap + 1 - n, "%s%s=%s", k ? ";" : "", opt->extra_keys[k], v);
    }
    meta->extra = extra;
    return AM_OK;
}
