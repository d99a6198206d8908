/* The embeddings as a catalogue table: the columns the FITS table and the VOTable both write
 * (names, types, units, UCDs, descriptions) and each cell's value, so that both forms say the
 * same thing. Internal to io. */
#ifndef AM_IO_EMB_TABLE_H
#define AM_IO_EMB_TABLE_H

#include <stddef.h>

#include "astromorph/embeddings.h"

typedef enum { EMB_TEXT, EMB_INT, EMB_DOUBLE, EMB_FLOAT, EMB_VECTOR } emb_col_type;

typedef enum {
    EMB_FILE,
    EMB_HDU,
    EMB_OBJECT,
    EMB_OBSRA,
    EMB_OBSDEC,
    EMB_RESTFRQ,
    EMB_RA,
    EMB_DEC,
    EMB_RADEC_SRC,
    EMB_EXTRA, /* index: which extra key */
    EMB_CLUSTER,
    EMB_STAT, /* index: which statistic */
    EMB_MORE, /* index: which caller column */
    EMB_EMBEDDING
} emb_col_source;

typedef struct emb_col {
    char name[64];
    emb_col_type type;
    emb_col_source source;
    int index;
    int width; /* EMB_TEXT: the widest cell (at least 1); EMB_VECTOR: the values */
    const char *unit; /* "" when none */
    const char *ucd; /* IVOA UCD, "" when none */
    char desc[100];
} emb_col;

typedef struct emb_table {
    const am_embeddings *e;
    const am_table_column *more;
    int nmore;
    char extra[64][64]; /* the extra keys, in order of first appearance */
    int nextra;
    emb_col *cols;
    int ncols;
    int first_extra, first_stat; /* 0-based column positions */
} emb_table;

/* The columns of e plus `more`; free with emb_table_free. */
am_status emb_table_make(emb_table *t, const am_embeddings *e, const am_table_column *more, int nmore);
void emb_table_free(emb_table *t);
/* A text cell ("" when unknown: "N/A" is the metadata's unknown). */
void emb_table_text(const emb_table *t, const emb_col *c, int64_t row, char *out, size_t size);
/* A number cell (NaN when unknown; HDU 0 and cluster -1 when none). */
double emb_table_number(const emb_table *t, const emb_col *c, int64_t row);

#endif
