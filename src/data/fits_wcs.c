/* Sky positions of images from their World Coordinate System (wcslib): the header as CFITSIO
 * read it, parsed by wcspih, the celestial axes found, pixels mapped to RA/Dec by wcsp2s. Headers
 * whose WCS wcslib cannot use (no celestial axes, a galactic or ecliptic frame, a projection it
 * refuses) give no position, and the caller falls back to OBSRA/OBSDEC as the original does. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wcslib/wcs.h>
#include <wcslib/wcshdr.h>

#include "data/fits_internal.h"

struct am_wcs {
    struct wcsprm *all; /* every description wcspih found; the primary one is used */
    int nwcs;
};

void am_wcs_free(am_wcs *w)
{
    if (!w) return;
    wcsvfree(&w->nwcs, &w->all);
    free(w);
}

am_wcs *am_fits_wcs(fitsfile *f)
{
    char *hdr = NULL;
    int nkeys = 0, st = 0;
    if (fits_hdr2str(f, 1, NULL, 0, &hdr, &nkeys, &st)) {
        fits_clear_errmsg();
        return NULL;
    }
    am_wcs *w = calloc(1, sizeof *w);
    int nreject = 0, ok = 0;
    /* WCSHDR_all: the usual non-standard spellings too; ctrl 0: nothing printed */
    if (w && wcspih(hdr, nkeys, WCSHDR_all, 0, &nreject, &w->nwcs, &w->all) == 0 && w->nwcs > 0) {
        struct wcsprm *p = &w->all[0];
        ok = wcsset(p) == 0 && p->lng >= 0 && p->lat >= 0 && p->naxis >= 2 && p->naxis <= 64 &&
             !strncmp(p->lngtyp, "RA", 2) && !strncmp(p->lattyp, "DEC", 3);
    }
    st = 0;
    fits_free_memory(hdr, &st);
    if (!ok) {
        am_wcs_free(w);
        return NULL;
    }
    return w;
}

int am_wcs_radec(const am_wcs *w, double x, double y, double *ra, double *dec)
{
    struct wcsprm *p = &w->all[0];
    double pix[64], img[64], world[64], phi, theta;
    int stat = 0;
    /* the image plane is FITS axes 1 and 2 (1-based pixels); other axes at their reference */
    for (int i = 0; i < p->naxis; i++) pix[i] = i == 0 ? x + 1 : i == 1 ? y + 1 : p->crpix[i];
    if (wcsp2s(p, 1, p->naxis, pix, img, &phi, &theta, world, &stat) || stat) return 0;
    double a = world[p->lng], d = world[p->lat];
    if (!isfinite(a) || !isfinite(d) || fabs(d) > 90) return 0;
    a = fmod(a, 360.0);
    *ra = a < 0 ? a + 360.0 : a;
    *dec = d;
    return 1;
}

/* "12.5" (degrees), or sexagesimal "12:30:00", "12 30 00", "12h30m00s" / "-30d15m00s" (hours
 * for RA): degrees, or NAN when the text is none of these. */
double am_parse_angle(const char *text, int hours)
{
    const char *p = text;
    while (isspace((unsigned char)*p)) p++;
    int neg = *p == '-';
    if (*p == '-' || *p == '+') p++;
    double part[3] = {0, 0, 0};
    int n = 0;
    while (n < 3) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v) || v < 0) break;
        part[n++] = v;
        p = end;
        while (*p && strchr(" :hdm'\"s", *p)) p++;
        if (!*p) break;
    }
    if (n == 0 || *p) return NAN;
    /* one number is degrees (what OBSRA holds in most archives); a negative RA is none */
    if (n == 1) return neg ? (hours ? NAN : -part[0]) : part[0];
    if (part[1] >= 60 || part[2] >= 60) return NAN;
    double v = part[0] + part[1] / 60 + part[2] / 3600;
    if (hours) v *= 15;
    return neg ? -v : v;
}
