/* Thread-local error message store. */
#include "astromorph/status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { AM_ERRMSG_LEN = 1024 };
static _Thread_local char errmsg[AM_ERRMSG_LEN];

am_status am_error(am_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    return code;
}

am_status am_error_prefix(am_status code, const char *fmt, ...)
{
    char old[AM_ERRMSG_LEN], prefix[AM_ERRMSG_LEN];
    memcpy(old, errmsg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t n = strlen(prefix);
    /* a message that already starts with the prefix (the file's name, say) keeps it once */
    if (n && strncmp(old, prefix, n) == 0 && old[n] == ':') return code;
    if (n > AM_ERRMSG_LEN / 2) n = AM_ERRMSG_LEN / 2;
    memcpy(errmsg, prefix, n);
    errmsg[n] = '\0';
    strncat(errmsg, ": ", sizeof errmsg - strlen(errmsg) - 1);
    strncat(errmsg, old, sizeof errmsg - strlen(errmsg) - 1);
    return code;
}

const char *am_errmsg(void) { return errmsg; }
void am_clear_error(void) { errmsg[0] = '\0'; }

const char *am_status_name(am_status s)
{
    switch (s) {
    case AM_OK: return "ok";
    case AM_ERR_NOMEM: return "out of memory";
    case AM_ERR_IO: return "I/O error";
    case AM_ERR_FORMAT: return "format error";
    case AM_ERR_VALUE: return "bad value";
    case AM_ERR_SHAPE: return "shape mismatch";
    case AM_ERR_NOTFOUND: return "not found";
    case AM_ERR_BACKEND: return "backend error";
    case AM_ERR_NUMERIC: return "non-finite number";
    case AM_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

const char *am_errno_text(void) { return strerror(errno ? errno : EIO); }
