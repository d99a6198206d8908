/* What the analysis commands (similar, project, cluster, outliers) share: their common options,
 * loading the embeddings (default: the newest file in exported/), the `;`-separated table with
 * the metadata columns, and thumbnails read from the images' FITS files for the figures. */
#ifndef AM_CLI_ANALYSIS_COMMON_H
#define AM_CLI_ANALYSIS_COMMON_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "astromorph/embeddings.h"
#include "astromorph/figure.h"
#include "astromorph/knn_index.h"
#include "astromorph/runtime.h"
#include "astromorph/thumbnail.h"

/* Long-option values above any character, shared so commands can add their own after them. */
enum {
    AC_OPT_EMBEDDINGS = 1000,
    AC_OPT_FIGURE,
    AC_OPT_DATA_ROOT,
    AC_OPT_STRETCH,
    AC_OPT_THREADS,
    AC_OPT_OUTPUT,
    AC_OPT_WHERE,
    AC_OPT_FIRST_FREE /* first value a command may use */
};

typedef struct ac_common {
    const char *cmd; /* "similar", ... for messages */
    const char *embeddings; /* --embeddings FILE (NULL: newest in exported/) */
    const char *output; /* -o FILE (NULL: stdout) */
    const char *figure; /* --figure FILE.png|.pdf */
    const char *data_root; /* --data-root DIR: where relative image paths are found */
    am_thumb_options thumb; /* --stretch linear|asinh|log */
    int threads; /* --threads N (0: all cores) */
    const char *where[8]; /* --where "STAT OP VALUE": rows kept by ac_load */
    int nwhere;
    int keep_f16; /* set by a command that only streams the rows: a float16 file stays half (data16) */
    /* set by a command that reports a few rows' metadata (or writes it row by row): a native
     * file's metadata stays in the file, decoded when asked (AM_EMB_LAZY_META, e.meta NULL) */
    int lazy_meta;
} ac_common;

/* The common options' help lines. */
extern const char AC_COMMON_HELP[];

/* A command's own options: getopt_long entries (ending with a NULL entry, values from
 * AC_OPT_FIRST_FREE or a short letter), its short letters beyond "o:h" (e.g. "k:"), a handler
 * that returns 1, or 0 after printing why the value is bad, and its help. */
typedef struct ac_command {
    const char *name;
    const struct option *options;
    const char *short_opts;
    int (*option)(const struct ac_common *c, void *user, int opt, const char *arg);
    void (*usage)(FILE *fp);
} ac_command;

/* Parses argv into c (common options) and user (the command's own, through cmd->option).
 * Returns -1 when the command should run, otherwise its exit status: 0 after --help, 2 after a
 * usage error (already printed). */
int ac_parse(const ac_command *cmd, ac_common *c, void *user, int argc, char **argv);

/* Parses an integer option in [lo, hi]; prints "astromorph CMD: --name VALUE: ..." on failure. */
int ac_parse_int(const ac_common *c, const char *name, const char *arg, long lo, long hi, long *out);
int ac_parse_double(const ac_common *c, const char *name, const char *arg, double lo, double hi, double *out);

/* Loads --embeddings or, when absent, the newest *.safetensors / *.csv in exported/ (saying
 * which on stderr). Also applies --threads. */
am_status ac_load(ac_common *c, am_embeddings *e);

/* Over MPI ranks (every rank calls it): this rank's share of the embeddings, after --where, as
 * global rows *row0 .. *row0 + e->n − 1 of *total; shares of the file end on multiples of
 * align rows. A native file is read only for the share's rows; a CSV or FITS table is read whole
 * and cut. One process: ac_load. */
am_status ac_load_share(ac_common *c, am_embeddings *e, int64_t align, int64_t *row0, int64_t *total);

/* Where `astromorph index` saves the index of an embeddings file: its name with .faiss for its
 * extension (exported/<model>.faiss). */
void ac_index_path(const char *embeddings, char *out, size_t len);
/* The saved index of the loaded embeddings e (after ac_load) when there is one that is fresh
 * and of this metric; otherwise NULL, saying on stderr why one that exists is not used (stale,
 * another metric, unreadable, --where). Never fails: the search then goes without it. */
am_knn_index *ac_open_index(const ac_common *c, const am_embeddings *e, am_metric metric);

/* The table's destination: stdout, or an atomic file for -o. */
typedef struct ac_table {
    FILE *fp;
    am_atomic_file af;
    int to_file;
} ac_table;
am_status ac_table_open(ac_table *t, const ac_common *c);
am_status ac_table_close(ac_table *t, am_status s); /* commits the file when s is AM_OK */

/* Header columns `index;object;right ascension;declination;rest freq;filepath` (with `prefix`
 * columns before them, e.g. "rank;"), and a row's values in the same order. No newline. */
void ac_meta_header(FILE *fp, const char *prefix);
am_status ac_meta_row(FILE *fp, const am_embeddings *e, int64_t row);

/* Returns s, first saying on stderr where the figure went when s is AM_OK. */
am_status ac_figure_done(const ac_common *c, am_status s);

/* Figure options with thumbnails read from each row's FITS file. */
typedef struct ac_thumbs {
    const ac_common *common;
    const am_embeddings *e;
    int warned;
} ac_thumbs;
am_figure_options ac_figure_opts(ac_thumbs *t, const ac_common *c, const am_embeddings *e);
/* Where row's image file is: relative paths are tried under --data-root, as given (from the
 * current folder), and under the folder above exported/ when the embeddings file lies in one. */
am_status ac_image_path(const ac_common *c, const am_embeddings *e, int64_t row, char *path, size_t size);

/* Finds a query row by --index (>= 0), else --file, else --object. Several matches: the first,
 * with a note on stderr. */
am_status ac_find_row(const ac_common *c, const am_embeddings *e, const char *object, const char *file, long index,
                      int64_t *row);

/* ac_find_row over the ranks' shares (every rank calls it): the same global row on every rank. */
am_status ac_find_row_share(const ac_common *c, const am_embeddings *e, int64_t row0, int64_t total, const char *object,
                            const char *file, long index, int64_t *row);

#endif
