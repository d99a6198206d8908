/* Image metadata. */
#include "astromorph/meta.h"

#include <stdlib.h>
#include <math.h>
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
