/* The labels file of `astromorph evaluate` (include/astromorph/labels.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "astromorph/labels.h"

enum { MAX_FIELDS = 256 };

/* Splits line in place into at most MAX_FIELDS fields at sep, honouring double quotes ("" is a
 * quote inside a quoted field); trims blanks around unquoted fields. Returns the count, or -1
 * for an unterminated quote. */
static int split(char *line, char sep, char **field)
{
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        char *out = p, *start = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p) return -1;
                if (*p == '"' && p[1] == '"') *out++ = '"', p += 2;
                else if (*p == '"') {
                    p++;
                    break;
                } else *out++ = *p++;
            }
            while (*p && *p != sep) p++;
        } else {
            while (*p && *p != sep) *out++ = *p++;
            while (out > start && (out[-1] == ' ' || out[-1] == '\t')) out--;
        }
        char next = *p;
        *out = 0;
        if (n < MAX_FIELDS) field[n] = start;
        n++;
        if (!next) break;
        p++;
    }
    return n;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void am_labels_free(am_labels *l)
{
    for (int64_t i = 0; l->keys && i < l->n; i++) free(l->keys[i]);
    for (int c = 0; l->names && c < l->nclass; c++) free(l->names[c]);
    free(l->keys), free(l->ids), free(l->names);
    memset(l, 0, sizeof *l);
}

am_status am_labels_read(am_labels *l, const char *path)
{
    memset(l, 0, sizeof *l);
    FILE *fp = fopen(path, "r");
    if (!fp) return am_error(AM_ERR_IO, "%s: cannot open the labels file", path);
    char *line = NULL, *field[MAX_FIELDS];
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, nf = 0, kcol = -1, lcol = -1;
    char sep = ',';
    char **lab = NULL;
    int64_t cap_rows = 0;
    am_status s = AM_OK;
    while (s == AM_OK && (len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (lineno == 1 && (unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB &&
            (unsigned char)line[2] == 0xBF)
            memmove(line, line + 3, (size_t)len - 2); /* a UTF-8 byte-order mark */
        if (!line[0] || line[0] == '#') continue;
        if (kcol < 0) { /* the header */
            if (!strchr(line, ',') && strchr(line, ';')) sep = ';';
            nf = split(line, sep, field);
            if (nf < 0 || nf > MAX_FIELDS) {
                s = am_error(AM_ERR_FORMAT, "%s:%d: cannot read the header", path, lineno);
                break;
            }
            for (int f = 0; f < nf; f++) {
                if (!strcasecmp(field[f], "path") || !strcasecmp(field[f], "file") || !strcasecmp(field[f], "filepath"))
                    kcol = f, l->key = AM_LABELS_BY_PATH;
                else if (!strcasecmp(field[f], "object") && (kcol < 0 || l->key == AM_LABELS_BY_OBJECT))
                    kcol = f, l->key = AM_LABELS_BY_OBJECT;
                else if (!strcasecmp(field[f], "label") || !strcasecmp(field[f], "class") ||
                         !strcasecmp(field[f], "type"))
                    lcol = f;
            }
            if (kcol < 0 || lcol < 0) {
                s = am_error(AM_ERR_FORMAT,
                             "%s:%d: the header needs a 'path' (or 'object') column and a 'label' column", path,
                             lineno);
                break;
            }
            continue;
        }
        int got = split(line, sep, field);
        if (got < 0) {
            s = am_error(AM_ERR_FORMAT, "%s:%d: a quoted field is not closed", path, lineno);
            break;
        }
        if (got != nf) {
            s = am_error(AM_ERR_FORMAT, "%s:%d: %d field(s), the header has %d", path, lineno, got, nf);
            break;
        }
        if (!field[lcol][0]) continue; /* no label: not part of the evaluation */
        if (!field[kcol][0]) {
            s = am_error(AM_ERR_FORMAT, "%s:%d: empty %s", path, lineno,
                         l->key == AM_LABELS_BY_PATH ? "path" : "object");
            break;
        }
        if (l->n == cap_rows) {
            int64_t nc = cap_rows ? 2 * cap_rows : 256;
            char **k2 = realloc(l->keys, (size_t)nc * sizeof *k2);
            if (k2) l->keys = k2;
            char **l2 = k2 ? realloc(lab, (size_t)nc * sizeof *l2) : NULL;
            if (l2) lab = l2;
            if (!k2 || !l2) {
                s = am_error(AM_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            cap_rows = nc;
        }
        l->keys[l->n] = strdup(field[kcol]);
        lab[l->n] = strdup(field[lcol]);
        l->n++;
        if (!l->keys[l->n - 1] || !lab[l->n - 1]) s = am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    }
    if (s == AM_OK && ferror(fp)) s = am_error(AM_ERR_IO, "%s: read failed", path);
    if (s == AM_OK && kcol < 0) s = am_error(AM_ERR_FORMAT, "%s: empty labels file (no header)", path);
    if (s == AM_OK && l->n == 0) s = am_error(AM_ERR_VALUE, "%s: no labelled rows", path);
    free(line);
    fclose(fp);
    /* class names: the distinct labels, sorted */
    if (s == AM_OK) {
        char **sorted = malloc((size_t)l->n * sizeof *sorted);
        l->ids = malloc((size_t)l->n * sizeof *l->ids);
        l->names = malloc((size_t)l->n * sizeof *l->names);
        if (!sorted || !l->ids || !l->names) s = am_error(AM_ERR_NOMEM, "%s: out of memory", path);
        if (s == AM_OK) {
            memcpy(sorted, lab, (size_t)l->n * sizeof *sorted);
            qsort(sorted, (size_t)l->n, sizeof *sorted, cmp_str);
            for (int64_t i = 0; i < l->n && s == AM_OK; i++)
                if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0) {
                    if (l->nclass == 10000) s = am_error(AM_ERR_VALUE, "%s: more than 10000 classes", path);
                    else if (!(l->names[l->nclass++] = strdup(sorted[i])))
                        s = am_error(AM_ERR_NOMEM, "%s: out of memory", path);
                }
            for (int64_t i = 0; i < l->n && s == AM_OK; i++) {
                char **hit = bsearch(&lab[i], l->names, (size_t)l->nclass, sizeof *l->names, cmp_str);
                l->ids[i] = (int32_t)(hit - l->names);
            }
        }
        free(sorted);
    }
    for (int64_t i = 0; lab && i < l->n; i++) free(lab[i]);
    free(lab);
    if (s != AM_OK) am_labels_free(l);
    return s;
}
