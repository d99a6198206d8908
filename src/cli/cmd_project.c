/* `astromorph project`: a 2-D or 3-D map of the embeddings by t-SNE or PCA, as CSV
 * coordinates and a figure with thumbnails at their points. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/evaluate.h"
#include "astromorph/pca.h"
#include "astromorph/tsne.h"
#include "cli/analysis_common.h"
#include "cli/commands.h"
#include "astromorph/pipeline.h"

enum {
    OPT_METHOD = AC_OPT_FIRST_FREE,
    OPT_DIMS,
    OPT_PERPLEXITY,
    OPT_SEED,
    OPT_ITER,
    OPT_THETA,
    OPT_TSNE_METHOD,
    OPT_THUMBS,
    OPT_CORR,
    OPT_CORR_FIG,
    OPT_COLOR,
    OPT_NO_INDEX
};

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: astromorph project [--method tsne|pca] [--dims 2|3] [--perplexity P] [--seed S] [options]\n\n"
            "Map coordinates of every image as ';'-separated CSV:\n"
            "index;object;right ascension;declination;rest freq;filepath;x;y[;z]\n\n"
            "  --method M           tsne (default) or pca\n"
            "  --dims D             2 (default) or 3\n"
            "  --perplexity P       t-SNE perplexity (default 30)\n"
            "  --seed S             t-SNE seed (default 0)\n"
            "  --iterations N       t-SNE iterations (default 1000)\n"
            "  --theta T            Barnes-Hut opening angle (default 0.5; 0 = exact)\n"
            "  --tsne-method M      t-SNE repulsion: auto (default: FFT interpolation in 2-D from\n"
            "                       5 000 images, Barnes-Hut otherwise), bh (Barnes-Hut) or fft\n"
            "                       (2-D only; needs a build with FFTW)\n"
            "  --max-thumbs N       thumbnails per figure panel (default 60)\n"
            "  --correlations FILE  PCA: the correlation (Pearson r) of each component with each\n"
            "                       per-image statistic of the embeddings file (the morphology\n"
            "                       statistics of inference) as CSV; the strongest are printed\n"
            "  --correlations-figure FILE   the same as a heat map (PNG or PDF)\n"
            "  --color-by S         colour the figure's points by statistic S (deciles; grey where\n"
            "                       undefined) instead of by cluster\n"
            "  --no-index           t-SNE's neighbours without the saved index (a euclidean\n"
            "                       exported/<model>.faiss from 'astromorph index', used while fresh)\n"
            "%s",
            AC_COMMON_HELP);
}

typedef struct {
    int tsne, dims, max_thumbs;
    am_tsne_options t;
    const char *corr, *corr_figure, *color_by;
    int perplexity_given; /* --perplexity was on the command line */
    int no_index; /* --no-index */
} proj_opts;

enum { BINS = 10 };

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Labels for colouring by statistic `name`: its deciles 0..BINS-1 (BINS where undefined) and a
 * legend name per bin ("0.31 - 0.42"); names[BINS] is "undefined". */
static am_status decile_labels(const am_embeddings *e, const char *name, int32_t *labels, char (*names)[48])
{
    int64_t col = am_embeddings_stat_index(e, name);
    if (col < 0)
        return am_error(AM_ERR_NOTFOUND, "--color-by %s: no such statistic in the embeddings file%s", name,
                        e->nstats ? "" : " (it has none: inference writes them unless morphology = false)");
    float *v = malloc((size_t)(e->n ? e->n : 1) * sizeof *v);
    if (!v) return am_error(AM_ERR_NOMEM, "out of memory");
    int64_t m = 0;
    for (int64_t i = 0; i < e->n; i++)
        if (isfinite(e->stats[i * e->nstats + col])) v[m++] = e->stats[i * e->nstats + col];
    qsort(v, (size_t)m, sizeof *v, cmp_float);
    float edge[BINS + 1];
    for (int b = 0; b <= BINS; b++) edge[b] = m ? v[(int64_t)((double)b / BINS * (double)(m - 1))] : 0;
    for (int b = 0; b < BINS; b++) snprintf(names[b], 48, "%.3g - %.3g", edge[b], edge[b + 1]);
    snprintf(names[BINS], 48, "undefined");
    for (int64_t i = 0; i < e->n; i++) {
        float x = e->stats[i * e->nstats + col];
        int b = 0;
        while (b < BINS - 1 && x > edge[b + 1]) b++;
        labels[i] = isfinite(x) ? b : BINS;
    }
    free(v);
    return AM_OK;
}

/* The statistics worth correlating: all but positions, flags and raw flux (which no shape axis
 * should be read as). */
static int correlated(const char *name)
{
    return strcmp(name, "xc") && strcmp(name, "yc") && strcmp(name, "morph_flags") && strcmp(name, "flux") &&
           strcmp(name, "orientation");
}

/* What "PC1 traces size" means, measured: r of every component with every statistic. */
static am_status correlations(const proj_opts *po, const am_embeddings *e, const float *y, int ncomp)
{
    if (e->nstats == 0) {
        fprintf(stderr, "astromorph project: the embeddings file has no per-image statistics to correlate with "
                        "(inference writes them unless morphology = false)\n");
        return po->corr || po->corr_figure ? am_error(AM_ERR_VALUE, "no statistics in the embeddings file") : AM_OK;
    }
    int64_t ns = 0;
    const char **names = malloc((size_t)e->nstats * sizeof *names);
    double *r = malloc((size_t)(e->nstats * ncomp) * sizeof *r);
    char *buf = malloc((size_t)(e->nstats * ncomp) * 8);
    const char **text = malloc((size_t)(e->nstats * ncomp) * sizeof *text);
    if (!names || !r || !buf || !text) {
        free(names), free(r), free(buf), free(text);
        return am_error(AM_ERR_NOMEM, "out of memory");
    }
    for (int64_t k = 0; k < e->nstats; k++) {
        if (!correlated(e->stat_names[k])) continue;
        for (int j = 0; j < ncomp; j++) {
            int64_t cell = ns * ncomp + j;
            r[cell] = am_pearson(y + j, ncomp, e->stats + k, e->nstats, e->n, NULL);
            snprintf(buf + cell * 8, 8, isnan(r[cell]) ? "-" : "%+.2f", r[cell]);
            text[cell] = buf + cell * 8;
        }
        names[ns++] = e->stat_names[k];
    }
    for (int j = 0; j < ncomp; j++) { /* the three strongest per component */
        fprintf(stderr, "PC%d correlates with", j + 1);
        int used[3] = {-1, -1, -1};
        for (int t = 0; t < 3 && t < ns; t++) {
            int best = -1;
            for (int64_t k = 0; k < ns; k++)
                if (k != used[0] && k != used[1] && isfinite(r[k * ncomp + j]) &&
                    (best < 0 || fabs(r[k * ncomp + j]) > fabs(r[best * ncomp + j])))
                    best = (int)k;
            if (best < 0) break;
            used[t] = best;
            fprintf(stderr, "%s %s (r = %+.2f)", t ? "," : "", names[best], r[best * ncomp + j]);
        }
        fprintf(stderr, "\n");
    }
    am_status s = AM_OK;
    if (po->corr) {
        am_atomic_file af;
        if ((s = am_atomic_open(&af, po->corr, 0)) == AM_OK) {
            fputs("statistic", af.fp);
            for (int j = 0; j < ncomp; j++) fprintf(af.fp, ",PC%d", j + 1);
            fputc('\n', af.fp);
            for (int64_t k = 0; k < ns; k++) {
                fputs(names[k], af.fp);
                for (int j = 0; j < ncomp; j++)
                    fprintf(af.fp, isnan(r[k * ncomp + j]) ? ",nan" : ",%.4f", r[k * ncomp + j]);
                fputc('\n', af.fp);
            }
            if (ferror(af.fp)) {
                am_atomic_abort(&af);
                s = am_error(AM_ERR_IO, "%s: write failed: %s", po->corr, am_errno_text());
            } else {
                s = am_atomic_commit(&af);
            }
        }
    }
    if (s == AM_OK && po->corr_figure) {
        const char *pcs[3] = {"PC1", "PC2", "PC3"};
        char title[128];
        snprintf(title, sizeof title, "Principal components vs morphology (Pearson r, %lld images)", (long long)e->n);
        s = am_figure_heatmap(po->corr_figure, r, text, (int)ns, ncomp, names, pcs, "statistic", "component", title, 0);
        if (s == AM_OK) fprintf(stderr, "figure: %s\n", po->corr_figure);
    }
    free(names), free(r), free(buf), free(text);
    return s;
}

static am_status run(ac_common *c, const proj_opts *po)
{
    am_embeddings e;
    AM_TRY(ac_load(c, &e));
    int dims = po->dims;
    /* PCA keeps 3 components when it can, for the PC2–PC3 panel of the figure. */
    int ncomp = po->tsne ? dims : (int)(e.dim < 3 ? e.dim : 3);
    if (ncomp < dims) ncomp = dims;
    am_status s = AM_OK;
    am_pca p = {0};
    float *y = malloc((size_t)e.n * (size_t)ncomp * sizeof *y);
    if (!y) s = am_error(AM_ERR_NOMEM, "out of memory");
    if (s == AM_OK && !po->tsne) {
        if (ncomp > e.dim)
            s = am_error(AM_ERR_VALUE, "--dims %d: the embeddings have only %lld dimensions", dims, (long long)e.dim);
        /* streamed: a float16 file is converted a block at a time, never whole */
        am_rows rows = am_embeddings_rows(&e);
        if (s == AM_OK) s = am_pca_fit_rows(&rows, ncomp, &p);
        if (s == AM_OK) s = am_pca_transform_rows(&p, &rows, y);
        if (s == AM_OK) {
            fprintf(stderr, "explained variance:");
            for (int j = 0; j < ncomp; j++) fprintf(stderr, " PC%d %.2f %%", j + 1, 100 * p.variance_ratio[j]);
            fprintf(stderr, " (of %lld dimensions)\n", (long long)e.dim);
        }
        if (s == AM_OK && (e.nstats > 0 || po->corr || po->corr_figure)) s = correlations(po, &e, y, ncomp);
    } else if (s == AM_OK) {
        /* the default is lowered for small sets by t-SNE itself; one asked for must make sense:
         * an effective number of neighbours below the number of images (scikit-learn's rule) */
        if (po->perplexity_given && po->t.perplexity >= (double)e.n)
            s = am_error(AM_ERR_VALUE, "--perplexity %g: must be below the number of images (%lld)", po->t.perplexity,
                         (long long)e.n);
        am_tsne_options to = po->t;
        am_knn_index *ix = s == AM_OK && !po->no_index ? ac_open_index(c, &e, AM_METRIC_EUCLIDEAN) : NULL;
        to.index = ix;
        if (s == AM_OK) s = am_tsne(e.data, e.n, e.dim, &to, y, NULL);
        am_knn_index_free(ix);
    }
    ac_table t;
    if (s == AM_OK && (s = ac_table_open(&t, c)) == AM_OK) {
        static const char *axis[3] = {"x", "y", "z"};
        ac_meta_header(t.fp, NULL);
        for (int d = 0; d < dims; d++) fprintf(t.fp, ";%s", axis[d]);
        fputc('\n', t.fp);
        for (int64_t i = 0; i < e.n && s == AM_OK; i++) {
            s = ac_meta_row(t.fp, &e, i);
            for (int d = 0; d < dims; d++) fprintf(t.fp, ";%.7g", y[i * ncomp + d]);
            fputc('\n', t.fp);
        }
        s = ac_table_close(&t, s);
    }
    if (s == AM_OK && c->figure) s = am_embeddings_meta_all(&e); /* the figure labels its images */
    if (s == AM_OK && c->figure) {
        char xl[3][64], title[128];
        for (int d = 0; d < 3; d++) {
            if (po->tsne) snprintf(xl[d], sizeof xl[d], "t-SNE %d", d + 1);
            else if (d < ncomp)
                snprintf(xl[d], sizeof xl[d], "PC%d (%.1f %% of variance)", d + 1, 100 * p.variance_ratio[d]);
        }
        if (po->tsne)
            snprintf(title, sizeof title, "t-SNE of %lld embeddings (perplexity %g)", (long long)e.n, po->t.perplexity);
        else snprintf(title, sizeof title, "PCA of %lld embeddings", (long long)e.n);
        am_fig_panel panels[2] = {{y, ncomp, 0, 1, xl[0], xl[1], po->tsne ? title : "PC1 - PC2"},
                                  {y, ncomp, 1, 2, xl[1], xl[2], po->tsne ? "t-SNE 2 - 3" : "PC2 - PC3"}};
        ac_thumbs th;
        am_figure_options fo = ac_figure_opts(&th, c, &e);
        if (!po->tsne) fo.title = title;
        const int32_t *colour = e.labels;
        int32_t *bins = NULL;
        char names[BINS + 1][48], legend[96];
        const char *name_ptr[BINS + 1];
        if (po->color_by) {
            bins = malloc((size_t)(e.n ? e.n : 1) * sizeof *bins);
            s = bins ? decile_labels(&e, po->color_by, bins, names) : am_error(AM_ERR_NOMEM, "out of memory");
            for (int b = 0; b <= BINS; b++) name_ptr[b] = names[b];
            snprintf(legend, sizeof legend, "%s", po->color_by);
            fo.legend_title = legend, fo.legend_names = name_ptr, fo.ordered = BINS;
            colour = bins;
        }
        if (s == AM_OK)
            s = ac_figure_done(c,
                               am_figure_map(c->figure, &e, panels, ncomp >= 3 ? 2 : 1, colour, po->max_thumbs, &fo));
        free(bins);
    }
    am_pca_free(&p);
    free(y);
    am_embeddings_free(&e);
    return s;
}

static int option(const ac_common *c, void *user, int opt, const char *arg)
{
    proj_opts *po = user;
    long v;
    switch (opt) {
    case OPT_METHOD:
        if (strcmp(arg, "tsne") == 0 || strcmp(arg, "t-sne") == 0) po->tsne = 1;
        else if (strcmp(arg, "pca") == 0) po->tsne = 0;
        else {
            fprintf(stderr, "astromorph project: --method %s: must be tsne or pca\n", arg);
            return 0;
        }
        return 1;
    case OPT_DIMS:
        if (!ac_parse_int(c, "--dims", arg, 2, 3, &v)) return 0;
        po->dims = po->t.dims = (int)v;
        return 1;
    case OPT_PERPLEXITY:
        po->perplexity_given = 1;
        return ac_parse_double(c, "--perplexity", arg, 1, 1e4, &po->t.perplexity);
    case OPT_SEED:
        if (!ac_parse_int(c, "--seed", arg, 0, 0x7fffffffL, &v)) return 0;
        po->t.seed = (uint64_t)v;
        return 1;
    case OPT_ITER:
        if (!ac_parse_int(c, "--iterations", arg, 1, 1000000, &v)) return 0;
        po->t.iterations = (int)v;
        return 1;
    case OPT_THETA: return ac_parse_double(c, "--theta", arg, 0, 2, &po->t.theta);
    case OPT_TSNE_METHOD:
        if (am_tsne_method_parse(arg, "--tsne-method", &po->t.method) == AM_OK) return 1;
        fprintf(stderr, "astromorph project: %s\n", am_errmsg());
        return 0;
    case OPT_THUMBS:
        if (!ac_parse_int(c, "--max-thumbs", arg, 0, 1000, &v)) return 0;
        po->max_thumbs = (int)v;
        return 1;
    case OPT_CORR: po->corr = arg; return 1;
    case OPT_CORR_FIG: po->corr_figure = arg; return 1;
    case OPT_COLOR: po->color_by = arg; return 1;
    case OPT_NO_INDEX: po->no_index = 1; return 1;
    default: return 0;
    }
}

int am_cmd_project(int argc, char **argv)
{
    static const struct option opts[] = {{"method", required_argument, NULL, OPT_METHOD},
                                         {"dims", required_argument, NULL, OPT_DIMS},
                                         {"perplexity", required_argument, NULL, OPT_PERPLEXITY},
                                         {"seed", required_argument, NULL, OPT_SEED},
                                         {"iterations", required_argument, NULL, OPT_ITER},
                                         {"theta", required_argument, NULL, OPT_THETA},
                                         {"tsne-method", required_argument, NULL, OPT_TSNE_METHOD},
                                         {"max-thumbs", required_argument, NULL, OPT_THUMBS},
                                         {"correlations", required_argument, NULL, OPT_CORR},
                                         {"correlations-figure", required_argument, NULL, OPT_CORR_FIG},
                                         {"color-by", required_argument, NULL, OPT_COLOR},
                                         {"no-index", no_argument, NULL, OPT_NO_INDEX},
                                         {NULL, 0, NULL, 0}};
    static const ac_command cmd = {"project", opts, NULL, option, usage};
    ac_common c;
    proj_opts po = {.tsne = 1, .dims = 2, .max_thumbs = 60};
    am_tsne_options_default(&po.t);
    int st = ac_parse(&cmd, &c, &po, argc, argv);
    if (st >= 0) return st;
    if (po.tsne && (po.corr || po.corr_figure)) {
        fprintf(stderr,
                "astromorph project: --correlations needs --method pca (t-SNE axes have no meaning of their own)\n");
        return 2;
    }
    c.keep_f16 = !po.tsne; /* PCA streams the rows; t-SNE reads them at random */
    c.lazy_meta = 1; /* the table is written a row at a time */
    return run(&c, &po) == AM_OK ? 0 : am_cli_fail("project");
}
