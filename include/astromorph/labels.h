/* A labels file for `astromorph evaluate`: a CSV table (`,` or `;` separated, fields optionally
 * in double quotes) whose header names a key column — `path` (also `file`, `filepath`) or
 * `object` — and a `label` column (also `class` or `type`). Rows with an empty label are skipped. */
#ifndef ASTROMORPH_LABELS_H
#define ASTROMORPH_LABELS_H

#include <stdint.h>

#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { AM_LABELS_BY_PATH = 0, AM_LABELS_BY_OBJECT } am_labels_key;

typedef struct am_labels {
    am_labels_key key;
    int64_t n;
    char **keys; /* n paths or OBJECT names */
    int32_t *ids; /* n class indices into names */
    int nclass;
    char **names; /* nclass class names, sorted (byte order) */
} am_labels;

/* Reads path; errors name the file and line ("labels.csv:7: 3 fields, the header has 2"). */
am_status am_labels_read(am_labels *l, const char *path);
void am_labels_free(am_labels *l);

#ifdef __cplusplus
}
#endif
#endif
