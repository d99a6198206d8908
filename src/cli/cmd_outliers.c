/* `astromorph outliers`: every image's anomaly scores (mean distance to its k nearest
 * neighbours, and the local outlier factor), ranked, with a figure of the top ones. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/dist.h"
#include "astromorph/outliers.h"
#include "cli/analysis_common.h"
#include "cli/commands.h"
#include "dist/dist_internal.h"
#include "astromorph/pipeline.h"

enum { OPT_TOP = AC_OPT_FIRST_FREE, OPT_METHOD, OPT_METRIC, OPT_NO_INDEX };

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: astromorph outliers [--top N] [--method knn|lof] [-k K] [--metric M] [options]\n\n"
            "Images ranked by how unusual their embedding is, as ';'-separated CSV:\n"
            "rank;index;object;right ascension;declination;rest freq;filepath;knn_distance;lof\n\n"
            "  knn_distance: mean distance to the K nearest other embeddings;\n"
            "  lof:          local outlier factor (about 1 inside any cluster, larger for an image\n"
            "                less dense than its neighbours; a sparse but regular cluster stays near 1).\n\n"
            "  --top N              list and draw the N highest (default: list all, draw 20)\n"
            "  --method M           rank by knn (default) or lof\n"
            "  -k K                 neighbours (default 10)\n"
            "  --metric M           euclidean (default) or cosine (distance 1 - cos)\n"
            "  --no-index           neighbours without the saved index (exported/<model>.faiss from\n"
            "                       'astromorph index', used while fresh and of the same metric)\n"
            "%s",
            AC_COMMON_HELP);
}

typedef struct {
    long top, k;
    am_outlier_method method;
    am_metric metric;
    int no_index;
} out_opts;

static am_status run(ac_common *c, const out_opts *oo)
{
    am_embeddings e;
    AM_TRY(ac_load(c, &e));
    am_status s = AM_OK;
    if (e.n <= oo->k)
        s = am_error(AM_ERR_VALUE, "-k %ld: needs more than %ld images, %s has %lld", oo->k, oo->k, c->embeddings,
                     (long long)e.n);
    double *knn = malloc((size_t)e.n * sizeof *knn), *lof = malloc((size_t)e.n * sizeof *lof);
    int64_t *order = malloc((size_t)e.n * sizeof *order);
    if (s == AM_OK && (!knn || !lof || !order)) s = am_error(AM_ERR_NOMEM, "out of memory");
    am_knn_index *ix = s == AM_OK && !oo->no_index ? ac_open_index(c, &e, oo->metric) : NULL;
    if (s == AM_OK) s = am_outlier_scores_indexed(e.data, e.n, e.dim, oo->metric, (int)oo->k, ix, knn, lof);
    am_knn_index_free(ix);
    const double *key = oo->method == AM_OUTLIER_KNN ? knn : lof;
    if (s == AM_OK) s = am_rank_desc(key, e.n, order);
    int64_t rows = oo->top > 0 && oo->top < e.n ? oo->top : e.n;
    ac_table t;
    if (s == AM_OK && (s = ac_table_open(&t, c)) == AM_OK) {
        ac_meta_header(t.fp, "rank;");
        fputs(";knn_distance;lof\n", t.fp);
        for (int64_t r = 0; r < rows && s == AM_OK; r++) {
            fprintf(t.fp, "%lld;", (long long)(r + 1));
            s = ac_meta_row(t.fp, &e, order[r]);
            fprintf(t.fp, ";%.6g;%.6g\n", knn[order[r]], lof[order[r]]);
        }
        s = ac_table_close(&t, s);
    }
    if (s == AM_OK && c->figure) s = am_embeddings_meta_all(&e); /* the figure labels its images */
    if (s == AM_OK && c->figure) {
        char name[64];
        snprintf(name, sizeof name, "%s (k = %ld)", oo->method == AM_OUTLIER_KNN ? "kNN distance" : "LOF", oo->k);
        ac_thumbs th;
        am_figure_options fo = ac_figure_opts(&th, c, &e);
        int top = (int)(oo->top > 0 ? (oo->top < 60 ? oo->top : 60) : 20);
        s = ac_figure_done(c, am_figure_outliers(c->figure, &e, order, key, top, name, &fo));
    }
    free(knn);
    free(lof);
    free(order);
    am_embeddings_free(&e);
    return s;
}

/* Over MPI ranks: scores for each rank's share (the k-NN graph passed round the ranks), gathered
 * at rank 0, which ranks them and prints the table with the metadata of the rows it lists. */
static am_status run_ranks(ac_common *c, const out_opts *oo)
{
    if (c->figure)
        return am_error(AM_ERR_VALUE, "--figure: draw the figure from one process (it shows every row's thumbnail)");
    am_embeddings e;
    int64_t row0 = 0, total = 0;
    AM_TRY(ac_load_share(c, &e, 1, &row0, &total));
    const int size = am_dist_size(), rank = am_dist_rank();
    am_status s = AM_OK;
    if (total <= oo->k)
        s = am_error(AM_ERR_VALUE, "-k %ld: needs more than %ld images, %s has %lld", oo->k, oo->k, c->embeddings,
                     (long long)total);
    double *mine = malloc((size_t)(e.n ? e.n : 1) * 2 * sizeof *mine);
    double *all = rank == 0 ? malloc((size_t)total * 2 * sizeof *all) : NULL;
    int64_t *counts = calloc((size_t)size, sizeof *counts),
            *order = rank == 0 ? malloc((size_t)total * sizeof *order) : NULL;
    if (s == AM_OK && (!mine || !counts || (rank == 0 && (!all || !order))))
        s = am_error(AM_ERR_NOMEM, "out of memory");
    s = am_dist_agree(s);
    if (s == AM_OK) s = am_outlier_scores_ranks(e.data, e.n, row0, e.dim, oo->metric, (int)oo->k, mine, mine + e.n);
    /* rank 0 gets every rank's kNN scores, then every rank's LOF scores */
    if (s == AM_OK) s = am_dist_allgather(&e.n, sizeof e.n, counts);
    for (int r = 0; s == AM_OK && r < size; r++) counts[r] *= (int64_t)sizeof(double);
    if (s == AM_OK) s = am_dist_gatherv(mine, e.n * (int64_t)sizeof(double), all, counts, 0);
    if (s == AM_OK) s = am_dist_gatherv(mine + e.n, e.n * (int64_t)sizeof(double), all ? all + total : NULL, counts, 0);
    const double *knn = all, *lof = all ? all + total : NULL;
    int64_t rows = oo->top > 0 && oo->top < total ? oo->top : total;
    if (s == AM_OK && rank == 0) s = am_rank_desc(oo->method == AM_OUTLIER_KNN ? knn : lof, total, order);
    am_meta *meta = rank == 0 ? calloc((size_t)(rows ? rows : 1), sizeof *meta) : NULL;
    if (s == AM_OK && rank == 0 && !meta) s = am_error(AM_ERR_NOMEM, "out of memory");
    s = am_dist_agree(s);
    for (int64_t r = 0; meta && r < rows; r++) am_meta_init(&meta[r]);
    if (s == AM_OK) s = am_dist_fetch_meta(e.meta, e.n, row0, order, rows, meta);
    ac_table t;
    if (s == AM_OK && rank == 0 && (s = ac_table_open(&t, c)) == AM_OK) {
        ac_meta_header(t.fp, "rank;");
        fputs(";knn_distance;lof\n", t.fp);
        for (int64_t r = 0; r < rows; r++) {
            fprintf(t.fp, "%lld;%lld;", (long long)(r + 1), (long long)order[r]);
            am_csv_meta(t.fp, &meta[r]);
            fprintf(t.fp, ";%.6g;%.6g\n", knn[order[r]], lof[order[r]]);
        }
        s = ac_table_close(&t, s);
    }
    s = am_dist_agree(s);
    for (int64_t r = 0; meta && r < rows; r++) am_meta_free(&meta[r]);
    free(meta), free(mine), free(all), free(counts), free(order);
    am_embeddings_free(&e);
    return s;
}

static int option(const ac_common *c, void *user, int opt, const char *arg)
{
    out_opts *oo = user;
    switch (opt) {
    case OPT_TOP: return ac_parse_int(c, "--top", arg, 1, 100000000, &oo->top);
    case 'k': return ac_parse_int(c, "-k", arg, 1, 10000, &oo->k);
    case OPT_METHOD:
        if (am_outlier_method_parse(arg, "--method", &oo->method) == AM_OK) return 1;
        am_cli_fail(c->cmd);
        return 0;
    case OPT_METRIC:
        if (am_metric_parse(arg, "--metric", &oo->metric) == AM_OK) return 1;
        am_cli_fail(c->cmd);
        return 0;
    case OPT_NO_INDEX: oo->no_index = 1; return 1;
    default: return 0;
    }
}

int am_cmd_outliers(int argc, char **argv)
{
    static const struct option opts[] = {{"top", required_argument, NULL, OPT_TOP},
                                         {"method", required_argument, NULL, OPT_METHOD},
                                         {"metric", required_argument, NULL, OPT_METRIC},
                                         {"no-index", no_argument, NULL, OPT_NO_INDEX},
                                         {NULL, 0, NULL, 0}};
    static const ac_command cmd = {"outliers", opts, "k:", option, usage};
    ac_common c;
    out_opts oo = {.top = 0, .k = 10, .method = AM_OUTLIER_KNN, .metric = AM_METRIC_EUCLIDEAN};
    int st = ac_parse(&cmd, &c, &oo, argc, argv);
    if (st >= 0) return st;
    c.lazy_meta = 1; /* only the listed rows' metadata is decoded */
    return (am_dist_size() > 1 ? run_ranks : run)(&c, &oo) == AM_OK ? 0 : am_cli_fail("outliers");
}
