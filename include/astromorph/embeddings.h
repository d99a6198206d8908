/* Embeddings of a data set: an N×D float32 matrix, the metadata of the image behind each row,
 * and optional cluster labels. Written by `astromorph inference`, read by the analysis commands.
 *
 * Two file forms:
 *  - safetensors (the native form): tensor "embeddings" F32 [N, D] (or F16, written on request
 *    to halve the file), tensor "labels" I32 [N] when
 *    labels are present, tensor "statistics" F32 [N, S] when per-image statistics are present
 *    (their names in __metadata__ "statistics", a JSON array); __metadata__ holds "format" =
 *    "astromorph.embeddings", "version" = "1",
 *    "model" (when known) and "rows": a JSON array with one object per row
 *    {"object", "ra", "dec", "restfreq", "filepath", "extra"}. When that array is too long for
 *    a safetensors header (over 48 MB, some 300 000 rows), it is stored instead as the bytes of
 *    a U8 tensor "rows_json", with (since this was written) an I64 tensor "rows_offsets"
 *    [N + 1]: where each row's object starts in rows_json (just after the '[' or ','), then
 *    where the ']' is, so that one row is read without the others. The reader takes either,
 *    and rows_json without rows_offsets (it then scans the text for them).
 *  - the original package's CSV export (pandas `to_csv(sep=";")`): a header
 *    `;cluster;object;right ascension;declination;rest freq;filepath;emb_dim_0;...;emb_dim_{D-1}`
 *    (the first, unnamed column is the row index), then the statistics' columns when there are
 *    any (`nan` where undefined), one row per image, fields quoted with `"` only
 *    when they contain `;`, `"` or a line break. The reader also accepts `index` as the first
 *    column's name and the original's label-only variant (`;cluster_label;emb_dim_0;...`).
 * am_embeddings_load picks the form from the file's content. */
#ifndef ASTROMORPH_EMBEDDINGS_H
#define ASTROMORPH_EMBEDDINGS_H

#include <stdint.h>
#include <stdio.h>

#include "astromorph/meta.h"
#include "astromorph/rows.h"
#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Cluster labels read from a file are refused above this (k-means makes at most 100 000 clusters;
 * the figures count and colour by label, and a label near INT32_MAX would overflow there). */
#define AM_EMB_MAX_LABEL 1000000

typedef struct am_embeddings {
    int64_t n, dim;
    float *data; /* n × dim, row-major */
    am_meta *meta; /* n rows, or NULL while they are left in the file (AM_EMB_LAZY_META) */
    int32_t *labels; /* n cluster labels, or NULL when none were computed */
    char *model; /* name of the model that produced them, or NULL */
    /* Per-image statistics beside the embeddings (the morphology statistics of inference), or
     * none: nstats names and n × nstats values (NaN where undefined). */
    int64_t nstats;
    char **stat_names;
    float *stats;
    /* Over MPI ranks, the global row of the first row held (am_pipeline_embed on a rank other
     * than 0, which holds only its share); 0 otherwise. */
    int64_t row0;
    /* Internal: the memory-mapped native file that data (or data16) points into, or NULL when
     * data is owned memory. The mapping is private and copy-on-write: the file is never
     * written, and a caller that changes rows gets its own copies of only the pages it touches. */
    void *mapping;
    /* Only after am_embeddings_read_stream of a float16 file: the rows as half precision, and
     * data is NULL (read them through am_embeddings_rows). */
    const uint16_t *data16;
    /* Internal: the undecoded row metadata of AM_EMB_LAZY_META (meta NULL), or NULL. */
    void *rowtab;
} am_embeddings;

/* Allocates n rows of dim zeros, metadata "N/A", no labels, no model name. n >= 0, dim >= 1. */
am_status am_embeddings_alloc(am_embeddings *e, int64_t n, int64_t dim);
void am_embeddings_free(am_embeddings *e);
/* Copies n labels in (allocating the label array if needed); labels must be >= 0. */
am_status am_embeddings_set_labels(am_embeddings *e, const int32_t *labels);
/* Copies nstats column names and the n × nstats values in (replacing any there were). */
am_status am_embeddings_set_stats(am_embeddings *e, int64_t nstats, const char *const *names, const float *values);
/* The column of statistic `name`, or -1. */
int64_t am_embeddings_stat_index(const am_embeddings *e, const char *name);
/* Keeps the rows with keep[i] != 0 (in order), dropping the others with their metadata, labels
 * and statistics. */
am_status am_embeddings_select(am_embeddings *e, const uint8_t *keep);
/* Copies the model name in (NULL clears it). */
am_status am_embeddings_set_model(am_embeddings *e, const char *model);

/* Native safetensors form; written atomically. The reader maps the file: float32 rows (4-byte
 * aligned, as our writer puts them) are used in place, not copied; float16 rows are converted to
 * float32 once. Sizes are checked against the file's length before any row is touched. */
am_status am_embeddings_write(const am_embeddings *e, const char *path);
am_status am_embeddings_read(am_embeddings *e, const char *path);
/* The same with the embeddings stored as F16 (half the bytes; about 3 significant digits, which
 * the similarity and cluster results tolerate: docs/analysis.md). A value beyond ±65504 fails. */
am_status am_embeddings_write_f16(const am_embeddings *e, const char *path);
/* As am_embeddings_read, but float16 rows stay float16 in the mapping (data16, data NULL): for
 * the streaming algorithms, which convert one block at a time (am_embeddings_rows). */
am_status am_embeddings_read_stream(am_embeddings *e, const char *path);
/* The rows as a block view, whichever form they are held in. */
am_rows am_embeddings_rows(const am_embeddings *e);

/* Rows lo .. hi − 1 of a native file, read without the others (the file is memory-mapped: only
 * those rows' pages are touched, and only their metadata parsed), as one MPI rank's share. */
am_status am_embeddings_read_rows(am_embeddings *e, const char *path, int64_t lo, int64_t hi);
/* A native file's rows and dimensions, without reading its rows. */
am_status am_embeddings_shape(const char *path, int64_t *n, int64_t *dim);

/* The original's `;`-separated CSV export; written atomically. Rows without labels get
 * cluster 0 (the original always had labels). */
am_status am_embeddings_write_csv(const am_embeddings *e, const char *path);
am_status am_embeddings_read_csv(am_embeddings *e, const char *path);

/* `object;ra;dec;restfreq;filepath` of a row as the CSV writes it (filepath "N/A" when NULL),
 * for other `;`-separated tables that carry the same metadata. */
void am_csv_meta(FILE *fp, const am_meta *m);

/* The FITS binary table form (`exported/<model>.fits`, extension EMBEDDINGS), for TOPCAT,
 * astropy and Aladin: one row per image with FILE, HDU, OBJECT, OBSRA, OBSDEC, RESTFRQ (as the
 * header wrote them), RA and DEC in degrees with RADEC_SRC ("wcs", "obsra" or empty), one text
 * column per extra key, CLUSTER when there are labels, the statistics, the `more` columns, and
 * EMBEDDING (dim × E). Units, UCDs and a description of every column are in the header.
 * Header keys EXTRACOL/NEXTRA and STATCOL/NSTATS say where the extra keys and statistics are. */
/* More columns for the catalogue forms (outlier scores, map coordinates): n values each. */
typedef struct am_table_column {
    const char *name, *unit, *comment;
    const double *values;
} am_table_column;
am_status am_embeddings_write_fits(const am_embeddings *e, const am_table_column *more, int nmore, const char *path);
am_status am_embeddings_read_fits(am_embeddings *e, const char *path);
/* The same columns as an IVOA VOTable 1.4 (TABLEDATA), for TOPCAT, Aladin and astropy. */
am_status am_embeddings_write_votable(const am_embeddings *e, const am_table_column *more, int nmore, const char *path);

/* Reads any form, chosen by content (safetensors files start with an 8-byte length and `{`,
 * FITS files with "SIMPLE  =", the rest is read as CSV). */
am_status am_embeddings_load(am_embeddings *e, const char *path);
/* The same, a native float16 file read as am_embeddings_read_stream does (data16, data NULL). */
am_status am_embeddings_load_stream(am_embeddings *e, const char *path);

/* How am_embeddings_load_opts reads. KEEP_F16: a native float16 file as am_embeddings_read_stream
 * does. LAZY_META: a native file's row metadata stays in the file (meta NULL; 8 bytes a row at
 * most, none when the file has rows_offsets), decoded a row at a time by am_embeddings_meta,
 * for commands that report a few rows of millions; am_embeddings_meta_all decodes it all.
 * The other forms are read whole. */
enum { AM_EMB_KEEP_F16 = 1, AM_EMB_LAZY_META = 2 };
am_status am_embeddings_load_opts(am_embeddings *e, const char *path, unsigned flags);
/* Row `row`'s metadata into out, whichever way it is held (am_meta_free it after). */
am_status am_embeddings_meta(const am_embeddings *e, int64_t row, am_meta *out);
/* Whether row `row`'s OBJECT is `object`, decoding no more of a row left in the file than it must. */
am_status am_embeddings_object_is(const am_embeddings *e, int64_t row, const char *object, int *same);
/* Decodes metadata left in the file (AM_EMB_LAZY_META) into meta; nothing when it is there. */
am_status am_embeddings_meta_all(am_embeddings *e);

#ifdef __cplusplus
}
#endif
#endif
