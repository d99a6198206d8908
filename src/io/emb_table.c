/* The embeddings as a catalogue table (emb_table.h): one description of the columns for the FITS
 * table and the VOTable. */
#include "io/emb_table.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *cell_text(const char *s) { return !s || !strcmp(s, "N/A") ? "" : s; }

/* A column name catalogue tools accept: letters, digits and '_'. */
static void column_name(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = in; *p && n + 1 < size; p++) out[n++] = isalnum((unsigned char)*p) ? *p : '_';
    out[n] = 0;
    if (!n) snprintf(out, size, "COL");
}

static emb_col *add(emb_table *t, const char *name, emb_col_type type, emb_col_source src, int index, const char *unit,
                    const char *ucd, const char *desc)
{
    emb_col *c = &t->cols[t->ncols++];
    column_name(name, c->name, sizeof c->name);
    c->type = type, c->source = src, c->index = index, c->width = 1;
    c->unit = unit, c->ucd = ucd;
    snprintf(c->desc, sizeof c->desc, "%s", desc);
    return c;
}

am_status emb_table_make(emb_table *t, const am_embeddings *e, const am_table_column *more, int nmore)
{
    memset(t, 0, sizeof *t);
    t->e = e, t->more = more, t->nmore = nmore;
    t->nextra = am_meta_extra_keys(e->meta, e->n, t->extra, 64);
    int max = 12 + t->nextra + (int)e->nstats + nmore;
    t->cols = calloc((size_t)max, sizeof *t->cols);
    if (!t->cols) return am_error(AM_ERR_NOMEM, "embeddings table: out of memory");
    add(t, "FILE", EMB_TEXT, EMB_FILE, 0, "", "meta.file", "the image file, as listed (with [ext] if any)");
    add(t, "HDU", EMB_INT, EMB_HDU, 0, "", "meta.number", "the HDU the pixels came from (1: primary; 0: unknown)");
    add(t, "OBJECT", EMB_TEXT, EMB_OBJECT, 0, "", "meta.id;meta.main", "OBJECT of the header");
    add(t, "OBSRA", EMB_TEXT, EMB_OBSRA, 0, "", "", "OBSRA of the header, as written");
    add(t, "OBSDEC", EMB_TEXT, EMB_OBSDEC, 0, "", "", "OBSDEC of the header, as written");
    add(t, "RESTFRQ", EMB_TEXT, EMB_RESTFRQ, 0, "", "", "RESTFRQ of the header, as written");
    add(t, "RA", EMB_DOUBLE, EMB_RA, 0, "deg", "pos.eq.ra;meta.main", "right ascension of the image centre");
    add(t, "DEC", EMB_DOUBLE, EMB_DEC, 0, "deg", "pos.eq.dec;meta.main", "declination of the image centre");
    add(t, "RADEC_SRC", EMB_TEXT, EMB_RADEC_SRC, 0, "", "meta.ref",
        "wcs: the image's WCS; obsra: OBSRA/OBSDEC; empty: unknown");
    t->first_extra = t->ncols;
    for (int k = 0; k < t->nextra; k++)
        add(t, t->extra[k], EMB_TEXT, EMB_EXTRA, k, "", "",
            "extra header key (data_settings.extra_keys) or mask object");
    if (e->labels)
        add(t, "CLUSTER", EMB_INT, EMB_CLUSTER, 0, "", "meta.code.class", "k-means cluster of the embedding");
    t->first_stat = t->ncols;
    for (int64_t k = 0; k < e->nstats; k++)
        add(t, e->stat_names[k], EMB_FLOAT, EMB_STAT, (int)k, "", "", "morphology statistic (docs/analysis.md)");
    for (int k = 0; k < nmore; k++)
        add(t, more[k].name, EMB_DOUBLE, EMB_MORE, k, more[k].unit ? more[k].unit : "", "",
            more[k].comment ? more[k].comment : "");
    emb_col *v = add(t, "EMBEDDING", EMB_VECTOR, EMB_EMBEDDING, 0, "", "",
                     "the embedding (the vector similarity search and maps use)");
    v->width = (int)e->dim;
    /* text widths: the widest cell */
    for (int c = 0; c < t->ncols; c++) {
        if (t->cols[c].type != EMB_TEXT) continue;
        for (int64_t i = 0; i < e->n; i++) {
            char cell[1024];
            emb_table_text(t, &t->cols[c], i, cell, sizeof cell);
            int w = (int)strlen(cell);
            if (w > t->cols[c].width) t->cols[c].width = w;
        }
    }
    return AM_OK;
}

void emb_table_free(emb_table *t)
{
    free(t->cols);
    memset(t, 0, sizeof *t);
}

void emb_table_text(const emb_table *t, const emb_col *c, int64_t row, char *out, size_t size)
{
    const am_meta *m = &t->e->meta[row];
    const char *s = "";
    switch (c->source) {
    case EMB_FILE: s = cell_text(m->filepath); break;
    case EMB_OBJECT: s = cell_text(m->object); break;
    case EMB_OBSRA: s = cell_text(m->ra); break;
    case EMB_OBSDEC: s = cell_text(m->dec); break;
    case EMB_RESTFRQ: s = cell_text(m->restfreq); break;
    case EMB_RADEC_SRC: s = m->radec_from; break;
    case EMB_EXTRA: am_meta_extra_value(m, t->extra[c->index], out, size); return;
    default: break;
    }
    snprintf(out, size, "%s", s);
}

double emb_table_number(const emb_table *t, const emb_col *c, int64_t row)
{
    const am_embeddings *e = t->e;
    const am_meta *m = &e->meta[row];
    switch (c->source) {
    case EMB_HDU: return m->hdu;
    case EMB_RA: return m->radec_from[0] ? m->ra_deg : NAN;
    case EMB_DEC: return m->radec_from[0] ? m->dec_deg : NAN;
    case EMB_CLUSTER: return e->labels ? e->labels[row] : -1;
    case EMB_STAT: return e->stats[row * e->nstats + c->index];
    case EMB_MORE: return t->more[c->index].values[row];
    default: return NAN;
    }
}
