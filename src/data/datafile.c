/* The `datafile` setting: a text list of images, or a directory of *.fits* files. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "astromorph/runtime.h"
#include "data/dataset_internal.h"

void am_free_paths(char **paths, int64_t n)
{
    if (!paths) return;
    for (int64_t i = 0; i < n; i++) free(paths[i]);
    free(paths);
}

static am_status push(char ***paths, int64_t *n, int64_t *cap, char *p, const char *source)
{
    if (!p) return am_error(AM_ERR_NOMEM, "%s: out of memory for the file list", source);
    if (*n == *cap) {
        int64_t nc = *cap ? *cap * 2 : 64;
        char **np = realloc(*paths, (size_t)nc * sizeof *np);
        if (!np) {
            free(p);
            return am_error(AM_ERR_NOMEM, "%s: out of memory for the file list", source);
        }
        *paths = np;
        *cap = nc;
    }
    (*paths)[(*n)++] = p;
    return AM_OK;
}

static int is_fits_name(const char *name)
{
    for (const char *p = name; *p; p++) {
        if (*p != '.') continue;
        const char *s = p + 1;
        if (tolower((unsigned char)s[0]) == 'f' && tolower((unsigned char)s[1]) == 'i' &&
            tolower((unsigned char)s[2]) == 't' && tolower((unsigned char)s[3]) == 's')
            return 1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static am_status read_directory(const char *dir, char ***paths, int64_t *n)
{
    DIR *d = opendir(dir);
    if (!d) return am_error(AM_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    int64_t cap = 0;
    am_status s = AM_OK;
    struct dirent *e;
    while (s == AM_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !is_fits_name(e->d_name)) continue;
        char *p = join(dir, e->d_name);
        struct stat sb;
        if (p && (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode))) {
            /* a link that leads nowhere (dangling, or a loop) is worth a word; a folder is not */
            struct stat lb;
            if (lstat(p, &lb) == 0 && S_ISLNK(lb.st_mode))
                am_log(AM_LOG_WARN, "%s: skipped: a symbolic link that %s", p,
                       errno == ELOOP ? "loops" : "points to nothing readable");
            free(p);
            continue;
        }
        s = push(paths, n, &cap, p, dir);
    }
    closedir(d);
    if (s != AM_OK) return s;
    if (*n == 0) return am_error(AM_ERR_NOTFOUND, "%s: no *.fits* files in this directory", dir);
    qsort(*paths, (size_t)*n, sizeof **paths, cmp_str);
    return AM_OK;
}

static am_status read_list(const char *list, char ***paths, int64_t *n)
{
    FILE *fp = fopen(list, "r");
    if (!fp) return am_error(AM_ERR_IO, "%s: cannot open the data file list: %s", list, strerror(errno));
    /* Relative entries are relative to the list's folder, not to where the program runs. */
    char *dir = strdup(list);
    if (!dir) {
        fclose(fp);
        return am_error(AM_ERR_NOMEM, "%s: out of memory", list);
    }
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else strcpy(dir, ".");
    if (slash == dir) strcpy(dir, "/");
    char *line = NULL;
    size_t cap_line = 0;
    int64_t cap = 0;
    am_status s = AM_OK;
    while (s == AM_OK && getline(&line, &cap_line, fp) != -1) {
        char *p = line;
        while (isspace((unsigned char)*p)) p++;
        size_t len = strlen(p);
        while (len > 0 && isspace((unsigned char)p[len - 1])) p[--len] = '\0';
        if (len == 0 || p[0] == '#') continue;
        char *path = p[0] == '/' || !slash ? strdup(p) : join(dir, p);
        s = push(paths, n, &cap, path, list);
    }
    int read_err = ferror(fp);
    free(line);
    free(dir);
    fclose(fp);
    if (s == AM_OK && read_err) s = am_error(AM_ERR_IO, "%s: read error in the data file list", list);
    if (s == AM_OK && *n == 0) s = am_error(AM_ERR_VALUE, "%s: the data file list names no images", list);
    return s;
}

/* A FITS file (plain or gzipped) given where a list is expected is a dataset of one image. */
static int looks_like_fits(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    unsigned char head[9] = {0};
    size_t got = fread(head, 1, sizeof head, fp);
    fclose(fp);
    return (got == 9 && !memcmp(head, "SIMPLE  =", 9)) || (got >= 2 && head[0] == 0x1f && head[1] == 0x8b);
}

am_status am_read_datafile(const char *datafile, char ***paths, int64_t *n)
{
    *paths = NULL;
    *n = 0;
    struct stat sb;
    if (stat(datafile, &sb) != 0) return am_error(AM_ERR_IO, "%s: cannot open: %s", datafile, strerror(errno));
    am_status s;
    if (S_ISDIR(sb.st_mode)) s = read_directory(datafile, paths, n);
    else if (looks_like_fits(datafile)) s = push(paths, n, &(int64_t){0}, strdup(datafile), datafile); /* one image */
    else s = read_list(datafile, paths, n);
    if (s != AM_OK) {
        am_free_paths(*paths, *n);
        *paths = NULL;
        *n = 0;
    }
    return s;
}
