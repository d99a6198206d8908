/* Image metadata. */
#include "astromorph/meta.h"

#include <stdlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void am_meta_init(am_meta *m)
{
    memset(m, 0, sizeof *m);
    strcpy(m->object, "N/A");
    strcpy(m->ra, "N/A");
    strcpy(m->dec, "N/A");
    strcpy(m->restfreq, "N/A");
    m->ra_deg = m->dec_deg = NAN;
}

static char *dup_or_null(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

am_status am_meta_copy(am_meta *dst, const am_meta *src)
{
    *dst = *src;
    dst->filepath = dup_or_null(src->filepath);
    dst->extra = dup_or_null(src->extra);
    if ((src->filepath && !dst->filepath) || (src->extra && !dst->extra)) {
        am_meta_free(dst);
        return am_error(AM_ERR_NOMEM, "out of memory copying metadata");
    }
    return AM_OK;
}

void am_meta_free(am_meta *m)
{
    free(m->filepath);
    free(m->extra);
    m->filepath = m->extra = NULL;
}

void am_meta_extra_value(const am_meta *m, const char *key, char *out, size_t size)
{
    out[0] = 0;
    size_t klen = strlen(key);
    for (const char *p = m->extra; p && *p;) {
        size_t len = strcspn(p, ";");
        if (!strncmp(p, key, klen) && p[klen] == '=') {
            size_t v = len - klen - 1;
            snprintf(out, size, "%.*s", (int)(v < size ? v : size - 1), p + klen + 1);
            return;
        }
        p += len + (p[len] == ';');
    }
}

int am_meta_extra_keys(const am_meta *rows, int64_t n, char (*keys)[64], int max)
{
    int nk = 0;
    for (int64_t i = 0; i < n; i++)
        for (const char *p = rows[i].extra; p && *p;) {
            size_t len = strcspn(p, "=;");
            if (p[len] == '=' && len > 0 && len < 64) {
                int k = 0;
                while (k < nk && !(strlen(keys[k]) == len && !strncmp(keys[k], p, len))) k++;
                if (k == nk && nk < max) snprintf(keys[nk++], 64, "%.*s", (int)len, p);
            }
            p += strcspn(p, ";");
            if (*p == ';') p++;
        }
    return nk;
}
