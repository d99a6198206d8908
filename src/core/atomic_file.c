/* Outputs written to a temporary name and renamed when complete. */
#include "astromorph/runtime.h"
#include "core/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_int pending; /* atomic files open now */

int am_atomic_pending(void) { return atomic_load(&pending); }

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

am_status am_atomic_open(am_atomic_file *af, const char *path, int binary)
{
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    af->path = dup_str(path);
    af->tmp_path = malloc(n);
    if (!af->path || !af->tmp_path) {
        am_atomic_abort(af);
        return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(af->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    atomic_fetch_add(&pending, 1); /* before the file exists: a signal then waits for it */
    af->fp = fopen(af->tmp_path, binary ? "wb" : "w");
    if (!af->fp) {
        am_status s = am_error(AM_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        am_atomic_abort(af);
        return s;
    }
    return AM_OK;
}

am_status am_atomic_commit(am_atomic_file *af)
{
    if (!af->fp) return am_error(AM_ERR_IO, "%s: file not open", af->path ? af->path : "?");
    int bad = ferror(af->fp) || fflush(af->fp) != 0 || fsync(fileno(af->fp)) != 0;
    bad |= fclose(af->fp) != 0;
    af->fp = NULL;
    if (bad || rename(af->tmp_path, af->path) != 0) {
        am_status s = am_error(AM_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
        am_atomic_abort(af);
        return s;
    }
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
    atomic_fetch_sub(&pending, 1);
    return AM_OK;
}

void am_atomic_abort(am_atomic_file *af)
{
    int counted = af->tmp_path != NULL && af->path != NULL;
    if (af->fp) fclose(af->fp);
    if (af->tmp_path) remove(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
    if (counted) atomic_fetch_sub(&pending, 1);
}

int am_atomic_clean_stale(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *tmp = strstr(e->d_name, ".tmp.");
        if (!tmp) continue;
        char *end;
        long pid = strtol(tmp + 5, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid()) continue;
        /* ESRCH: no such process; EPERM would mean one that runs as another user */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (remove(path) == 0) removed++;
    }
    closedir(d);
    return removed;
}

am_status am_lock_take(am_lock *l, const char *path, const char *what)
{
    l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (l->fd < 0) return am_error(AM_ERR_IO, "%s: cannot create the lock file: %s", path, strerror(errno));
    if (flock(l->fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        char buf[32] = "";
        ssize_t n = pread(l->fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        close(l->fd);
        l->fd = -1;
        if (err == EWOULDBLOCK)
            return am_error(AM_ERR_IO, "%s is in use by process %ld (%s); wait for it to finish or stop it first", what,
                            strtol(buf, NULL, 10), path);
        return am_error(AM_ERR_IO, "%s: cannot lock: %s", path, strerror(err));
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(l->fd, 0) != 0 || pwrite(l->fd, pid, (size_t)len, 0) != len) {
        /* the lock holds without the note; only the message would lack the process id */
    }
    return AM_OK;
}

void am_lock_release(am_lock *l)
{
    if (l->fd >= 0) close(l->fd);
    l->fd = -1;
}

am_status am_mkdirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return am_error(AM_ERR_VALUE, "bad directory name '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return am_error(AM_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    return AM_OK;
}

int am_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Index of the first suffix name ends with (longer than it), or -1. */
static int suffix_index(const char *name, const char *const *suffixes)
{
    size_t n = strlen(name);
    for (int i = 0; suffixes[i]; i++) {
        size_t m = strlen(suffixes[i]);
        if (n > m && strcmp(name + n - m, suffixes[i]) == 0) return i;
    }
    return -1;
}

am_status am_newest_file(const char *dir, const char *prefix, const char *const *suffixes, char *out, size_t len)
{
    DIR *d = opendir(dir);
    if (!d) return am_error(AM_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    struct dirent *de;
    struct timespec best = {0, 0};
    int best_suffix = -1;
    size_t plen = strlen(prefix);
    while ((de = readdir(d))) {
        int k = strncmp(de->d_name, prefix, plen) == 0 ? suffix_index(de->d_name, suffixes) : -1;
        if (k < 0) continue;
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        int newer = best_suffix < 0 || sb.st_mtim.tv_sec > best.tv_sec ||
                    (sb.st_mtim.tv_sec == best.tv_sec &&
                     (sb.st_mtim.tv_nsec > best.tv_nsec || (sb.st_mtim.tv_nsec == best.tv_nsec && k < best_suffix)));
        if (newer) {
            best = sb.st_mtim;
            best_suffix = k;
            snprintf(out, len, "%s", path);
        }
    }
    closedir(d);
    return best_suffix < 0 ? am_error(AM_ERR_NOTFOUND, "%s: no matching file", dir) : AM_OK;
}
