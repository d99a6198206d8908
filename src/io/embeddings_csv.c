/* The original package's CSV export of embeddings (pandas `DataFrame.to_csv(sep=";")`):
 * writer and a strict reader that names the line and column of any fault. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/embeddings.h"
#include "astromorph/runtime.h"
#include "io/csv_internal.h"

static const char *const meta_cols[] = {"cluster", "object", "right ascension", "declination", "rest freq", "filepath"};

/* pandas' QUOTE_MINIMAL: quote only fields that contain the separator, a quote or a line break. */
void am_csv_field_sep(FILE *fp, const char *s, char sep)
{
    const char special[] = {sep, '"', '\r', '\n', 0};
    if (!strpbrk(s, special)) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"') fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

void am_csv_field(FILE *fp, const char *s) { am_csv_field_sep(fp, s, ';'); }

void am_csv_meta(FILE *fp, const am_meta *m)
{
    const char *f[5] = {m->object, m->ra, m->dec, m->restfreq, m->filepath ? m->filepath : "N/A"};
    for (int i = 0; i < 5; i++) {
        if (i) fputc(';', fp);
        am_csv_field(fp, f[i]);
    }
}

/* A float32 as numpy prints it (and so pandas' to_csv): the fewest significant digits that read
 * back to the same float32, positional with at least one decimal ("3.0", "0.33333334") when
 * 1e-4 <= |v| < 1e16 or v == 0, otherwise scientific with a two-digit exponent ("7.25e-05"). */
static void put_float(FILE *fp, float v)
{
    char sci[32];
    int prec = 0;
    for (; prec < 9; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec, (double)v);
        if (strtof(sci, NULL) == v) break;
    }
    double a = fabs((double)v);
    if (v != 0 && (a < 1e-4 || a >= 1e16)) {
        fputs(sci, fp);
        return;
    }
    int exp10 = v == 0 ? 0 : atoi(strchr(sci, 'e') + 1);
    int decimals = prec - exp10;
    fprintf(fp, "%.*f", decimals < 1 ? 1 : decimals, (double)v);
}

am_status am_embeddings_write_csv(const am_embeddings *e, const char *path)
{
    am_atomic_file af;
    AM_TRY(am_atomic_open(&af, path, 0));
    FILE *fp = af.fp;
    for (size_t c = 0; c < sizeof meta_cols / sizeof *meta_cols; c++) fprintf(fp, ";%s", meta_cols[c]);
    for (int64_t d = 0; d < e->dim; d++) fprintf(fp, ";emb_dim_%lld", (long long)d);
    for (int64_t k = 0; k < e->nstats; k++) {
        fputc(';', fp);
        am_csv_field(fp, e->stat_names[k]);
    }
    fputc('\n', fp);
    for (int64_t i = 0; i < e->n; i++) {
        fprintf(fp, "%lld;%d;", (long long)i, e->labels ? e->labels[i] : 0);
        am_csv_meta(fp, &e->meta[i]);
        for (int64_t d = 0; d < e->dim; d++) {
            fputc(';', fp);
            put_float(fp, e->data[i * e->dim + d]);
        }
        for (int64_t k = 0; k < e->nstats; k++) {
            fputc(';', fp);
            float v = e->stats[i * e->nstats + k];
            if (isfinite(v)) put_float(fp, v);
            else fputs("nan", fp);
        }
        fputc('\n', fp);
    }
    if (ferror(fp)) {
        am_atomic_abort(&af);
        return am_error(AM_ERR_IO, "%s: write failed: %s", path, am_errno_text());
    }
    return am_atomic_commit(&af);
}

/* ---- reader ---- */

typedef struct {
    const char *p, *end, *path;
    long line; /* line where the current record starts */
    long cur; /* current line */
    char **fields;
    size_t nfields, cap;
    char *buf; /* unquoted text of the record's fields, NUL-separated */
    size_t blen, bcap;
} csv_reader;

static am_status buf_put(csv_reader *r, char c)
{
    if (r->blen == r->bcap) {
        size_t nc = r->bcap ? 2 * r->bcap : 4096;
        char *nb = realloc(r->buf, nc);
        if (!nb) return am_error(AM_ERR_NOMEM, "%s: out of memory", r->path);
        r->buf = nb;
        r->bcap = nc;
    }
    r->buf[r->blen++] = c;
    return AM_OK;
}

/* Reads one record into r->fields. Returns AM_OK with nfields == 0 at the end of the input. */
static am_status next_record(csv_reader *r)
{
    r->nfields = 0;
    r->blen = 0;
    r->line = r->cur;
    if (r->p >= r->end) return AM_OK;
    /* Offsets of field starts in buf, converted to pointers once buf stops moving. */
    size_t *offs = NULL, noffs = 0, coffs = 0;
    am_status s = AM_OK;
    for (;;) {
        if (noffs == coffs) {
            coffs = coffs ? 2 * coffs : 64;
            size_t *no = realloc(offs, coffs * sizeof *no);
            if (!no) {
                s = am_error(AM_ERR_NOMEM, "%s: out of memory", r->path);
                goto out;
            }
            offs = no;
        }
        offs[noffs++] = r->blen;
        if (r->p < r->end && *r->p == '"') {
            r->p++;
            for (;;) {
                if (r->p >= r->end) {
                    s = am_error(AM_ERR_FORMAT, "%s:%ld: unterminated quoted field", r->path, r->line);
                    goto out;
                }
                char c = *r->p++;
                if (c == '"') {
                    if (r->p < r->end && *r->p == '"') {
                        r->p++;
                    } else {
                        break;
                    }
                }
                if (c == '\n') r->cur++;
                if ((s = buf_put(r, c))) goto out;
            }
            if (r->p < r->end && *r->p != ';' && *r->p != '\n' && *r->p != '\r') {
                s = am_error(AM_ERR_FORMAT, "%s:%ld: text after a closing quote in field %zu", r->path, r->line, noffs);
                goto out;
            }
        } else {
            while (r->p < r->end && *r->p != ';' && *r->p != '\n' && *r->p != '\r') {
                if (*r->p == '"') {
                    s = am_error(AM_ERR_FORMAT, "%s:%ld: stray quote in unquoted field %zu", r->path, r->line, noffs);
                    goto out;
                }
                if ((s = buf_put(r, *r->p++))) goto out;
            }
        }
        if ((s = buf_put(r, '\0'))) goto out;
        if (r->p < r->end && *r->p == ';') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == '\r') r->p++;
        if (r->p < r->end && *r->p == '\n') r->p++;
        r->cur++;
        break;
    }
    if (noffs > r->cap) {
        char **nf = realloc(r->fields, noffs * sizeof *nf);
        if (!nf) {
            s = am_error(AM_ERR_NOMEM, "%s: out of memory", r->path);
            goto out;
        }
        r->fields = nf;
        r->cap = noffs;
    }
    for (size_t i = 0; i < noffs; i++) r->fields[i] = r->buf + offs[i];
    r->nfields = noffs;
out:
    free(offs);
    return s;
}

static int is_blank_record(const csv_reader *r) { return r->nfields == 1 && r->fields[0][0] == '\0'; }

enum { COL_INDEX, COL_CLUSTER, COL_OBJECT, COL_RA, COL_DEC, COL_FREQ, COL_PATH, COL_NMETA };

static am_status parse_header(csv_reader *r, int *col, int64_t *emb_first, int64_t *dim)
{
    for (int c = 0; c < COL_NMETA; c++) col[c] = -1;
    *emb_first = -1;
    *dim = 0;
    if (r->nfields == 0) return am_error(AM_ERR_FORMAT, "%s: empty file, expected a CSV header", r->path);
    if (strcmp(r->fields[0], "") != 0 && strcmp(r->fields[0], "index") != 0)
        return am_error(AM_ERR_FORMAT, "%s:%ld: first column is '%s', expected the unnamed index column (or 'index')",
                        r->path, r->line, r->fields[0]);
    col[COL_INDEX] = 0;
    for (size_t f = 1; f < r->nfields; f++) {
        const char *h = r->fields[f];
        if (strncmp(h, "emb_dim_", 8) == 0) {
            char *endp;
            errno = 0;
            long long d = strtoll(h + 8, &endp, 10);
            if (*endp || errno || d != *dim || h[8] < '0' || h[8] > '9')
                return am_error(AM_ERR_FORMAT, "%s:%ld: column '%s' out of order, expected emb_dim_%lld", r->path,
                                r->line, h, (long long)*dim);
            if (*emb_first < 0) *emb_first = (int64_t)f;
            else if ((int64_t)f != *emb_first + *dim)
                return am_error(AM_ERR_FORMAT, "%s:%ld: emb_dim_ columns must be contiguous", r->path, r->line);
            (*dim)++;
            continue;
        }
        int which = -1;
        if (strcmp(h, "cluster_label") == 0) which = COL_CLUSTER;
        for (int c = 0; c < COL_NMETA - 1; c++)
            if (strcmp(h, meta_cols[c]) == 0) which = COL_CLUSTER + c;
        if (which < 0) continue; /* columns we do not know are carried by nobody, not an error */
        if (col[which] >= 0) return am_error(AM_ERR_FORMAT, "%s:%ld: duplicate column '%s'", r->path, r->line, h);
        col[which] = (int)f;
    }
    if (*dim == 0) return am_error(AM_ERR_FORMAT, "%s:%ld: no emb_dim_0 column in the header", r->path, r->line);
    return AM_OK;
}

static am_status copy_meta(char *dst, const char *src, const char *path, long line, const char *colname)
{
    if (strlen(src) >= AM_META_LEN)
        return am_error(AM_ERR_FORMAT, "%s:%ld: column '%s' is longer than %d characters", path, line, colname,
                        AM_META_LEN - 1);
    /* pandas writes a missing value as an empty field; the original's metadata uses N/A. */
    strcpy(dst, src[0] ? src : "N/A");
    return AM_OK;
}

static am_status read_body(am_embeddings *e, csv_reader *r, const int *col, int64_t emb_first, int64_t dim,
                           size_t nheader, int64_t nstat, const int *stat_col, char *const *stat_name)
{
    /* Count records first (a quoted field may hold a line break, so count by parsing). */
    const char *body = r->p;
    long body_line = r->cur;
    int64_t n = 0;
    for (;;) {
        AM_TRY(next_record(r));
        if (r->nfields == 0) break;
        if (!is_blank_record(r)) n++;
    }
    r->p = body;
    r->cur = body_line;
    AM_TRY(am_embeddings_alloc(e, n, dim));
    if (col[COL_CLUSTER] >= 0) {
        e->labels = calloc((size_t)(n ? n : 1), sizeof(int32_t));
        if (!e->labels) return am_error(AM_ERR_NOMEM, "%s: out of memory", r->path);
    }
    if (nstat > 0) AM_TRY(am_embeddings_set_stats(e, nstat, (const char *const *)stat_name, NULL));
    size_t want = nheader;
    int64_t i = 0;
    for (;;) {
        AM_TRY(next_record(r));
        if (r->nfields == 0) break;
        if (is_blank_record(r)) continue;
        if (r->nfields != want)
            return am_error(AM_ERR_FORMAT, "%s:%ld: %zu fields, the header has %zu", r->path, r->line, r->nfields,
                            want);
        char *endp;
        if (col[COL_CLUSTER] >= 0) {
            const char *v = r->fields[col[COL_CLUSTER]];
            errno = 0;
            long long lab = strtoll(v, &endp, 10);
            if (!v[0] || *endp || errno || lab < 0 || lab > AM_EMB_MAX_LABEL)
                return am_error(AM_ERR_FORMAT, "%s:%ld: cluster '%s' is not an integer in 0..%d", r->path, r->line, v,
                                AM_EMB_MAX_LABEL);
            e->labels[i] = (int32_t)lab;
        }
        am_meta *m = &e->meta[i];
        AM_TRY(col[COL_OBJECT] >= 0 ? copy_meta(m->object, r->fields[col[COL_OBJECT]], r->path, r->line, "object")
                                    : AM_OK);
        AM_TRY(col[COL_RA] >= 0 ? copy_meta(m->ra, r->fields[col[COL_RA]], r->path, r->line, "right ascension")
                                : AM_OK);
        AM_TRY(col[COL_DEC] >= 0 ? copy_meta(m->dec, r->fields[col[COL_DEC]], r->path, r->line, "declination") : AM_OK);
        AM_TRY(col[COL_FREQ] >= 0 ? copy_meta(m->restfreq, r->fields[col[COL_FREQ]], r->path, r->line, "rest freq")
                                  : AM_OK);
        if (col[COL_PATH] >= 0) {
            m->filepath = strdup(r->fields[col[COL_PATH]]);
            if (!m->filepath) return am_error(AM_ERR_NOMEM, "%s: out of memory", r->path);
        }
        for (int64_t d = 0; d < dim; d++) {
            const char *v = r->fields[emb_first + d];
            float x = strtof(v, &endp);
            if (!v[0] || *endp || !isfinite(x))
                return am_error(AM_ERR_FORMAT, "%s:%ld: emb_dim_%lld value '%s' is not a finite number", r->path,
                                r->line, (long long)d, v);
            e->data[i * dim + d] = x;
        }
        for (int64_t k = 0; k < nstat; k++) {
            const char *v = r->fields[stat_col[k]];
            float x = strtof(v, &endp);
            if (!v[0] || *endp)
                return am_error(AM_ERR_FORMAT, "%s:%ld: %s value '%s' is not a number", r->path, r->line, stat_name[k],
                                v);
            e->stats[i * nstat + k] = x;
        }
        i++;
    }
    return AM_OK;
}

am_status am_embeddings_read_csv(am_embeddings *e, const char *path)
{
    memset(e, 0, sizeof *e);
    FILE *fp = fopen(path, "rb");
    if (!fp) return am_error(AM_ERR_IO, "%s: cannot open", path);
    char *text = NULL;
    size_t len = 0, cap = 0;
    am_status s = AM_OK;
    for (;;) {
        if (cap - len < 65536) {
            cap = cap ? 2 * cap : 1 << 20;
            char *nt = realloc(text, cap);
            if (!nt) {
                s = am_error(AM_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            text = nt;
        }
        size_t got = fread(text + len, 1, cap - len, fp);
        len += got;
        if (got == 0) {
            if (ferror(fp)) s = am_error(AM_ERR_IO, "%s: read failed", path);
            break;
        }
    }
    fclose(fp);
    if (s == AM_OK && memchr(text, '\0', len)) s = am_error(AM_ERR_FORMAT, "%s: binary data, not a CSV file", path);
    csv_reader r = {.p = text, .end = text + len, .path = path, .line = 1, .cur = 1};
    int col[COL_NMETA];
    int64_t emb_first = 0, dim = 0;
    if (s == AM_OK) s = next_record(&r);
    if (s == AM_OK) s = parse_header(&r, col, &emb_first, &dim);
    /* columns after the embedding block that are no metadata: per-image statistics */
    size_t nheader = r.nfields;
    int64_t nstat = 0;
    int *stat_col = s == AM_OK ? malloc((nheader ? nheader : 1) * sizeof *stat_col) : NULL;
    char **stat_name = s == AM_OK ? calloc(nheader ? nheader : 1, sizeof *stat_name) : NULL;
    if (s == AM_OK && (!stat_col || !stat_name)) s = am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    for (size_t f = (size_t)(emb_first + dim); s == AM_OK && f < nheader; f++) {
        int meta = !strcmp(r.fields[f], "cluster_label");
        for (size_t c = 0; c < sizeof meta_cols / sizeof *meta_cols; c++) meta |= !strcmp(r.fields[f], meta_cols[c]);
        if (meta) continue;
        stat_col[nstat] = (int)f;
        if (!(stat_name[nstat++] = strdup(r.fields[f]))) s = am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    }
    if (s == AM_OK) s = read_body(e, &r, col, emb_first, dim, nheader, nstat, stat_col, stat_name);
    for (int64_t k = 0; stat_name && k < nstat; k++) free(stat_name[k]);
    free(stat_name), free(stat_col);
    free(r.fields);
    free(r.buf);
    free(text);
    if (s != AM_OK) am_embeddings_free(e);
    return s;
}
