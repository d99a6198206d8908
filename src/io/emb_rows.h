/* Internal: the per-row metadata of a native embeddings file as a table over the file's own JSON
 * text (docs/analysis.md, "Embeddings files"). Only where each row's object starts is held, 8
 * bytes a row, or none when the file stores them (tensor "rows_offsets"); a row's fields are
 * decoded only when asked for, so a command that reports ten rows of 10^7 decodes ten. */
#ifndef AM_IO_EMB_ROWS_H
#define AM_IO_EMB_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "astromorph/meta.h"
#include "astromorph/status.h"

/* Row metadata up to this many bytes goes into the header's "rows", longer into the tensors
 * "rows_json" and "rows_offsets" (48 MB: safetensors readers, ours included, cap headers at
 * 100 MB); a variable so that tests can write the tensor form with a few rows. */
extern size_t am_rows_in_header_max;

typedef struct am_rowtab {
    const char *text; /* the JSON array of row objects, len bytes (not NUL-terminated) */
    size_t len;
    /* Where file rows off_lo .. off_lo + count − 1 begin (just after the '[' or ',' before each),
     * then where the last one ends: count + 1 little-endian int64 values, read with memcpy
     * because a stored tensor need not be 8-byte aligned. */
    const unsigned char *off;
    int64_t off_lo, count;
    int64_t *off_own; /* the scanned offsets (off points here), or NULL when stored */
    int64_t base; /* row i is file row base + i ... */
    int64_t *map; /* ... or map[i] after a selection */
    void *owned; /* an am_safetensors the text lies in, freed with the table, or NULL */
    char *path; /* for messages */
} am_rowtab;

/* The table of file rows lo .. hi − 1 of the array text[0..len) of `total` rows, by a scan of
 * the text (strings skipped, nesting counted) that builds no tree; it checks the row count when
 * hi == total. */
am_status am_rowtab_scan(am_rowtab *t, const char *text, size_t len, int64_t total, int64_t lo, int64_t hi,
                         const char *path);
/* The same from stored offsets (total + 1 int64 at `off`), checked to increase within the text. */
am_status am_rowtab_stored(am_rowtab *t, const char *text, size_t len, const unsigned char *off, int64_t total,
                           int64_t lo, int64_t hi, const char *path);
/* Row i's metadata into m (initialised here; am_meta_free it). */
am_status am_rowtab_decode(const am_rowtab *t, int64_t i, am_meta *m);
/* Whether row i's OBJECT is `object`: its bytes compared in place when the row begins
 * {"object":"..." with nothing escaped (as our writers and cJSON's write it), else decoded. */
am_status am_rowtab_object_is(const am_rowtab *t, int64_t i, const char *object, int *same);
/* Keeps rows i with keep[i] of n. */
am_status am_rowtab_select(am_rowtab *t, int64_t n, const uint8_t *keep);
void am_rowtab_free(am_rowtab *t);

/* One row as the JSON object the files hold, appended to a growing buffer. */
typedef struct am_rows_text {
    char *buf;
    size_t len, cap;
} am_rows_text;
am_status am_rows_text_add(am_rows_text *b, const am_meta *m);
/* An ASCII-free-form append (the array's brackets and commas). */
am_status am_rows_text_put(am_rows_text *b, const char *s, size_t n);

#endif
