/* Embeddings as a FITS binary table (CFITSIO), the form astronomers open in TOPCAT, astropy and
 * Aladin: one row per image with its file, HDU, OBJECT, position in degrees and where it came
 * from, the header's OBSRA/OBSDEC/RESTFRQ, one column per extra header key, the cluster, the
 * statistics and the embedding as one fixed-length array column. Written under a temporary name
 * and renamed when complete. */
#include <ctype.h>
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "astromorph/embeddings.h"
#include "io/cfitsio_lock.h"

#define EXTNAME "EMBEDDINGS"
enum { MAX_EXTRA = 64, NAME_LEN = 64 };

static am_status fits_fail(int st, const char *path, const char *what)
{
    char txt[FLEN_STATUS];
    fits_get_errstatus(st, txt);
    fits_clear_errmsg();
    return am_error(AM_ERR_IO, "%s: %s (%s)", path, what, txt);
}

/* "N/A" is the metadata's "unknown": an empty cell in a table. */
static const char *cell_text(const char *s) { return !s || !strcmp(s, "N/A") ? "" : s; }

/* The extra keys of all rows ("KEY=value;KEY=value"), in order of first appearance. */
static int extra_keys(const am_embeddings *e, char keys[][NAME_LEN])
{
    int n = 0;
    for (int64_t i = 0; i < e->n; i++) {
        const char *p = e->meta[i].extra;
        while (p && *p) {
            size_t len = strcspn(p, "=;");
            if (p[len] == '=' && len > 0 && len < NAME_LEN) {
                int known = 0;
                for (int k = 0; k < n && !known; k++) known = strlen(keys[k]) == len && !strncmp(keys[k], p, len);
                if (!known && n < MAX_EXTRA) snprintf(keys[n++], NAME_LEN, "%.*s", (int)len, p);
            }
            p += strcspn(p, ";");
            if (*p == ';') p++;
        }
    }
    return n;
}

/* Row i's value of extra key `key` into out ("" when it has none). A value runs to the next ';'
 * outside brackets (a mask box is "[y0:y1,x0:x1]"). */
static void extra_value(const char *extra, const char *key, char *out, size_t size)
{
    out[0] = 0;
    size_t klen = strlen(key);
    for (const char *p = extra; p && *p;) {
        size_t len = strcspn(p, ";");
        if (!strncmp(p, key, klen) && p[klen] == '=') {
            size_t v = len - klen - 1;
            snprintf(out, size, "%.*s", (int)(v < size ? v : size - 1), p + klen + 1);
            return;
        }
        p += len + (p[len] == ';');
    }
}

/* A column name FITS tools accept: letters, digits and '_' ("conc" stays, "m20" stays). */
static void column_name(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = in; *p && n + 1 < size; p++) out[n++] = isalnum((unsigned char)*p) ? *p : '_';
    out[n] = 0;
    if (!n) snprintf(out, size, "COL");
}

typedef struct {
    char name[NAME_LEN], form[24], unit[16], comment[72];
} column;

static void add_col(column *c, int *n, const char *name, const char *form, const char *unit, const char *comment)
{
    column *x = &c[(*n)++];
    snprintf(x->name, sizeof x->name, "%s", name);
    snprintf(x->form, sizeof x->form, "%s", form);
    snprintf(x->unit, sizeof x->unit, "%s", unit);
    snprintf(x->comment, sizeof x->comment, "%s", comment);
}

static size_t widest(const am_embeddings *e, int field)
{
    size_t w = 1;
    for (int64_t i = 0; i < e->n; i++) {
        const am_meta *m = &e->meta[i];
        const char *s = field == 0   ? m->filepath
                        : field == 1 ? m->object
                        : field == 2 ? m->ra
                        : field == 3 ? m->dec
                                     : m->restfreq;
        size_t l = strlen(cell_text(s));
        if (l > w) w = l;
    }
    return w;
}

static int write_table(fitsfile *f, const am_embeddings *e, int *st)
{
    char keys[MAX_EXTRA][NAME_LEN];
    int nextra = extra_keys(e, keys);
    int ncol_max = 12 + nextra + (int)e->nstats;
    column *c = calloc((size_t)ncol_max, sizeof *c);
    if (!c) return *st = MEMORY_ALLOCATION;
    int n = 0;
    char form[24];
    const char *texts[5][2] = {{"FILE", "the image file, as listed (with [ext] if any)"},
                               {"OBJECT", "OBJECT of the header"},
                               {"OBSRA", "OBSRA of the header, as written"},
                               {"OBSDEC", "OBSDEC of the header, as written"},
                               {"RESTFRQ", "RESTFRQ of the header, as written"}};
    for (int t = 0; t < 5; t++) {
        snprintf(form, sizeof form, "%zuA", widest(e, t));
        add_col(c, &n, texts[t][0], form, "", texts[t][1]);
        if (t == 0) add_col(c, &n, "HDU", "J", "", "the HDU the pixels came from (1: primary)");
    }
    add_col(c, &n, "RA", "D", "deg", "right ascension of the image centre");
    add_col(c, &n, "DEC", "D", "deg", "declination of the image centre");
    add_col(c, &n, "RADEC_SRC", "8A", "", "wcs: the image's WCS; obsra: OBSRA/OBSDEC; empty: unknown");
    const int first_extra = n + 1;
    for (int k = 0; k < nextra; k++) {
        size_t w = 1;
        char v[512], name[NAME_LEN];
        for (int64_t i = 0; i < e->n; i++) {
            extra_value(e->meta[i].extra, keys[k], v, sizeof v);
            if (strlen(v) > w) w = strlen(v);
        }
        snprintf(form, sizeof form, "%zuA", w);
        column_name(keys[k], name, sizeof name);
        add_col(c, &n, name, form, "", "extra header key (data_settings.extra_keys) or mask object");
    }
    if (e->labels) add_col(c, &n, "CLUSTER", "J", "", "k-means cluster of the embedding");
    const int first_stat = n + 1;
    for (int64_t k = 0; k < e->nstats; k++) {
        char name[NAME_LEN];
        column_name(e->stat_names[k], name, sizeof name);
        add_col(c, &n, name, "E", "", "morphology statistic (docs/analysis.md)");
    }
    snprintf(form, sizeof form, "%lldE", (long long)e->dim);
    add_col(c, &n, "EMBEDDING", form, "", "the embedding (the vector similarity and maps use)");
    char *ttype[160], *tform[160], *tunit[160]; /* 11 + 64 extra keys + 60 statistics at most */
    for (int k = 0; k < n; k++) ttype[k] = c[k].name, tform[k] = c[k].form, tunit[k] = c[k].unit;
    fits_create_tbl(f, BINARY_TBL, (LONGLONG)e->n, n, ttype, tform, tunit, EXTNAME, st);
    for (int k = 0; k < n && !*st; k++) {
        char key[16];
        snprintf(key, sizeof key, "TTYPE%d", k + 1);
        fits_modify_comment(f, key, c[k].comment, st);
        snprintf(key, sizeof key, "TCOMM%d", k + 1);
        fits_update_key(f, TSTRING, key, c[k].comment, NULL, st);
    }
    int hdu_col = 2, cl_col = first_stat - 1, emb_col = n;
    long null_j = -1;
    char key[16];
    snprintf(key, sizeof key, "TNULL%d", hdu_col);
    fits_update_key(f, TLONG, key, &(long){0}, "0: unknown", st);
    if (e->labels) {
        snprintf(key, sizeof key, "TNULL%d", cl_col);
        fits_update_key(f, TLONG, key, &null_j, NULL, st);
    }
    /* where the variable groups of columns are, for our reader */
    int nx = nextra, ns = (int)e->nstats;
    fits_update_key(f, TINT, "EXTRACOL", (void *)&first_extra, "first extra-key column", st);
    fits_update_key(f, TINT, "NEXTRA", &nx, "extra-key columns", st);
    fits_update_key(f, TINT, "STATCOL", (void *)&first_stat, "first statistics column", st);
    fits_update_key(f, TINT, "NSTATS", &ns, "statistics columns", st);
    long dim = (long)e->dim;
    fits_update_key(f, TLONG, "EMBDIM", &dim, "values per embedding", st);
    if (e->model) fits_update_key(f, TSTRING, "MODEL", e->model, "the model that made the embeddings", st);
    fits_update_key(f, TSTRING, "CREATOR", "astromorph", "https://github.com/onsala-space-observatory/astromorph", st);
    fits_write_date(f, st);
    for (int64_t i = 0; i < e->n && !*st; i++) {
        const am_meta *m = &e->meta[i];
        LONGLONG row = i + 1;
        const char *vals[5] = {cell_text(m->filepath), cell_text(m->object), cell_text(m->ra), cell_text(m->dec),
                               cell_text(m->restfreq)};
        int cols[5] = {1, 3, 4, 5, 6};
        for (int t = 0; t < 5; t++) {
            char *v = (char *)vals[t];
            fits_write_col(f, TSTRING, cols[t], row, 1, 1, &v, st);
        }
        long hdu = m->hdu;
        fits_write_col(f, TLONG, hdu_col, row, 1, 1, &hdu, st);
        double ra = m->radec_from[0] ? m->ra_deg : NAN, dec = m->radec_from[0] ? m->dec_deg : NAN;
        fits_write_col(f, TDOUBLE, 7, row, 1, 1, &ra, st);
        fits_write_col(f, TDOUBLE, 8, row, 1, 1, &dec, st);
        char *from = (char *)m->radec_from;
        fits_write_col(f, TSTRING, 9, row, 1, 1, &from, st);
        for (int k = 0; k < nextra; k++) {
            char v[512], *pv = v;
            extra_value(m->extra, keys[k], v, sizeof v);
            fits_write_col(f, TSTRING, first_extra + k, row, 1, 1, &pv, st);
        }
        if (e->labels) {
            long l = e->labels[i];
            fits_write_col(f, TLONG, cl_col, row, 1, 1, &l, st);
        }
        for (int64_t k = 0; k < e->nstats && first_stat + k < emb_col; k++)
            fits_write_col(f, TFLOAT, first_stat + (int)k, row, 1, 1, &e->stats[i * e->nstats + k], st);
        fits_write_col(f, TFLOAT, emb_col, row, 1, (LONGLONG)e->dim, e->data + i * e->dim, st);
    }
    free(c);
    return *st;
}

am_status am_embeddings_write_fits(const am_embeddings *e, const char *path)
{
    if (e->nstats > 60)
        return am_error(AM_ERR_VALUE, "%s: %lld statistics columns, at most 60", path, (long long)e->nstats);
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len), *bang = malloc(len + 1);
    if (!tmp || !bang) {
        free(tmp), free(bang);
        return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    snprintf(bang, len + 1, "!%s", tmp);
    fitsfile *f = NULL;
    int st = 0;
    am_fits_lock();
    fits_create_file(&f, bang, &st);
    /* an empty primary HDU, as FITS tables have */
    if (!st) fits_create_img(f, BYTE_IMG, 0, NULL, &st);
    if (!st) write_table(f, e, &st);
    int st_close = 0;
    if (f) fits_close_file(f, &st_close);
    if (!st) st = st_close;
    am_status s = st ? fits_fail(st, path, "cannot write the FITS table") : AM_OK;
    am_fits_unlock();
    if (s == AM_OK && rename(tmp, path) != 0) s = am_error(AM_ERR_IO, "%s: cannot rename %s into place", path, tmp);
    if (s != AM_OK) remove(tmp);
    free(tmp), free(bang);
    return s;
}

/* ---- reading (the analysis commands take the table as input too) ---- */

static int col_of(fitsfile *f, const char *name)
{
    int col = 0, st = 0;
    fits_get_colnum(f, CASESEN, (char *)name, &col, &st);
    fits_clear_errmsg();
    return st ? 0 : col;
}

static void read_text(fitsfile *f, int col, LONGLONG row, char *out, size_t size, int *st)
{
    char buf[4096], *p = buf;
    int any = 0;
    buf[0] = 0;
    if (col) fits_read_col(f, TSTRING, col, row, 1, 1, (char *)"", &p, &any, st);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == ' ') buf[--n] = 0; /* FITS pads text with blanks */
    snprintf(out, size, "%s", buf[0] ? buf : "N/A");
}

static am_status read_table(fitsfile *f, am_embeddings *e, const char *path, int *st)
{
    LONGLONG nrows = 0;
    long dim = 0;
    fits_get_num_rowsll(f, &nrows, st);
    int emb = col_of(f, "EMBEDDING");
    if (*st) return fits_fail(*st, path, "cannot read the table");
    if (!emb) return am_error(AM_ERR_FORMAT, "%s: the table has no EMBEDDING column", path);
    int type = 0;
    long repeat = 0, width = 0;
    fits_get_coltype(f, emb, &type, &repeat, &width, st);
    dim = repeat;
    if (*st || dim < 1 || nrows < 0 || (double)nrows * (double)dim > 4e9)
        return am_error(AM_ERR_FORMAT, "%s: EMBEDDING is not a vector column of a sane size", path);
    AM_TRY(am_embeddings_alloc(e, (int64_t)nrows, dim));
    int c_file = col_of(f, "FILE"), c_obj = col_of(f, "OBJECT"), c_ra = col_of(f, "OBSRA"), c_dec = col_of(f, "OBSDEC");
    int c_freq = col_of(f, "RESTFRQ"), c_hdu = col_of(f, "HDU"), c_rad = col_of(f, "RA"), c_decd = col_of(f, "DEC");
    int c_src = col_of(f, "RADEC_SRC"), c_cl = col_of(f, "CLUSTER");
    int extra_col = 0, nextra = 0, stat_col = 0, nstats = 0, kst = 0;
    fits_read_key(f, TINT, "EXTRACOL", &extra_col, NULL, &kst), kst = 0;
    fits_read_key(f, TINT, "NEXTRA", &nextra, NULL, &kst), kst = 0;
    fits_read_key(f, TINT, "STATCOL", &stat_col, NULL, &kst), kst = 0;
    fits_read_key(f, TINT, "NSTATS", &nstats, NULL, &kst), kst = 0;
    fits_clear_errmsg();
    int ncols = 0;
    fits_get_num_cols(f, &ncols, st);
    if (nextra < 0 || nextra > MAX_EXTRA || (nextra && (extra_col < 1 || extra_col + nextra - 1 > ncols))) nextra = 0;
    if (nstats < 0 || nstats > 60 || (nstats && (stat_col < 1 || stat_col + nstats - 1 > ncols))) nstats = 0;
    char model[FLEN_VALUE] = "";
    kst = 0;
    if (!fits_read_key(f, TSTRING, "MODEL", model, NULL, &kst)) AM_TRY(am_embeddings_set_model(e, model));
    fits_clear_errmsg();
    char names[60][NAME_LEN], *name_ptr[60];
    for (int k = 0; k < nstats; k++) {
        char key[16];
        snprintf(key, sizeof key, "TTYPE%d", stat_col + k);
        kst = 0;
        if (fits_read_key(f, TSTRING, key, names[k], NULL, &kst)) snprintf(names[k], NAME_LEN, "stat%d", k);
        name_ptr[k] = names[k];
    }
    fits_clear_errmsg();
    if (nstats) AM_TRY(am_embeddings_set_stats(e, nstats, (const char *const *)name_ptr, NULL));
    int32_t *labels = c_cl ? malloc((size_t)(nrows ? nrows : 1) * sizeof *labels) : NULL;
    if (c_cl && !labels) return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    am_status s = AM_OK;
    for (LONGLONG r = 1; r <= nrows && !*st && s == AM_OK; r++) {
        am_meta *m = &e->meta[r - 1];
        char file[4096], extra[4096] = "";
        int any = 0;
        read_text(f, c_file, r, file, sizeof file, st);
        if (strcmp(file, "N/A") && !(m->filepath = strdup(file))) s = am_error(AM_ERR_NOMEM, "%s: out of memory", path);
        read_text(f, c_obj, r, m->object, sizeof m->object, st);
        read_text(f, c_ra, r, m->ra, sizeof m->ra, st);
        read_text(f, c_dec, r, m->dec, sizeof m->dec, st);
        read_text(f, c_freq, r, m->restfreq, sizeof m->restfreq, st);
        if (c_hdu) fits_read_col(f, TINT, c_hdu, r, 1, 1, NULL, &m->hdu, &any, st);
        char src[16] = "";
        if (c_src) read_text(f, c_src, r, src, sizeof src, st);
        double ra = NAN, dec = NAN;
        if (c_rad) fits_read_col(f, TDOUBLE, c_rad, r, 1, 1, NULL, &ra, &any, st);
        if (c_decd) fits_read_col(f, TDOUBLE, c_decd, r, 1, 1, NULL, &dec, &any, st);
        if (strcmp(src, "N/A") && isfinite(ra) && isfinite(dec) && ra >= 0 && ra < 360 && fabs(dec) <= 90) {
            snprintf(m->radec_from, sizeof m->radec_from, "%s", src);
            m->ra_deg = ra, m->dec_deg = dec;
        }
        for (int k = 0; k < nextra; k++) {
            char key[16], kname[FLEN_VALUE] = "", v[1024];
            snprintf(key, sizeof key, "TTYPE%d", extra_col + k);
            kst = 0;
            fits_read_key(f, TSTRING, key, kname, NULL, &kst);
            read_text(f, extra_col + k, r, v, sizeof v, st);
            if (!strcmp(v, "N/A")) continue;
            size_t n = strlen(extra);
            snprintf(extra + n, sizeof extra - n, "%s%s=%s", n ? ";" : "", kname, v);
        }
        if (extra[0] && !(m->extra = strdup(extra))) s = am_error(AM_ERR_NOMEM, "%s: out of memory", path);
        if (labels) {
            int l = -1;
            fits_read_col(f, TINT, c_cl, r, 1, 1, NULL, &l, &any, st);
            labels[r - 1] = l;
            if (l < 0 || l > AM_EMB_MAX_LABEL) s = am_error(AM_ERR_FORMAT, "%s: row %lld: CLUSTER %d", path, r, l);
        }
        for (int k = 0; k < nstats; k++)
            fits_read_col(f, TFLOAT, stat_col + k, r, 1, 1, NULL, &e->stats[(r - 1) * nstats + k], &any, st);
        fits_read_col(f, TFLOAT, emb, r, 1, dim, NULL, e->data + (r - 1) * dim, &any, st);
    }
    if (s == AM_OK && *st) s = fits_fail(*st, path, "cannot read the table");
    if (s == AM_OK && labels) s = am_embeddings_set_labels(e, labels);
    free(labels);
    return s;
}

am_status am_embeddings_read_fits(am_embeddings *e, const char *path)
{
    memset(e, 0, sizeof *e);
    fitsfile *f = NULL;
    int st = 0;
    am_fits_lock();
    fits_open_file(&f, path, READONLY, &st);
    if (!st) fits_movnam_hdu(f, BINARY_TBL, EXTNAME, 0, &st);
    am_status s = st ? fits_fail(st, path, "no " EXTNAME " table") : read_table(f, e, path, &st);
    int st_close = 0;
    if (f) fits_close_file(f, &st_close);
    fits_clear_errmsg();
    am_fits_unlock();
    if (s != AM_OK) am_embeddings_free(e);
    return s;
}
