/* `astromorph index`: a FAISS index over the embeddings, saved beside them for similar, project
 * and outliers, and with --check its recall against the exact search. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/knn_index.h"
#include "astromorph/runtime.h"
#include "cli/analysis_common.h"
#include "cli/commands.h"
#include "core/internal.h"

enum { OPT_TYPE = AC_OPT_FIRST_FREE, OPT_METRIC, OPT_NLIST, OPT_NPROBE, OPT_PQ_M, OPT_CHECK, OPT_QUERIES, OPT_SEED };

static void usage(FILE *fp)
{
    fprintf(fp, "usage: astromorph index [--embeddings FILE] [--type T] [--metric M] [--check] [options]\n\n"
                "Builds a nearest-neighbour index (FAISS) over the embeddings and saves it beside them\n"
                "(exported/<model>.faiss for exported/<model>.safetensors), with a record of the rows it\n"
                "was built from: similar, project (t-SNE) and outliers then use it while it is fresh.\n\n"
                "  --embeddings FILE    embeddings from inference (default: the newest in exported/)\n"
                "  -o, --output FILE    where to save the index (default: beside the embeddings)\n"
                "  --type T             auto (default: flat below 100 000 rows, ivf up to 4 000 000 while\n"
                "                       the floats fit in half the free memory, ivfpq beyond), flat (exact),\n"
                "                       ivf, ivfpq, or hnsw (fast, but not reproducible: its graph depends on\n"
                "                       thread timing)\n"
                "  --metric M           cosine (default; as similar) or euclidean (as project and outliers)\n"
                "  --nlist N            IVF lists (default 4 sqrt(n), at most n / 39)\n"
                "  --nprobe N           IVF lists searched per query (default 32)\n"
                "  --pq-m M             IVF-PQ bytes a row, a divisor of the dimension (default: dim / 4)\n"
                "  --check              report recall@k against the exact search and the query time;\n"
                "                       checks the saved index without rebuilding it when it is fresh and\n"
                "                       no --type, --nlist, --nprobe or --pq-m is given\n"
                "  --queries N          rows drawn as queries for --check (default 1000)\n"
                "  -k K                 neighbours for --check (default 10)\n"
                "  --seed S             seed of the query draw (default 0)\n"
                "  --threads N          threads to use (default: all cores)\n"
                "  -h, --help           this help\n");
}

typedef struct {
    am_index_options io;
    int check, built_opts, metric_given;
    long queries, k, seed;
} idx_opts;

static int option(const ac_common *c, void *user, int opt, const char *arg)
{
    idx_opts *xo = user;
    long v = 0;
    switch (opt) {
    case OPT_TYPE:
        xo->built_opts = 1;
        if (am_index_type_parse(arg, "--type", &xo->io.type) == AM_OK) return 1;
        am_cli_fail(c->cmd);
        return 0;
    case OPT_METRIC:
        xo->metric_given = 1;
        if (am_metric_parse(arg, "--metric", &xo->io.metric) == AM_OK) return 1;
        am_cli_fail(c->cmd);
        return 0;
    case OPT_NLIST:
    case OPT_NPROBE:
    case OPT_PQ_M:
        xo->built_opts = 1;
        if (!ac_parse_int(c,
                          opt == OPT_NLIST    ? "--nlist"
                          : opt == OPT_NPROBE ? "--nprobe"
                                              : "--pq-m",
                          arg, 1, INT_MAX, &v))
            return 0;
        *(opt == OPT_NLIST ? &xo->io.nlist : opt == OPT_NPROBE ? &xo->io.nprobe : &xo->io.pq_m) = v;
        return 1;
    case OPT_CHECK: xo->check = 1; return 1;
    case OPT_QUERIES: return ac_parse_int(c, "--queries", arg, 1, 100000000, &xo->queries);
    case 'k': return ac_parse_int(c, "-k", arg, 1, 1000, &xo->k);
    case OPT_SEED: return ac_parse_int(c, "--seed", arg, 0, LONG_MAX, &xo->seed);
    default: return 0;
    }
}

static void describe(const char *path, const am_knn_index_info *f)
{
    printf("%s: %s index, %s, %lld x %lld", path, am_index_type_name(f->type), am_metric_name(f->metric),
           (long long)f->n, (long long)f->dim);
    if (f->nlist) printf(", %lld lists, %lld probed", (long long)f->nlist, (long long)f->nprobe);
    if (f->pq_m) printf(", %lld-byte codes", (long long)f->pq_m);
    printf("\n");
}

/* The saved index when --check may use it as it is: fresh, of the metric asked for. */
static am_knn_index *reusable(const char *path, const am_embeddings *e, const idx_opts *xo)
{
    am_knn_index *ix = NULL;
    if (xo->built_opts || !am_file_exists(path) || am_knn_index_load(path, &ix) != AM_OK) return NULL;
    const am_knn_index_info *f = am_knn_index_get_info(ix);
    if ((xo->metric_given && f->metric != xo->io.metric) || am_knn_index_fresh(ix, e->data, e->n, e->dim) != AM_OK) {
        am_knn_index_free(ix);
        return NULL;
    }
    return ix;
}

static am_status run(ac_common *c, idx_opts *xo)
{
    if (!am_index_available())
        return am_error(AM_ERR_VALUE, "this build has no FAISS (install libfaiss-dev with scripts/install-deps and "
                                      "reconfigure); similar, project and outliers search exactly without an index");
    if (c->nwhere) return am_error(AM_ERR_VALUE, "--where: an index covers every row of the embeddings");
    am_embeddings e;
    AM_TRY(ac_load(c, &e));
    char path[4096];
    if (c->output) snprintf(path, sizeof path, "%s", c->output);
    else ac_index_path(c->embeddings, path, sizeof path);
    am_knn_index *ix = xo->check ? reusable(path, &e, xo) : NULL;
    am_status s = AM_OK;
    if (ix) {
        printf("checking the saved index (fresh: built from these embeddings)\n");
    } else {
        double t = am_monotonic_seconds();
        s = am_knn_index_build(e.data, e.n, e.dim, &xo->io, &ix);
        if (s == AM_OK) s = am_knn_index_save(ix, path);
        if (s == AM_OK) printf("built and saved in %.2f s\n", am_monotonic_seconds() - t);
    }
    if (s == AM_OK) describe(path, am_knn_index_get_info(ix));
    am_index_check r;
    if (s == AM_OK && xo->check && e.n <= xo->k)
        s = am_error(AM_ERR_VALUE, "--check: -k %ld needs more than %ld rows (%lld here)", xo->k, xo->k,
                     (long long)e.n);
    if (s == AM_OK && xo->check &&
        (s = am_knn_index_check(ix, e.data, xo->queries, (int)xo->k, (uint64_t)xo->seed, &r)) == AM_OK)
        printf("recall@%d %.4f (FAISS alone %.4f) over %lld queries; index %.3f s (%.3g ms a query), exact %.3f s\n",
               r.k, r.recall, r.recall_raw, (long long)r.queries, r.index_seconds,
               1e3 * r.index_seconds / (double)r.queries, r.exact_seconds);
    am_knn_index_free(ix);
    am_embeddings_free(&e);
    return s;
}

int am_cmd_index(int argc, char **argv)
{
    static const struct option opts[] = {{"type", required_argument, NULL, OPT_TYPE},
                                         {"metric", required_argument, NULL, OPT_METRIC},
                                         {"nlist", required_argument, NULL, OPT_NLIST},
                                         {"nprobe", required_argument, NULL, OPT_NPROBE},
                                         {"pq-m", required_argument, NULL, OPT_PQ_M},
                                         {"check", no_argument, NULL, OPT_CHECK},
                                         {"queries", required_argument, NULL, OPT_QUERIES},
                                         {"seed", required_argument, NULL, OPT_SEED},
                                         {NULL, 0, NULL, 0}};
    static const ac_command cmd = {"index", opts, "k:", option, usage};
    ac_common c;
    idx_opts xo = {.queries = 1000, .k = 10};
    am_index_options_default(&xo.io);
    int st = ac_parse(&cmd, &c, &xo, argc, argv);
    if (st >= 0) return st;
    c.lazy_meta = 1; /* the index needs no metadata */
    return run(&c, &xo) == AM_OK ? 0 : am_cli_fail("index");
}
