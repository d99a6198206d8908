/* `astromorph similar`: the k images whose embeddings are most similar to one image's (the
 * saved index's candidates re-scored exactly when there is a fresh one, else exact search),
 * leaving out other images of the same OBJECT by default, as in the paper. */
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/dist.h"
#include "astromorph/pca.h"
#include "astromorph/similarity.h"
#include "cli/analysis_common.h"
#include "cli/commands.h"
#include "dist/dist_internal.h"
#include "astromorph/pipeline.h"

enum { OPT_OBJECT = AC_OPT_FIRST_FREE, OPT_FILE, OPT_INDEX, OPT_METRIC, OPT_KEEP, OPT_EXACT };

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: astromorph similar (--object NAME | --file PATH | --index I) [-k K] [--metric M] [options]\n\n"
            "The K images most similar to one image, best first, as ';'-separated CSV:\n"
            "rank;index;object;right ascension;declination;rest freq;filepath;<metric>\n\n"
            "  --object NAME        the query is the (first) image with this OBJECT\n"
            "  --file PATH          ... with this file path (or file name)\n"
            "  --index I            ... in row I of the embeddings\n"
            "  -k K                 how many neighbours (default 6)\n"
            "  --metric M           cosine (default; higher is closer) or euclidean (distance)\n"
            "  --keep-same-object   also return other images of the query's OBJECT\n"
            "  --exact              search every row, not the saved index (exported/<model>.faiss,\n"
            "                       from 'astromorph index'; used by default while it is fresh)\n"
            "%s",
            AC_COMMON_HELP);
}

static am_status run(ac_common *c, const char *object, const char *file, long index, int k, am_metric metric, int keep,
                     int exact)
{
    am_embeddings e;
    AM_TRY(ac_load(c, &e));
    am_knn_index *ix = exact ? NULL : ac_open_index(c, &e, metric);
    am_status s = AM_OK;
    uint8_t *ex = NULL;
    am_neighbor *nb = NULL;
    float *pc = NULL;
    am_pca p = {0};
    int64_t q = -1;
    s = ac_find_row(c, &e, object, file, index, &q);
    ex = malloc((size_t)e.n);
    nb = malloc((size_t)k * sizeof *nb);
    if (s == AM_OK && (!ex || !nb)) s = am_error(AM_ERR_NOMEM, "out of memory");
    int found = 0;
    if (s == AM_OK) s = am_similar_exclusions(&e, q, keep, ex);
    if (s == AM_OK && ix) s = am_knn_index_similar(ix, e.data, e.data + q * e.dim, k, ex, nb, &found);
    else if (s == AM_OK) s = am_similar(e.data, e.n, e.dim, NULL, e.data + q * e.dim, metric, k, ex, nb, &found);
    if (s == AM_OK && found < k)
        fprintf(stderr, "astromorph similar: only %d other image%s to compare with\n", found, found == 1 ? "" : "s");
    ac_table t;
    if (s == AM_OK && (s = ac_table_open(&t, c)) == AM_OK) {
        ac_meta_header(t.fp, "rank;");
        fprintf(t.fp, ";%s\n", metric == AM_METRIC_COSINE ? "cosine" : "distance");
        for (int j = 0; j < found && s == AM_OK; j++) {
            fprintf(t.fp, "%d;", j + 1);
            s = ac_meta_row(t.fp, &e, nb[j].index);
            fprintf(t.fp, ";%.6g\n", nb[j].score);
        }
        s = ac_table_close(&t, s);
    }
    if (s == AM_OK && c->figure) s = am_embeddings_meta_all(&e); /* the figure labels every point */
    if (s == AM_OK && c->figure) {
        /* The map panel: the first two principal components of all embeddings. */
        int have_pca = e.n >= 3 && e.dim >= 2;
        if (have_pca) {
            pc = malloc((size_t)e.n * 2 * sizeof *pc);
            s = pc ? am_pca_fit(e.data, e.n, e.dim, 2, &p) : am_error(AM_ERR_NOMEM, "out of memory");
            if (s == AM_OK) s = am_pca_transform(&p, e.data, e.n, pc);
        }
        ac_thumbs th;
        am_figure_options fo = ac_figure_opts(&th, c, &e);
        if (s == AM_OK)
            s = ac_figure_done(c, am_figure_similar(c->figure, &e, q, nb, found, metric, have_pca ? pc : NULL,
                                                    have_pca ? p.variance_ratio : NULL, &fo));
    }
    am_pca_free(&p);
    free(pc);
    free(ex);
    free(nb);
    am_knn_index_free(ix);
    am_embeddings_free(&e);
    return s;
}

/* Over MPI ranks: each rank searches its share of the rows, the lists merge, and rank 0 prints
 * the table with the metadata of the rows found, fetched from their ranks. */
static am_status run_ranks(ac_common *c, const char *object, const char *file, long index, int k, am_metric metric,
                           int keep, int exact)
{
    (void)exact; /* each rank searches its share exactly */
    if (c->figure)
        return am_error(AM_ERR_VALUE, "--figure: draw the figure from one process (its map needs every row at once)");
    am_embeddings e;
    int64_t row0 = 0, total = 0, q = -1;
    AM_TRY(ac_load_share(c, &e, 1, &row0, &total));
    am_status s = ac_find_row_share(c, &e, row0, total, object, file, index, &q);
    /* the query's vector and OBJECT, from the rank that holds it */
    const int size = am_dist_size(), rank = am_dist_rank(), mine = q >= row0 && q < row0 + e.n;
    int32_t *owner = calloc((size_t)size, sizeof *owner);
    float *qv = malloc((size_t)e.dim * sizeof *qv);
    char qobj[AM_META_LEN] = "";
    uint8_t *ex = malloc((size_t)(e.n ? e.n : 1));
    am_neighbor *nb = malloc((size_t)k * sizeof *nb);
    am_meta *found_meta = calloc((size_t)k, sizeof *found_meta);
    int64_t *rows = malloc((size_t)k * sizeof *rows);
    if (s == AM_OK && (!owner || !qv || !ex || !nb || !found_meta || !rows))
        s = am_error(AM_ERR_NOMEM, "out of memory");
    s = am_dist_agree(s);
    if (s == AM_OK) s = am_dist_allgather(&(int32_t){mine}, sizeof(int32_t), owner);
    int from = 0;
    while (s == AM_OK && from < size && !owner[from]) from++;
    if (s == AM_OK && mine) {
        memcpy(qv, e.data + (q - row0) * e.dim, (size_t)e.dim * sizeof *qv);
        snprintf(qobj, sizeof qobj, "%s", e.meta[q - row0].object);
    }
    if (s == AM_OK) s = am_dist_bcast(qv, e.dim * (int64_t)sizeof *qv, from);
    if (s == AM_OK) s = am_dist_bcast(qobj, sizeof qobj, from);
    int found = 0;
    if (s == AM_OK) s = am_similar_exclusions_object(&e, mine ? q - row0 : -1, qobj, keep, ex);
    if (s == AM_OK) {
        s = am_similar_ranks(e.data, e.n, row0, e.dim, qv, metric, k, ex, nb, &found);
    }
    for (int j = 0; j < k; j++) am_meta_init(&found_meta[j]);
    for (int j = 0; s == AM_OK && j < found; j++) rows[j] = nb[j].index;
    if (s == AM_OK) s = am_dist_fetch_meta(e.meta, e.n, row0, rows, found, found_meta);
    if (s == AM_OK && rank == 0 && found < k)
        fprintf(stderr, "astromorph similar: only %d other image%s to compare with\n", found, found == 1 ? "" : "s");
    ac_table t;
    if (s == AM_OK && rank == 0 && (s = ac_table_open(&t, c)) == AM_OK) {
        ac_meta_header(t.fp, "rank;");
        fprintf(t.fp, ";%s\n", metric == AM_METRIC_COSINE ? "cosine" : "distance");
        for (int j = 0; j < found; j++) {
            fprintf(t.fp, "%d;%lld;", j + 1, (long long)nb[j].index);
            am_csv_meta(t.fp, &found_meta[j]);
            fprintf(t.fp, ";%.6g\n", nb[j].score);
        }
        s = ac_table_close(&t, s);
    }
    s = am_dist_agree(s);
    for (int j = 0; found_meta && j < k; j++) am_meta_free(&found_meta[j]);
    free(owner), free(qv), free(ex), free(nb), free(found_meta), free(rows);
    am_embeddings_free(&e);
    return s;
}

typedef struct {
    const char *object, *file;
    long index, k;
    int keep, queries, exact;
    am_metric metric;
} sim_opts;

static int option(const ac_common *c, void *user, int opt, const char *arg)
{
    sim_opts *so = user;
    switch (opt) {
    case OPT_OBJECT:
        so->object = arg;
        so->queries++;
        return 1;
    case OPT_FILE:
        so->file = arg;
        so->queries++;
        return 1;
    case OPT_INDEX: so->queries++; return ac_parse_int(c, "--index", arg, 0, LONG_MAX, &so->index);
    case 'k': return ac_parse_int(c, "-k", arg, 1, 100000, &so->k);
    case OPT_METRIC:
        if (am_metric_parse(arg, "--metric", &so->metric) == AM_OK) return 1;
        am_cli_fail(c->cmd);
        return 0;
    case OPT_KEEP: so->keep = 1; return 1;
    case OPT_EXACT: so->exact = 1; return 1;
    default: return 0;
    }
}

int am_cmd_similar(int argc, char **argv)
{
    static const struct option opts[] = {{"object", required_argument, NULL, OPT_OBJECT},
                                         {"file", required_argument, NULL, OPT_FILE},
                                         {"index", required_argument, NULL, OPT_INDEX},
                                         {"metric", required_argument, NULL, OPT_METRIC},
                                         {"keep-same-object", no_argument, NULL, OPT_KEEP},
                                         {"exact", no_argument, NULL, OPT_EXACT},
                                         {NULL, 0, NULL, 0}};
    static const ac_command cmd = {"similar", opts, "k:", option, usage};
    ac_common c;
    sim_opts so = {.index = -1, .k = 6, .metric = AM_METRIC_COSINE};
    int st = ac_parse(&cmd, &c, &so, argc, argv);
    if (st >= 0) return st;
    c.lazy_meta = 1; /* only the query's and its neighbours' metadata is decoded */
    if (so.queries != 1) {
        fprintf(stderr, "astromorph similar: give exactly one of --object, --file or --index (try --help)\n");
        return 2;
    }
    am_status (*how)(ac_common *, const char *, const char *, long, int, am_metric, int, int) =
        am_dist_size() > 1 ? run_ranks : run;
    return how(&c, so.object, so.file, so.index, (int)so.k, so.metric, so.keep, so.exact) == AM_OK
               ? 0
               : am_cli_fail("similar");
}
