/* `astromorph cluster`: k-means++ clusters of the embeddings (seeded restarts), with inertia and
 * silhouette, labels as CSV, and a figure of the images nearest each centre. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/dist.h"
#include "astromorph/kmeans.h"
#include "cli/analysis_common.h"
#include "cli/commands.h"
#include "dist/dist_internal.h"
#include "astromorph/pipeline.h"

enum {
    OPT_RESTARTS = AC_OPT_FIRST_FREE,
    OPT_SEED,
    OPT_MAXITER,
    OPT_SAMPLE,
    OPT_EXAMPLES,
    OPT_SAVE,
    OPT_ALGORITHM,
    OPT_BATCH
};

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: astromorph cluster [-k K] [--restarts R] [--seed S] [options]\n\n"
            "k-means++ clusters as ';'-separated CSV:\n"
            "index;object;right ascension;declination;rest freq;filepath;cluster;distance;silhouette\n"
            "(distance to the cluster centre; silhouette empty for images outside the sample).\n"
            "Inertia and mean silhouette are printed on standard error.\n\n"
            "  -k K                 clusters (default 10)\n"
            "  --restarts R         k-means++ seedings, the lowest inertia wins (default 10)\n"
            "  --seed S             seed (default 0)\n"
            "  --max-iter N         Lloyd iterations per restart (default 300)\n"
            "  --algorithm A        lloyd, minibatch (Sculley's mini-batch k-means, streamed) or auto\n"
            "                       (default: minibatch from 100000 images, one process)\n"
            "  --batch B            mini-batch rows per batch (default 4096)\n"
            "  --silhouette-sample N  images scored for the silhouette (default 10000; 0 = all)\n"
            "  --examples N         images per cluster in the figure (default 8)\n"
            "  --save FILE          also write the embeddings with these labels (.safetensors or .csv)\n"
            "%s",
            AC_COMMON_HELP);
}

typedef struct {
    am_kmeans_options km;
    long sample, examples;
    const char *save;
} cl_opts;

typedef struct {
    double d;
    int64_t i;
} dist_row;

static int cmp_dist(const void *a, const void *b)
{
    const dist_row *x = a, *y = b;
    if (x->d != y->d) return x->d < y->d ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static am_status run(ac_common *c, const cl_opts *co)
{
    am_embeddings e;
    AM_TRY(ac_load(c, &e));
    am_kmeans_result r = {0};
    am_status s = AM_OK;
    if (co->km.k > e.n)
        s = am_error(AM_ERR_VALUE, "-k %d: only %lld images in %s", co->km.k, (long long)e.n, c->embeddings);
    am_rows rows = am_embeddings_rows(&e);
    if (s == AM_OK) s = am_kmeans_rows(&rows, &co->km, &r);
    if (s == AM_OK && r.iterations > 0 &&
        (co->km.algorithm == AM_KMEANS_MINIBATCH ||
         (co->km.algorithm == AM_KMEANS_AUTO && e.n >= AM_KMEANS_MINIBATCH_FROM)))
        fprintf(stderr, "mini-batch k-means: %d batches of %lld rows\n", r.iterations,
                (long long)(co->km.batch < e.n ? co->km.batch : e.n));
    float *sil = malloc((size_t)e.n * sizeof *sil);
    dist_row *dr = malloc((size_t)e.n * sizeof *dr);
    int64_t *ex = malloc((size_t)co->km.k * (size_t)co->examples * sizeof *ex);
    if (s == AM_OK && (!sil || !dr || !ex)) s = am_error(AM_ERR_NOMEM, "out of memory");
    double mean_sil = 0;
    if (s == AM_OK) s = am_silhouette(e.data, e.n, e.dim, r.labels, r.k, co->sample, co->km.seed, &mean_sil, sil);
    if (s == AM_OK) {
        int64_t scored = co->sample > 0 && co->sample < e.n ? co->sample : e.n;
        fprintf(stderr,
                "k = %d: inertia %.6g, mean silhouette %.4f (%lld of %lld images), %d iterations\ncluster sizes:", r.k,
                r.inertia, mean_sil, (long long)scored, (long long)e.n, r.iterations);
        for (int j = 0; j < r.k; j++) fprintf(stderr, " %lld", (long long)r.sizes[j]);
        fputc('\n', stderr);
        for (int64_t i = 0; i < e.n; i++) {
            double d2 = 0;
            for (int64_t d = 0; d < e.dim; d++) {
                double t = (double)e.data[i * e.dim + d] - r.centroids[(int64_t)r.labels[i] * e.dim + d];
                d2 += t * t;
            }
            dr[i] = (dist_row){sqrt(d2), i};
        }
    }
    ac_table t;
    if (s == AM_OK && (s = ac_table_open(&t, c)) == AM_OK) {
        ac_meta_header(t.fp, NULL);
        fputs(";cluster;distance;silhouette\n", t.fp);
        for (int64_t i = 0; i < e.n && s == AM_OK; i++) {
            s = ac_meta_row(t.fp, &e, i);
            fprintf(t.fp, ";%d;%.6g;", r.labels[i], dr[i].d);
            if (!isnan(sil[i])) fprintf(t.fp, "%.4f", sil[i]);
            fputc('\n', t.fp);
        }
        s = ac_table_close(&t, s);
    }
    if (s == AM_OK && co->save) {
        s = am_embeddings_set_labels(&e, r.labels);
        size_t n = strlen(co->save);
        const int csv = n > 4 && strcmp(co->save + n - 4, ".csv") == 0;
        if (s == AM_OK && csv) s = am_embeddings_meta_all(&e); /* the CSV writer takes whole rows */
        if (s == AM_OK) s = csv ? am_embeddings_write_csv(&e, co->save) : am_embeddings_write(&e, co->save);
        if (s == AM_OK) fprintf(stderr, "labelled embeddings: %s\n", co->save);
    }
    if (s == AM_OK && c->figure) s = am_embeddings_meta_all(&e); /* the figure labels its images */
    if (s == AM_OK && c->figure) {
        /* Examples: each cluster's members nearest its centre. */
        qsort(dr, (size_t)e.n, sizeof *dr, cmp_dist);
        int per = (int)co->examples;
        for (int64_t j = 0; j < (int64_t)r.k * per; j++) ex[j] = -1;
        int *got = calloc((size_t)r.k, sizeof *got);
        if (!got) s = am_error(AM_ERR_NOMEM, "out of memory");
        for (int64_t q = 0; got && q < e.n; q++) {
            int lab = r.labels[dr[q].i];
            if (got[lab] < per) ex[(int64_t)lab * per + got[lab]++] = dr[q].i;
        }
        free(got);
        ac_thumbs th;
        am_figure_options fo = ac_figure_opts(&th, c, &e);
        if (s == AM_OK) s = ac_figure_done(c, am_figure_clusters(c->figure, &e, r.labels, r.k, ex, per, &fo));
    }
    free(sil);
    free(dr);
    free(ex);
    am_kmeans_result_free(&r);
    am_embeddings_free(&e);
    return s;
}

/* Over MPI ranks: k-means with every sum carried through the ranks in row order (the labels,
 * inertia and sizes one process finds), the silhouette of the same sample on rank 0, which
 * prints the table with every row's metadata fetched from its rank. */
static am_status run_ranks(ac_common *c, const cl_opts *co)
{
    if (co->km.algorithm == AM_KMEANS_MINIBATCH)
        return am_error(AM_ERR_VALUE, "--algorithm minibatch: run it from one process (over MPI ranks: lloyd)");
    if (c->figure || co->save || c->nwhere)
        return am_error(AM_ERR_VALUE, "%s: run it from one process (over MPI ranks, cluster writes the table only)",
                        c->figure  ? "--figure"
                        : co->save ? "--save"
                                   : "--where");
    am_embeddings e;
    int64_t row0 = 0, total = 0;
    AM_TRY(ac_load_share(c, &e, AM_KMEANS_ALIGN, &row0, &total));
    const int size = am_dist_size(), rank = am_dist_rank();
    am_kmeans_result r = {0};
    am_status s = AM_OK;
    if (co->km.k > total)
        s = am_error(AM_ERR_VALUE, "-k %d: only %lld images in %s", co->km.k, (long long)total, c->embeddings);
    s = am_dist_agree(s);
    if (s == AM_OK) s = am_kmeans_ranks(e.data, e.n, row0, e.dim, &co->km, &r);
    /* every row's cluster and distance to its centre, and the sampled rows' values, to rank 0 */
    int64_t *idx = malloc((size_t)(total ? total : 1) * sizeof *idx), m = 0, mine = 0;
    double *ld = malloc((size_t)(e.n ? e.n : 1) * 2 * sizeof *ld);
    double *all = rank == 0 ? malloc((size_t)(total ? total : 1) * 2 * sizeof *all) : NULL;
    int64_t *counts = calloc((size_t)size, sizeof *counts);
    int64_t *share = calloc((size_t)size * 2, sizeof *share);
    if (s == AM_OK && (!idx || !ld || !counts || !share || (rank == 0 && !all)))
        s = am_error(AM_ERR_NOMEM, "out of memory");
    s = am_dist_agree(s);
    if (s == AM_OK) m = am_silhouette_sample(total, co->sample, co->km.seed, idx);
    for (int64_t j = 0; s == AM_OK && j < m; j++) mine += idx[j] >= row0 && idx[j] < row0 + e.n;
    float *sub = s == AM_OK ? malloc((size_t)(mine ? mine : 1) * (size_t)(e.dim + 1) * sizeof *sub) : NULL;
    float *subs = rank == 0 && s == AM_OK ? malloc((size_t)(m ? m : 1) * (size_t)(e.dim + 1) * sizeof *subs) : NULL;
    if (s == AM_OK && (!sub || (rank == 0 && !subs))) s = am_error(AM_ERR_NOMEM, "out of memory");
    s = am_dist_agree(s);
    for (int64_t i = 0; s == AM_OK && i < e.n; i++) {
        double d2 = 0;
        for (int64_t d = 0; d < e.dim; d++) {
            double t = (double)e.data[i * e.dim + d] - r.centroids[(int64_t)r.labels[i] * e.dim + d];
            d2 += t * t;
        }
        ld[i] = r.labels[i], ld[e.n + i] = sqrt(d2);
    }
    /* the sampled rows, each with its label, in row order (ranks hold rows in order) */
    for (int64_t j = 0, q = 0; s == AM_OK && j < m; j++)
        if (idx[j] >= row0 && idx[j] < row0 + e.n) {
            memcpy(sub + q * (e.dim + 1), e.data + (idx[j] - row0) * e.dim, (size_t)e.dim * sizeof *sub);
            sub[q * (e.dim + 1) + e.dim] = (float)r.labels[idx[j] - row0];
            q++;
        }
    if (s == AM_OK) s = am_dist_allgather((int64_t[2]){e.n, mine}, 2 * sizeof(int64_t), share);
    for (int part = 0; part < 2 && s == AM_OK; part++) {
        for (int q = 0; q < size; q++) counts[q] = share[2 * q] * (int64_t)sizeof(double);
        s = am_dist_gatherv(ld + part * e.n, e.n * (int64_t)sizeof(double), all ? all + part * total : NULL, counts, 0);
    }
    for (int q = 0; s == AM_OK && q < size; q++) counts[q] = share[2 * q + 1] * (e.dim + 1) * (int64_t)sizeof(float);
    if (s == AM_OK) s = am_dist_gatherv(sub, mine * (e.dim + 1) * (int64_t)sizeof(float), subs, counts, 0);
    am_meta *meta = rank == 0 ? calloc((size_t)(total ? total : 1), sizeof *meta) : NULL;
    if (s == AM_OK && rank == 0 && !meta) s = am_error(AM_ERR_NOMEM, "out of memory");
    s = am_dist_agree(s);
    for (int64_t i = 0; meta && i < total; i++) am_meta_init(&meta[i]);
    for (int64_t i = 0; s == AM_OK && i < total; i++) idx[i] = i;
    if (s == AM_OK) s = am_dist_fetch_meta(e.meta, e.n, row0, idx, total, meta);
    if (s == AM_OK && rank == 0) {
        /* the silhouette of the sample, as one process scores it (the rows in the same order) */
        float *x = malloc((size_t)(m ? m : 1) * (size_t)e.dim * sizeof *x),
              *coef = malloc((size_t)(m ? m : 1) * sizeof *coef);
        int32_t *lab = malloc((size_t)(m ? m : 1) * sizeof *lab);
        float *sil = malloc((size_t)(total ? total : 1) * sizeof *sil);
        double mean_sil = 0;
        s = x && coef && lab && sil ? AM_OK : am_error(AM_ERR_NOMEM, "out of memory");
        for (int64_t j = 0; s == AM_OK && j < m; j++) {
            memcpy(x + j * e.dim, subs + j * (e.dim + 1), (size_t)e.dim * sizeof *x);
            lab[j] = (int32_t)subs[j * (e.dim + 1) + e.dim];
        }
        if (s == AM_OK) s = am_silhouette(x, m, e.dim, lab, r.k, 0, co->km.seed, &mean_sil, coef);
        am_silhouette_sample(total, co->sample, co->km.seed, idx);
        for (int64_t i = 0; s == AM_OK && i < total; i++) sil[i] = NAN;
        for (int64_t j = 0; s == AM_OK && j < m; j++) sil[idx[j]] = coef[j];
        if (s == AM_OK) {
            fprintf(stderr,
                    "k = %d: inertia %.6g, mean silhouette %.4f (%lld of %lld images), %d iterations\ncluster sizes:",
                    r.k, r.inertia, mean_sil, (long long)m, (long long)total, r.iterations);
            for (int j = 0; j < r.k; j++) fprintf(stderr, " %lld", (long long)r.sizes[j]);
            fputc('\n', stderr);
        }
        ac_table t;
        if (s == AM_OK && (s = ac_table_open(&t, c)) == AM_OK) {
            ac_meta_header(t.fp, NULL);
            fputs(";cluster;distance;silhouette\n", t.fp);
            for (int64_t i = 0; i < total; i++) {
                fprintf(t.fp, "%lld;", (long long)i);
                am_csv_meta(t.fp, &meta[i]);
                fprintf(t.fp, ";%d;%.6g;", (int)all[i], all[total + i]);
                if (!isnan(sil[i])) fprintf(t.fp, "%.4f", sil[i]);
                fputc('\n', t.fp);
            }
            s = ac_table_close(&t, s);
        }
        free(x), free(coef), free(lab), free(sil);
    }
    s = am_dist_agree(s);
    for (int64_t i = 0; meta && i < total; i++) am_meta_free(&meta[i]);
    free(meta), free(idx), free(ld), free(all), free(counts), free(share), free(sub), free(subs);
    am_kmeans_result_free(&r);
    am_embeddings_free(&e);
    return s;
}

static int option(const ac_common *c, void *user, int opt, const char *arg)
{
    cl_opts *co = user;
    long v = 0;
    int ok;
    switch (opt) {
    case 'k':
        ok = ac_parse_int(c, "-k", arg, 1, 100000, &v);
        co->km.k = (int)v;
        return ok;
    case OPT_RESTARTS:
        ok = ac_parse_int(c, "--restarts", arg, 1, 10000, &v);
        co->km.restarts = (int)v;
        return ok;
    case OPT_SEED:
        ok = ac_parse_int(c, "--seed", arg, 0, 0x7fffffffL, &v);
        co->km.seed = (uint64_t)v;
        return ok;
    case OPT_MAXITER:
        ok = ac_parse_int(c, "--max-iter", arg, 1, 1000000, &v);
        co->km.max_iter = (int)v;
        return ok;
    case OPT_SAMPLE: return ac_parse_int(c, "--silhouette-sample", arg, 0, 10000000, &co->sample);
    case OPT_EXAMPLES: return ac_parse_int(c, "--examples", arg, 1, 50, &co->examples);
    case OPT_SAVE: co->save = arg; return 1;
    case OPT_ALGORITHM:
        if (am_kmeans_algorithm_parse(arg, "--algorithm", &co->km.algorithm) == AM_OK) return 1;
        fprintf(stderr, "astromorph cluster: %s\n", am_errmsg());
        return 0;
    case OPT_BATCH:
        ok = ac_parse_int(c, "--batch", arg, 1, 10000000, &v);
        co->km.batch = v;
        return ok;
    default: return 0;
    }
}

int am_cmd_cluster(int argc, char **argv)
{
    static const struct option opts[] = {{"restarts", required_argument, NULL, OPT_RESTARTS},
                                         {"seed", required_argument, NULL, OPT_SEED},
                                         {"max-iter", required_argument, NULL, OPT_MAXITER},
                                         {"silhouette-sample", required_argument, NULL, OPT_SAMPLE},
                                         {"examples", required_argument, NULL, OPT_EXAMPLES},
                                         {"save", required_argument, NULL, OPT_SAVE},
                                         {"algorithm", required_argument, NULL, OPT_ALGORITHM},
                                         {"batch", required_argument, NULL, OPT_BATCH},
                                         {NULL, 0, NULL, 0}};
    static const ac_command cmd = {"cluster", opts, "k:", option, usage};
    ac_common c;
    cl_opts co = {.sample = 10000, .examples = 8};
    am_kmeans_options_default(&co.km);
    int st = ac_parse(&cmd, &c, &co, argc, argv);
    if (st >= 0) return st;
    c.lazy_meta = 1; /* the table is written a row at a time */
    return (am_dist_size() > 1 ? run_ranks : run)(&c, &co) == AM_OK ? 0 : am_cli_fail("cluster");
}
