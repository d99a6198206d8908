/* A TOML 1.0 reader (https://toml.io/en/v1.0.0): the whole document becomes a tree of values.
 * Every value remembers where it was written, so that code checking a settings file can name the
 * file, line and column of a bad entry. Dates and times are kept as their normalised text. */
#ifndef ASTROMORPH_TOML_H
#define ASTROMORPH_TOML_H

#include <stddef.h>
#include <stdint.h>

#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    AM_TOML_TABLE,
    AM_TOML_ARRAY,
    AM_TOML_STRING,
    AM_TOML_INTEGER,
    AM_TOML_FLOAT,
    AM_TOML_BOOL,
    AM_TOML_DATETIME, /* offset date-time: 1979-05-27T07:32:00Z (text normalised: 'T', 'Z') */
    AM_TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
    AM_TOML_DATE_LOCAL, /* 1979-05-27 */
    AM_TOML_TIME_LOCAL /* 07:32:00.999 */
} am_toml_type;

typedef struct am_toml_value am_toml_value;
struct am_toml_value {
    am_toml_type type;
    int line, column; /* where the value starts (1-based; column counts characters) */
    int key_line, key_column; /* where the key that names it starts (0 for array elements) */
    /* AM_TOML_STRING and the date/time types: UTF-8 text, NUL-terminated; len excludes the NUL
     * (a TOML string may itself contain U+0000, so use len, not strlen). */
    char *str;
    size_t len;
    int64_t integer;
    double number;
    int boolean;
    /* Tables: n keys[i] (length key_lens[i]) → items[i], in document order. Arrays: n items. */
    size_t n, cap;
    am_toml_value **items;
    char **keys;
    size_t *key_lens;
    unsigned flags; /* the reader's bookkeeping (how a table was defined); not for callers */
    size_t *index, index_cap; /* the reader's hash index of a large table's keys; not for callers */
};

/* Parses a document held in memory; `name` is used in messages ("name:line:col: ..."). On
 * failure *root is NULL and am_errmsg() holds the one-line reason. */
am_status am_toml_parse(const char *text, size_t len, const char *name, am_toml_value **root);
am_status am_toml_parse_file(const char *path, am_toml_value **root);
void am_toml_free(am_toml_value *v);

/* The value under `key` in a table (keys without NUL bytes), or NULL when absent or when `table`
 * is not a table. */
const am_toml_value *am_toml_get(const am_toml_value *table, const char *key);
const char *am_toml_type_name(am_toml_type t); /* "string", "integer", "table", ... */

#ifdef __cplusplus
}
#endif
#endif
