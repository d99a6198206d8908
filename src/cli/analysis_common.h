/* What the analysis commands (similar, project, cluster, outliers) share: their common options,
 * loading the embeddings (default: the newest file in exported/), the `;`-separated table with
 * the metadata columns, and thumbnails read from the images' FITS files for the figures. */
#ifndef AM_CLI_ANALYSIS_COMMON_H
#define AM_CLI_ANALYSIS_COMMON_H

#include <stdint.h>
#include <stdio.h>

#include "astromorph/embeddings.h"
#include "astromorph/figure.h"
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
    AC_OPT_FIRST_FREE /* first value a command may use */
};

typedef struct ac_common {
    const char *cmd;        /* "similar", ... for messages */
    const char *embeddings; /* --embeddings FILE (NULL: newest in exported/) */
    const char *output;     /* -o FILE (NULL: stdout) */
    const char *figure;     /* --figure FILE.png|.pdf */
    const char *data_root;  /* --data-root DIR: where relative image paths are found */
    am_thumb_opts thumb;    /* --stretch linear|asinh|log */
    int threads;            /* --threads N (0: all cores) */
} ac_common;

/* The getopt_long entries of the common options (end with a NULL entry; copy them first into a
 * command's table). `-o` is the only short one. */
#define AC_COMMON_OPTIONS                                                                              \
    {"embeddings", required_argument, NULL, AC_OPT_EMBEDDINGS}, {"figure", required_argument, NULL, AC_OPT_FIGURE}, \
        {"data-root", required_argument, NULL, AC_OPT_DATA_ROOT},                                    \
        {"stretch", required_argument, NULL, AC_OPT_STRETCH}, {"threads", required_argument, NULL, AC_OPT_THREADS}, \
        {"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}

/* The common options' help lines. */
extern const char AC_COMMON_HELP[];

void ac_common_init(ac_common *c, const char *cmd);
/* Handles one getopt_long result if it is a common option: returns 1 when handled, 0 when not
 * one, -1 after printing an error (exit status 2). */
int ac_common_option(ac_common *c, int opt, const char *arg);

/* Parses an integer option in [lo, hi]; prints "astromorph CMD: --name VALUE: ..." on failure. */
int ac_parse_int(const ac_common *c, const char *name, const char *arg, long lo, long hi, long *out);
int ac_parse_double(const ac_common *c, const char *name, const char *arg, double lo, double hi, double *out);

/* Loads --embeddings or, when absent, the newest *.safetensors / *.csv in exported/ (saying
 * which on stderr). Also applies --threads. */
am_status ac_load(ac_common *c, am_embeddings *e);

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
void ac_meta_row(FILE *fp, const am_embeddings *e, int64_t row);

/* After getopt_long: 1 when no arguments are left over, else prints the first and returns 0. */
int ac_no_extra_args(const ac_common *c, int argc, char **argv);

/* Figure options with thumbnails read from each row's FITS file. */
typedef struct ac_thumbs {
    const ac_common *common;
    const am_embeddings *e;
    int warned;
} ac_thumbs;
am_figure_opts ac_figure_opts(ac_thumbs *t, const ac_common *c, const am_embeddings *e);

/* Finds a query row by --index (>= 0), else --file, else --object. Several matches: the first,
 * with a note on stderr. */
am_status ac_find_row(const ac_common *c, const am_embeddings *e, const char *object, const char *file, long index,
                      int64_t *row);

#endif
