/* Embeddings as a FITS binary table (CFITSIO), the form astronomers open in TOPCAT, astropy and
 * Aladin: one row per image with its file, HDU, OBJECT, position in degrees and where it came
 * from, the header's OBSRA/OBSDEC/RESTFRQ, one column per extra header key, the cluster, the
 * statistics and the embedding as one fixed-length array column. Written under a temporary name
 * and renamed when complete. */
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "astromorph/embeddings.h"
#include "io/cfitsio_lock.h"
#include "io/emb_table.h"

#define EXTNAME "EMBEDDINGS"
enum { MAX_EXTRA = 64, NAME_LEN = 64 };

static am_status fits_fail(int st, const char *path, const char *what)
{
    char txt[FLEN_STATUS];
    fits_get_errstatus(st, txt);
    fits_clear_errmsg();
    return am_error(AM_ERR_IO, "%s: %s (%s)", path, what, txt);
}

static int write_table(fitsfile *f, const emb_table *t, int *st)
{
    const am_embeddings *e = t->e;
    int n = t->ncols;
    char **ttype = calloc((size_t)n, sizeof *ttype), **tform = calloc((size_t)n, sizeof *tform);
    char **tunit = calloc((size_t)n, sizeof *tunit), (*forms)[24] = calloc((size_t)n, sizeof *forms);
    if (!ttype || !tform || !tunit || !forms) {
        free(ttype), free(tform), free(tunit), free(forms);
        return *st = MEMORY_ALLOCATION;
    }
    for (int k = 0; k < n; k++) {
        const emb_col *c = &t->cols[k];
        static const char code[] = {
            [EMB_TEXT] = 'A', [EMB_INT] = 'J', [EMB_DOUBLE] = 'D', [EMB_FLOAT] = 'E', [EMB_VECTOR] = 'E'};
        if (c->type == EMB_TEXT || c->type == EMB_VECTOR)
            snprintf(forms[k], sizeof forms[k], "%d%c", c->width, code[c->type]);
        else snprintf(forms[k], sizeof forms[k], "%c", code[c->type]);
        ttype[k] = (char *)c->name, tform[k] = forms[k], tunit[k] = (char *)c->unit;
    }
    fits_create_tbl(f, BINARY_TBL, (LONGLONG)e->n, n, ttype, tform, tunit, EXTNAME, st);
    for (int k = 0; k < n && !*st; k++) {
        const emb_col *c = &t->cols[k];
        char key[16];
        snprintf(key, sizeof key, "TTYPE%d", k + 1);
        fits_modify_comment(f, key, (char *)c->desc, st);
        snprintf(key, sizeof key, "TCOMM%d", k + 1);
        fits_update_key(f, TSTRING, key, (char *)c->desc, NULL, st);
        if (c->ucd[0]) {
            snprintf(key, sizeof key, "TUCD%d", k + 1);
            fits_update_key(f, TSTRING, key, (char *)c->ucd, NULL, st);
        }
        /* the integer columns' "none": HDU 0, cluster -1 */
        if (c->type == EMB_INT) {
            long null = c->source == EMB_HDU ? 0 : -1;
            snprintf(key, sizeof key, "TNULL%d", k + 1);
            fits_update_key(f, TLONG, key, &null, NULL, st);
        }
    }
    /* where the variable groups of columns are, for our reader (1-based) */
    int first_extra = t->first_extra + 1, first_stat = t->first_stat + 1, nx = t->nextra, ns = (int)e->nstats;
    long dim = (long)e->dim;
    fits_update_key(f, TINT, "EXTRACOL", &first_extra, "first extra-key column", st);
    fits_update_key(f, TINT, "NEXTRA", &nx, "extra-key columns", st);
    fits_update_key(f, TINT, "STATCOL", &first_stat, "first statistics column", st);
    fits_update_key(f, TINT, "NSTATS", &ns, "statistics columns", st);
    fits_update_key(f, TLONG, "EMBDIM", &dim, "values per embedding", st);
    if (e->model) fits_update_key(f, TSTRING, "MODEL", e->model, "the model that made the embeddings", st);
    fits_update_key(f, TSTRING, "CREATOR", "astromorph", "self-supervised morphology of astronomical images", st);
    fits_write_date(f, st);
    char cell[4096], *pc = cell;
    for (int64_t i = 0; i < e->n && !*st; i++) {
        for (int k = 0; k < n && !*st; k++) {
            const emb_col *c = &t->cols[k];
            if (c->type == EMB_TEXT) {
                emb_table_text(t, c, i, cell, sizeof cell);
                fits_write_col(f, TSTRING, k + 1, i + 1, 1, 1, &pc, st);
            } else if (c->type == EMB_VECTOR) {
                fits_write_col(f, TFLOAT, k + 1, i + 1, 1, (LONGLONG)e->dim, e->data + i * e->dim, st);
            } else if (c->type == EMB_INT) {
                long v = (long)emb_table_number(t, c, i);
                fits_write_col(f, TLONG, k + 1, i + 1, 1, 1, &v, st);
            } else {
                double v = emb_table_number(t, c, i);
                fits_write_col(f, TDOUBLE, k + 1, i + 1, 1, 1, &v, st);
            }
        }
    }
    free(ttype), free(tform), free(tunit), free(forms);
    return *st;
}

am_status am_embeddings_write_fits(const am_embeddings *e, const am_table_column *more, int nmore, const char *path)
{
    if (e->nstats > 60)
        return am_error(AM_ERR_VALUE, "%s: %lld statistics columns, at most 60", path, (long long)e->nstats);
    emb_table t;
    AM_TRY(emb_table_make(&t, e, more, nmore));
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len), *bang = malloc(len + 1);
    if (!tmp || !bang) {
        free(tmp), free(bang);
        emb_table_free(&t);
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
    if (!st) write_table(f, &t, &st);
    int st_close = 0;
    if (f) fits_close_file(f, &st_close);
    if (!st) st = st_close;
    am_status s = st ? fits_fail(st, path, "cannot write the FITS table") : AM_OK;
    am_fits_unlock();
    if (s == AM_OK && rename(tmp, path) != 0) s = am_error(AM_ERR_IO, "%s: cannot rename %s into place", path, tmp);
    if (s != AM_OK) remove(tmp);
    free(tmp), free(bang);
    emb_table_free(&t);
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
