/* Test helpers that write FITS files of every kind with CFITSIO (header-only, static inline). */
#ifndef AM_TEST_FITS_FILES_H
#define AM_TEST_FITS_FILES_H

#include <fitsio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Creates (or replaces) a FITS file for writing HDUs by hand. */
static inline fitsfile *tf_create(const char *path, int *st)
{
    char bang[1100];
    snprintf(bang, sizeof bang, "!%s", path);
    fitsfile *f = NULL;
    fits_create_file(&f, bang, st);
    return f;
}

/* Writes pixels given as doubles, stored raw with the given BITPIX; bscale/bzero cards are
 * added (raw = (value - bzero) / bscale is the caller's business) when bscale != 1 or bzero != 0;
 * blank >= 0 adds a BLANK card. Returns the CFITSIO status. */
static inline int tf_write(const char *path, int bitpix, int naxis, const long *naxes, const double *raw, double bscale,
                           double bzero, long long blank)
{
    int st = 0;
    fitsfile *f = tf_create(path, &st);
    fits_create_img(f, bitpix, naxis, (long *)naxes, &st);
    if (bscale != 1 || bzero != 0) {
        fits_write_key(f, TDOUBLE, "BSCALE", &bscale, NULL, &st);
        fits_write_key(f, TDOUBLE, "BZERO", &bzero, NULL, &st);
        fits_set_bscale(f, 1.0, 0.0, &st); /* store `raw` as given */
    }
    if (blank >= 0) fits_write_key(f, TLONGLONG, "BLANK", &blank, NULL, &st);
    long long n = 1;
    for (int k = 0; k < naxis; k++) n *= naxes[k];
    if (n > 0 && raw) fits_write_img(f, TDOUBLE, 1, n, (double *)raw, &st);
    fits_close_file(f, &st);
    return st;
}

static inline void tf_write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return;
    if (n) fwrite(data, 1, n, fp);
    fclose(fp);
}

/* The first n bytes of src into dst. */
static inline void tf_truncate_copy(const char *src, const char *dst, long n)
{
    FILE *in = fopen(src, "rb");
    if (!in) return;
    char *buf = malloc((size_t)n);
    size_t got = fread(buf, 1, (size_t)n, in);
    fclose(in);
    tf_write_bytes(dst, buf, got);
    free(buf);
}

static inline long tf_file_size(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fclose(fp);
    return n;
}

static inline const char *tf_path(const char *dir, const char *name)
{
    static char bufs[16][1024];
    static int next;
    char *b = bufs[next++ % 16];
    snprintf(b, 1024, "%s/%s", dir, name);
    return b;
}

#endif
