/* Options, loading, tables and thumbnails shared by the analysis commands. */
#include "cli/analysis_common.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "astromorph/dist.h"
#include "astromorph/fits.h"
#include "core/internal.h"
#include "dist/dist_internal.h"

const char AC_COMMON_HELP[] =
    "  --embeddings FILE    embeddings from inference (.safetensors) or its CSV export\n"
    "                       (default: the newest in exported/)\n"
    "  -o, --output FILE    write the table there instead of to standard output\n"
    "  --figure FILE        draw the figure (.png or .pdf)\n"
    "  --data-root DIR      folder that relative image paths are under (for thumbnails)\n"
    "  --stretch S          thumbnail stretch: linear (default), asinh or log\n"
    "  --threads N          threads to use (default: all cores)\n"
    "  --where \"S OP V\"     keep only images whose statistic S (a column of the embeddings\n"
    "                       file, e.g. gini, area, morph_flags, or cluster) compares so with V;\n"
    "                       OP is <, <=, >, >=, == or !=; repeat to combine (all must hold)\n"
    "  -h, --help           this help\n";

int ac_parse_int(const ac_common *c, const char *name, const char *arg, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (!arg[0] || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "astromorph %s: %s %s: must be an integer from %ld to %ld\n", c->cmd, name, arg, lo, hi);
        return 0;
    }
    *out = v;
    return 1;
}

int ac_parse_double(const ac_common *c, const char *name, const char *arg, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(arg, &end);
    if (!arg[0] || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "astromorph %s: %s %s: must be a number from %g to %g\n", c->cmd, name, arg, lo, hi);
        return 0;
    }
    *out = v;
    return 1;
}

/* One common option: 1 when handled, 0 when not one of them, -1 after printing an error. */
static int common_option(ac_common *c, int opt, const char *arg)
{
    long v;
    switch (opt) {
    case AC_OPT_EMBEDDINGS: c->embeddings = arg; return 1;
    case 'o': c->output = arg; return 1;
    case AC_OPT_FIGURE: {
        size_t n = strlen(arg);
        if (n < 5 || (strcmp(arg + n - 4, ".png") != 0 && strcmp(arg + n - 4, ".pdf") != 0)) {
            fprintf(stderr, "astromorph %s: --figure %s: the file name must end in .png or .pdf\n", c->cmd, arg);
            return -1;
        }
        c->figure = arg;
        return 1;
    }
    case AC_OPT_DATA_ROOT: c->data_root = arg; return 1;
    case AC_OPT_STRETCH:
        if (strcmp(arg, "linear") == 0) c->thumb.stretch = AM_STRETCH_LINEAR;
        else if (strcmp(arg, "asinh") == 0) c->thumb.stretch = AM_STRETCH_ASINH;
        else if (strcmp(arg, "log") == 0) c->thumb.stretch = AM_STRETCH_LOG;
        else {
            fprintf(stderr, "astromorph %s: --stretch %s: must be linear, asinh or log\n", c->cmd, arg);
            return -1;
        }
        return 1;
    case AC_OPT_THREADS:
        if (!ac_parse_int(c, "--threads", arg, 0, 4096, &v)) return -1;
        c->threads = (int)v;
        return 1;
    case AC_OPT_WHERE:
        if (c->nwhere == (int)(sizeof c->where / sizeof c->where[0])) {
            fprintf(stderr, "astromorph %s: at most 8 --where conditions\n", c->cmd);
            return -1;
        }
        c->where[c->nwhere++] = arg;
        return 1;
    default: return 0;
    }
}

static const struct option common_options[] = {
    {"embeddings", required_argument, NULL, AC_OPT_EMBEDDINGS}, {"figure", required_argument, NULL, AC_OPT_FIGURE},
    {"data-root", required_argument, NULL, AC_OPT_DATA_ROOT},   {"stretch", required_argument, NULL, AC_OPT_STRETCH},
    {"threads", required_argument, NULL, AC_OPT_THREADS},       {"output", required_argument, NULL, 'o'},
    {"where", required_argument, NULL, AC_OPT_WHERE},           {"help", no_argument, NULL, 'h'},
};
enum { N_COMMON = sizeof common_options / sizeof common_options[0], MAX_OPTIONS = 40 };

int ac_parse(const ac_command *cmd, ac_common *c, void *user, int argc, char **argv)
{
    memset(c, 0, sizeof *c);
    c->cmd = cmd->name;
    am_thumb_options_default(&c->thumb);
    struct option all[MAX_OPTIONS];
    int n = 0;
    for (int i = 0; i < N_COMMON; i++) all[n++] = common_options[i];
    for (const struct option *o = cmd->options; o->name && n < MAX_OPTIONS - 1; o++) all[n++] = *o;
    all[n] = (struct option){NULL, 0, NULL, 0};
    char shorts[32];
    snprintf(shorts, sizeof shorts, "o:h%s", cmd->short_opts ? cmd->short_opts : "");
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, shorts, all, NULL)) != -1) {
        int r = common_option(c, opt, optarg);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (opt == 'h') {
            cmd->usage(stdout);
            return 0;
        }
        if (opt == '?' || opt == ':') {
            cmd->usage(stderr);
            return 2;
        }
        if (!cmd->option(c, user, opt, optarg)) return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "astromorph %s: unexpected argument '%s' (try --help)\n", c->cmd, argv[optind]);
        return 2;
    }
    return -1;
}

am_status ac_figure_done(const ac_common *c, am_status s)
{
    if (s == AM_OK) fprintf(stderr, "figure: %s\n", c->figure);
    return s;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n > m && strcmp(s + n - m, suf) == 0;
}

/* The newest embeddings file in exported/ (a .safetensors wins a tie with a .fits or a .csv). */
static am_status newest_export(char *out, size_t len)
{
    static const char *const kinds[] = {".safetensors", ".fits", ".csv", NULL};
    am_status s = am_newest_file("exported", "", kinds, out, len);
    if (s == AM_ERR_IO)
        return am_error(AM_ERR_NOTFOUND,
                        "no --embeddings given and no exported/ folder here (run 'astromorph inference' first)");
    if (s != AM_OK) return am_error(AM_ERR_NOTFOUND, "no --embeddings given and no .safetensors or .csv in exported/");
    /* Inference writes <model>.safetensors, then <model>.csv: prefer the safetensors twin, which
     * also keeps each row's extra metadata. */
    size_t n = strlen(out);
    if (has_suffix(out, ".csv") && n - 4 + 13 < len) {
        char twin[4096];
        snprintf(twin, sizeof twin, "%.*s.safetensors", (int)(n - 4), out);
        if (am_file_exists(twin)) snprintf(out, len, "%s", twin);
    }
    return AM_OK;
}

static am_status ac_load_all(ac_common *c, am_embeddings *e);

/* Applies one --where condition "STAT OP VALUE" to keep (1: kept so far). */
static am_status where_mask(const ac_common *c, const am_embeddings *e, const char *cond, uint8_t *keep)
{
    char name[72], op[3] = "";
    size_t i = 0, n = 0;
    while (cond[i] == ' ') i++;
    while (cond[i] && !strchr("<>=! ", cond[i]) && n < sizeof name - 1) name[n++] = cond[i++];
    name[n] = 0;
    while (cond[i] == ' ') i++;
    for (n = 0; cond[i] && strchr("<>=!", cond[i]) && n < 2; n++) op[n] = cond[i++];
    op[n] = 0;
    char *end;
    double v = strtod(cond + i, &end);
    while (*end == ' ') end++;
    int which = !strcmp(op, "<")    ? 0
                : !strcmp(op, "<=") ? 1
                : !strcmp(op, ">")  ? 2
                : !strcmp(op, ">=") ? 3
                : !strcmp(op, "==") ? 4
                : !strcmp(op, "!=") ? 5
                                    : -1;
    if (!name[0] || which < 0 || end == cond + i || *end)
        return am_error(AM_ERR_VALUE, "--where \"%s\": write it as STATISTIC OP NUMBER, e.g. \"gini > 0.5\"", cond);
    int64_t col = am_embeddings_stat_index(e, name);
    int cluster = !strcmp(name, "cluster");
    if (col < 0 && !(cluster && e->labels))
        return am_error(AM_ERR_NOTFOUND, "--where \"%s\": %s has no statistic '%s'%s", cond, c->embeddings, name,
                        e->nstats ? "" : " (it has no statistics: inference writes them unless morphology = false)");
    for (int64_t r = 0; r < e->n; r++) {
        double x = cluster ? (double)e->labels[r] : (double)e->stats[r * e->nstats + col];
        /* an undefined statistic (NaN) satisfies nothing but != */
        int ok = which == 0   ? x < v
                 : which == 1 ? x <= v
                 : which == 2 ? x > v
                 : which == 3 ? x >= v
                 : which == 4 ? x == v
                              : !(x == v);
        keep[r] &= (uint8_t)ok;
    }
    return AM_OK;
}

/* Keeps the rows that pass every --where. */
static am_status apply_where(const ac_common *c, am_embeddings *e)
{
    uint8_t *keep = malloc((size_t)(e->n ? e->n : 1));
    am_status s = keep ? AM_OK : am_error(AM_ERR_NOMEM, "out of memory");
    if (keep) memset(keep, 1, (size_t)e->n);
    for (int w = 0; w < c->nwhere && s == AM_OK; w++) s = where_mask(c, e, c->where[w], keep);
    if (s == AM_OK) s = am_embeddings_select(e, keep);
    free(keep);
    return s;
}

am_status ac_load(ac_common *c, am_embeddings *e)
{
    AM_TRY(ac_load_all(c, e));
    if (c->nwhere == 0) return AM_OK;
    int64_t before = e->n;
    am_status s = apply_where(c, e);
    if (s == AM_OK && e->n == 0)
        s = am_error(AM_ERR_VALUE, "--where: none of the %lld images qualifies", (long long)before);
    if (s == AM_OK)
        fprintf(stderr, "astromorph %s: %lld of %lld images kept by --where\n", c->cmd, (long long)e->n,
                (long long)before);
    if (s != AM_OK) am_embeddings_free(e);
    return s;
}

/* Every rank's count, summed in rank order: this rank's first row and the total. */
static am_status rank_offsets(int64_t n, int64_t *row0, int64_t *total)
{
    const int size = am_dist_size(), rank = am_dist_rank();
    int64_t *v = calloc((size_t)size, sizeof *v);
    if (!v) return am_error(AM_ERR_NOMEM, "out of memory");
    am_status s = am_dist_allgather(&n, sizeof n, v);
    *row0 = *total = 0;
    for (int r = 0; s == AM_OK && r < size; r++) {
        if (r < rank) *row0 += v[r];
        *total += v[r];
    }
    free(v);
    return s;
}

/* Rank r's rows of n, the shares' ends on multiples of align. */
static int64_t share_start(int64_t n, int r, int size, int64_t align)
{
    if (r >= size) return n;
    int64_t a = n * r / size / align * align;
    return a < n ? a : n;
}

am_status ac_load_share(ac_common *c, am_embeddings *e, int64_t align, int64_t *row0, int64_t *total)
{
    memset(e, 0, sizeof *e);
    const int size = am_dist_size(), rank = am_dist_rank();
    if (size == 1) {
        AM_TRY(ac_load(c, e));
        *row0 = 0, *total = e->n;
        am_status s = am_embeddings_meta_all(e); /* the shares' code reads e->meta */
        if (s != AM_OK) am_embeddings_free(e);
        return s;
    }
    static char chosen[4096];
    if (c->threads > 0) am_set_threads(c->threads);
    am_status s = AM_OK;
    if (!c->embeddings && (s = newest_export(chosen, sizeof chosen)) == AM_OK) c->embeddings = chosen;
    int64_t n = 0, dim = 0;
    /* the native form: only this rank's rows are read; the others are read whole, then cut */
    if (s == AM_OK && am_embeddings_shape(c->embeddings, &n, &dim) == AM_OK) {
        s = am_embeddings_read_rows(e, c->embeddings, share_start(n, rank, size, align),
                                    share_start(n, rank + 1, size, align));
    } else if (s == AM_OK && (s = am_embeddings_load(e, c->embeddings)) == AM_OK) {
        n = e->n;
        uint8_t *keep = calloc((size_t)(n ? n : 1), 1);
        for (int64_t i = share_start(n, rank, size, align); keep && i < share_start(n, rank + 1, size, align); i++)
            keep[i] = 1;
        s = keep ? am_embeddings_select(e, keep) : am_error(AM_ERR_NOMEM, "out of memory");
        free(keep);
    }
    if (s == AM_OK && c->nwhere) s = apply_where(c, e);
    s = am_dist_agree(s);
    if (s == AM_OK) s = rank_offsets(e->n, row0, total);
    if (s == AM_OK && *total == 0)
        s = c->nwhere ? am_error(AM_ERR_VALUE, "--where: none of the %lld images qualifies", (long long)n)
                      : am_error(AM_ERR_VALUE, "%s: no embeddings in the file", c->embeddings);
    if (s == AM_OK && rank == 0) {
        fprintf(stderr, "astromorph %s: using %s, %lld rows over %d MPI ranks\n", c->cmd, c->embeddings, (long long)n,
                size);
        if (c->nwhere)
            fprintf(stderr, "astromorph %s: %lld of %lld images kept by --where\n", c->cmd, (long long)*total,
                    (long long)n);
    }
    if (s != AM_OK) am_embeddings_free(e);
    return s;
}

static am_status ac_load_all(ac_common *c, am_embeddings *e)
{
    static char chosen[4096];
    if (c->threads > 0) am_set_threads(c->threads);
    if (!c->embeddings) {
        AM_TRY(newest_export(chosen, sizeof chosen));
        c->embeddings = chosen;
        fprintf(stderr, "astromorph %s: using %s\n", c->cmd, chosen);
    }
    AM_TRY(am_embeddings_load_opts(e, c->embeddings,
                                   (c->keep_f16 ? AM_EMB_KEEP_F16 : 0u) | (c->lazy_meta ? AM_EMB_LAZY_META : 0u)));
    if (e->n < 1) {
        am_embeddings_free(e);
        return am_error(AM_ERR_VALUE, "%s: no embeddings in the file", c->embeddings);
    }
    return AM_OK;
}

am_status ac_table_open(ac_table *t, const ac_common *c)
{
    memset(t, 0, sizeof *t);
    if (!c->output) {
        t->fp = stdout;
        return AM_OK;
    }
    AM_TRY(am_atomic_open(&t->af, c->output, 0));
    t->fp = t->af.fp;
    t->to_file = 1;
    return AM_OK;
}

am_status ac_table_close(ac_table *t, am_status s)
{
    if (!t->to_file) {
        /* a full disk or a closed pipe shows only at the flush: say so, never exit 0 */
        if (fflush(stdout) != 0 || ferror(stdout)) {
            int err = errno;
            clearerr(stdout);
            if (s == AM_OK) s = am_error(AM_ERR_IO, "standard output: write failed: %s", strerror(err ? err : EIO));
        }
        return s;
    }
    if (s == AM_OK && ferror(t->fp)) s = am_error(AM_ERR_IO, "%s: write failed: %s", t->af.path, am_errno_text());
    if (s != AM_OK) {
        am_atomic_abort(&t->af);
        return s;
    }
    return am_atomic_commit(&t->af);
}

void ac_meta_header(FILE *fp, const char *prefix)
{
    fprintf(fp, "%sindex;object;right ascension;declination;rest freq;filepath", prefix ? prefix : "");
}

am_status ac_meta_row(FILE *fp, const am_embeddings *e, int64_t row)
{
    if (e->meta) {
        fprintf(fp, "%lld;", (long long)row);
        am_csv_meta(fp, &e->meta[row]);
        return AM_OK;
    }
    am_meta m;
    am_status s = am_embeddings_meta(e, row, &m);
    if (s == AM_OK) {
        fprintf(fp, "%lld;", (long long)row);
        am_csv_meta(fp, &m);
    }
    am_meta_free(&m);
    return s;
}

/* Exists, ignoring a CFITSIO extension suffix "[...]". */
static int image_exists(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    char *br = strchr(buf, '[');
    if (br && br != buf) *br = 0;
    return am_file_exists(buf);
}

am_status ac_image_path(const ac_common *c, const am_embeddings *e, int64_t row, char *path, size_t size)
{
    am_meta m;
    AM_TRY(am_embeddings_meta(e, row, &m));
    char fp[4096];
    snprintf(fp, sizeof fp, "%s", m.filepath ? m.filepath : "");
    am_meta_free(&m);
    if (!fp[0] || strcmp(fp, "N/A") == 0) return am_error(AM_ERR_NOTFOUND, "row %lld has no file path", (long long)row);
    snprintf(path, size, "%s", fp);
    if (fp[0] != '/' && c->data_root) {
        snprintf(path, size, "%s/%s", c->data_root, fp);
    } else if (fp[0] != '/' && !image_exists(fp) && c->embeddings) {
        const char *emb = c->embeddings, *slash = strrchr(emb, '/');
        int dirlen = slash ? (int)(slash - emb) : 0;
        if (dirlen >= 8 && strncmp(emb + dirlen - 8, "exported", 8) == 0)
            snprintf(path, size, "%.*s%s", dirlen - 8, emb, fp);
    }
    return AM_OK;
}

static am_status thumb_source(void *user, int64_t row, int size, am_thumbnail *out)
{
    ac_thumbs *t = user;
    char path[4096];
    AM_TRY(ac_image_path(t->common, t->e, row, path, sizeof path));
    am_tensor img;
    am_status s = am_fits_read(path, NULL, &img, NULL);
    if (s != AM_OK) {
        if (!t->warned++)
            fprintf(stderr, "astromorph %s: cannot read images for thumbnails (%s); try --data-root\n", t->common->cmd,
                    am_errmsg());
        return s;
    }
    s = am_thumbnail_make(img.data, (int)img.shape[0], (int)img.shape[1], (int)img.shape[2], size, &t->common->thumb,
                          out, NULL);
    am_tensor_free(&img);
    return s;
}

am_figure_options ac_figure_opts(ac_thumbs *t, const ac_common *c, const am_embeddings *e)
{
    t->common = c;
    t->e = e;
    t->warned = 0;
    am_figure_options o = {.thumbs = thumb_source, .user = t, .title = NULL};
    return o;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The first of e's rows that match (case-insensitively for an OBJECT when `loose`), and how many. */
static am_status first_match(const am_embeddings *e, const char *object, const char *file, int loose, int64_t *hit,
                             int64_t *count)
{
    *hit = -1, *count = 0;
    for (int64_t i = 0; i < e->n; i++) {
        if (object && !loose && !e->meta) { /* OBJECT compared in place, the row not decoded */
            int same = 0;
            AM_TRY(am_embeddings_object_is(e, i, object, &same));
            if (same && (*count)++ == 0) *hit = i;
            continue;
        }
        am_meta lazy;
        const am_meta *m = e->meta ? &e->meta[i] : &lazy;
        if (!e->meta) AM_TRY(am_embeddings_meta(e, i, &lazy)); /* one row at a time, not all at once */
        const char *fp = m->filepath ? m->filepath : "";
        int match = object ? (loose ? strcasecmp : strcmp)(m->object, object) == 0
                           : (strcmp(fp, file) == 0 || strcmp(base_name(fp), base_name(file)) == 0);
        if (match && (*count)++ == 0) *hit = i;
        if (!e->meta) am_meta_free(&lazy);
    }
    return AM_OK;
}

am_status ac_find_row_share(const ac_common *c, const am_embeddings *e, int64_t row0, int64_t total, const char *object,
                            const char *file, long index, int64_t *row)
{
    if (am_dist_size() == 1) return ac_find_row(c, e, object, file, index, row);
    if (index >= 0) {
        if (index >= total)
            return am_error(AM_ERR_VALUE, "--index %ld: %s has %lld rows", index, c->embeddings, (long long)total);
        *row = index;
        return AM_OK;
    }
    /* every rank's first match and count: the global first is the lowest rank's */
    const int size = am_dist_size(), rank = am_dist_rank();
    int64_t *v = calloc((size_t)size * 2, sizeof *v);
    if (!v) return am_error(AM_ERR_NOMEM, "out of memory");
    int64_t hit = -1, count = 0;
    am_status s = AM_OK;
    for (int loose = 0; loose < (object ? 2 : 1) && hit < 0 && s == AM_OK; loose++) {
        int64_t n = 0, h = -1;
        s = first_match(e, object, file, loose, &h, &n);
        if (s == AM_OK) s = am_dist_allgather((int64_t[2]){h >= 0 ? row0 + h : -1, n}, 2 * sizeof(int64_t), v);
        for (int r = 0; r < size && s == AM_OK; r++) {
            if (hit < 0 && v[2 * r] >= 0) hit = v[2 * r];
            count += v[2 * r + 1];
        }
        if (loose && hit >= 0) count = 1;
    }
    free(v);
    AM_TRY(s);
    if (hit < 0)
        return am_error(AM_ERR_NOTFOUND, "no image with %s '%s' in %s", object ? "OBJECT" : "file path",
                        object ? object : file, c->embeddings);
    if (count > 1 && rank == 0)
        fprintf(stderr, "astromorph %s: %lld images match '%s'; using row %lld (choose with --index)\n", c->cmd,
                (long long)count, object ? object : file, (long long)hit);
    *row = hit;
    return AM_OK;
}

am_status ac_find_row(const ac_common *c, const am_embeddings *e, const char *object, const char *file, long index,
                      int64_t *row)
{
    if (index >= 0) {
        if (index >= e->n)
            return am_error(AM_ERR_VALUE, "--index %ld: %s has %lld rows", index, c->embeddings, (long long)e->n);
        *row = index;
        return AM_OK;
    }
    int64_t count = 0, hit = -1;
    AM_TRY(first_match(e, object, file, 0, &hit, &count));
    if (hit < 0 && object) { /* a second chance, ignoring case */
        AM_TRY(first_match(e, object, file, 1, &hit, &count));
        count = 1;
    }
    if (hit < 0)
        return am_error(AM_ERR_NOTFOUND, "no image with %s '%s' in %s", object ? "OBJECT" : "file path",
                        object ? object : file, c->embeddings);
    if (count > 1)
        fprintf(stderr, "astromorph %s: %lld images match '%s'; using row %lld (choose with --index)\n", c->cmd,
                (long long)count, object ? object : file, (long long)hit);
    *row = hit;
    return AM_OK;
}
