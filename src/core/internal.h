/* What the modules share that is not the library's API: file-system helpers and the size at
 * which an elementwise loop is worth a thread team. */
#ifndef AM_CORE_INTERNAL_H
#define AM_CORE_INTERNAL_H

#include <stddef.h>

#include "astromorph/status.h"

/* Elementwise loops over at least this many values run on all threads (each value's result is
 * the same at any thread count); shorter ones are not worth starting a team for. */
#define AM_PARALLEL_MIN 32768

/* mkdir -p. */
am_status am_mkdirs(const char *path);
int am_file_exists(const char *path);
/* The newest regular file dir/<prefix>*<suffix> by modification time (nanoseconds), for one of
 * the NULL-terminated suffixes; on a tie the earlier suffix wins. out gets "dir/name".
 * AM_ERR_IO when dir cannot be opened, AM_ERR_NOTFOUND when nothing matches. */
am_status am_newest_file(const char *dir, const char *prefix, const char *const *suffixes, char *out, size_t len);

#endif
