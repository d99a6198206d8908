/* `astromorph evaluate`: how well the embeddings group like with like, against labels the
 * training never saw — leave-one-out k-NN accuracy, a cross-validated linear probe, per-class
 * accuracy and a confusion table — beside the same numbers for the raw pixels of the images. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/augment.h"
#include "astromorph/evaluate.h"
#include "astromorph/fits.h"
#include "astromorph/hybrid.h"
#include "astromorph/labels.h"
#include "astromorph/morphology.h"
#include "cli/analysis_common.h"
#include "cli/commands.h"
#include "astromorph/pipeline.h"
#include "io/csv_internal.h"

enum {
    OPT_LABELS = AC_OPT_FIRST_FREE,
    OPT_NO_PIXELS,
    OPT_PIXEL_SIDE,
    OPT_FOLDS,
    OPT_SEED,
    OPT_MORPHOLOGY,
    OPT_HYBRID,
    OPT_HYBRID_LEARNED,
    OPT_HYBRID_STATS
};

static const int KS[] = {1, 5, 20};
enum { NK = 3, ND = 2, NV = 3, MAIN_K = 1 /* KS[1] = 5 */ };

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: astromorph evaluate --labels L.csv [--embeddings E] [-o report.csv] [--figure confusion.png]\n"
            "                           [--no-pixels] [--pixel-side 32] [--folds 5] [options]\n\n"
            "How well the embeddings group images of the same class, for a set where some images have\n"
            "labels (rows of L.csv without a label are ignored; the training never sees them):\n"
            "leave-one-out k-nearest-neighbour accuracy (k = 1, 5, 20; cosine and Euclidean; raw,\n"
            "centred and whitened features), a cross-validated linear probe (logistic regression),\n"
            "per-class accuracy and a confusion table, beside the same numbers for the images' raw\n"
            "pixels (each image min-max normalised and area-averaged to 32 x 32).\n\n"
            "  --labels FILE        CSV with a 'path' (or 'object') column and a 'label' column\n"
            "  -o FILE              also write the numbers as CSV: metric,k,distance,variant,value\n"
            "  --figure FILE        confusion table of 5-NN (cosine, raw) as PNG or PDF\n"
            "  --no-pixels          skip the raw-pixel baseline (no image files needed)\n"
            "  --pixel-side N       side of the pixel baseline's images (default 32)\n"
            "  --morphology         also the classic morphology statistics (C, A, S, Gini, M20,\n"
            "                       ellipticity, size, radial profile; z-scored) as a baseline\n"
            "  --hybrid W           also embeddings and statistics side by side, each block\n"
            "                       z-scored, the statistics weighted W (0..1), the embeddings 1-W\n"
            "  --hybrid-learned S   how the hybrid scales the embeddings: columns (default), block\n"
            "                       (one scale for the whole block) or robust (median and MAD)\n"
            "  --hybrid-stats S     the same for the statistics (default columns)\n"
            "  --folds N            folds of the linear probe (default 5)\n"
            "  --seed N             the probe's fold assignment (default 42)\n"
            "%s",
            AC_COMMON_HELP);
}

typedef struct ev_opts {
    const char *labels;
    int pixels, morphology;
    long side, folds, seed;
    double hybrid; /* weight of the statistics in the hybrid (0: no hybrid) */
    am_hybrid_scale hybrid_learned, hybrid_stats; /* how the hybrid scales each block */
} ev_opts;

/* One feature set's numbers. */
typedef struct scores {
    double knn[NK][ND][NV];
    double probe;
    int32_t *pred_main; /* predictions of 5-NN cosine raw */
} scores;

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

typedef struct keyed {
    const char *key;
    int64_t row;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->row > y->row) - (x->row < y->row);
}

/* The embeddings row of each labelled entry (-1: none): exact path or OBJECT, else, for paths,
 * the file name when exactly one row has it. */
static am_status match_rows(const ac_common *c, const am_embeddings *e, const am_labels *L, int64_t *row_of)
{
    keyed *full = malloc((size_t)e->n * sizeof *full), *base = malloc((size_t)e->n * sizeof *base);
    if (!full || !base) {
        free(full), free(base);
        return am_error(AM_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < e->n; i++) {
        const char *k = L->key == AM_LABELS_BY_OBJECT ? e->meta[i].object
                        : e->meta[i].filepath         ? e->meta[i].filepath
                                                      : "";
        full[i] = (keyed){k, i};
        base[i] = (keyed){base_name(k), i};
    }
    qsort(full, (size_t)e->n, sizeof *full, cmp_keyed);
    qsort(base, (size_t)e->n, sizeof *base, cmp_keyed);
    int64_t missing = 0, twice = 0;
    const char *first_missing = NULL;
    char *used = calloc((size_t)e->n, 1);
    for (int64_t j = 0; j < L->n; j++) {
        row_of[j] = -1;
        for (int pass = 0; pass < (L->key == AM_LABELS_BY_PATH ? 2 : 1) && row_of[j] < 0; pass++) {
            keyed *tab = pass ? base : full;
            const char *want = pass ? base_name(L->keys[j]) : L->keys[j];
            /* the first entry with this key, then whether a second one follows */
            int64_t lo = 0, hi = e->n;
            while (lo < hi) {
                int64_t mid = lo + (hi - lo) / 2;
                if (strcmp(tab[mid].key, want) < 0) lo = mid + 1;
                else hi = mid;
            }
            if (lo < e->n && strcmp(tab[lo].key, want) == 0 &&
                (pass == 0 || lo + 1 >= e->n || strcmp(tab[lo + 1].key, want) != 0))
                row_of[j] = tab[lo].row;
        }
        if (row_of[j] < 0) {
            if (!missing++) first_missing = L->keys[j];
        } else if (used && used[row_of[j]]++) {
            twice++;
            row_of[j] = -1; /* one label per image: the first one given */
        }
    }
    if (missing)
        fprintf(stderr, "astromorph %s: %lld labelled %s not in %s (first: %s)\n", c->cmd, (long long)missing,
                missing == 1 ? "entry is" : "entries are", c->embeddings, first_missing);
    if (twice)
        fprintf(stderr, "astromorph %s: %lld image(s) labelled more than once; the first label counts\n", c->cmd,
                (long long)twice);
    free(full), free(base), free(used);
    return AM_OK;
}

typedef enum { FEAT_PIXELS, FEAT_MORPHOLOGY } image_feature;

/* Features of the matched rows' images: raw pixels (each image min-max normalised over all its
 * values, then area-averaged to side × side per channel) or the morphology statistics of the
 * channels' sum with the colours of 2 to 5 bands (include/astromorph/morphology.h). AM_OK with *x NULL when some image cannot be
 * read (said on stderr): that baseline is then left out. */
static am_status image_features(const ac_common *c, const am_embeddings *e, const int64_t *rows, int64_t m,
                                image_feature kind, int side, float **x, int64_t *dim)
{
    *x = NULL, *dim = 0;
    float *out = NULL;
    int64_t channels = 0, per = 0;
    const char *what = kind == FEAT_PIXELS ? "raw-pixel" : "morphology";
    for (int64_t i = 0; i < m; i++) {
        char path[4096];
        am_tensor img = {0};
        am_status s = ac_image_path(c, e, rows[i], path, sizeof path);
        if (s == AM_OK) s = am_fits_read(path, NULL, &img, NULL);
        if (s == AM_OK && i == 0) {
            channels = img.shape[0];
            per = kind == FEAT_PIXELS ? channels * side * side : am_morphology_feature_count(channels);
            out = malloc((size_t)(m * per) * sizeof *out);
            if (!out) s = am_error(AM_ERR_NOMEM, "out of memory for the %s baseline", what);
        }
        if (s == AM_OK && img.shape[0] != channels) /* pixels, or the bands' colours */
            s = am_error(AM_ERR_SHAPE, "%s has %lld channel(s), the first image %lld", path, (long long)img.shape[0],
                         (long long)channels);
        if (s == AM_OK && kind == FEAT_PIXELS) {
            am_normalize_minmax(img.data, am_tensor_numel(&img));
            s = am_resample(img.data, img.shape[0], img.shape[1], img.shape[2], out + i * per, side, side);
        } else if (s == AM_OK) {
            am_morphology mo;
            s = am_morphology_measure_image(&img, NULL, &mo);
            if (s == AM_OK) am_morphology_features_all(&mo, out + i * per);
            if (s != AM_OK) s = am_error_prefix(s, "%s", path);
        }
        am_tensor_free(&img);
        if (s == AM_ERR_NOMEM) {
            free(out);
            return s;
        }
        if (s != AM_OK) {
            fprintf(stderr, "astromorph %s: no %s baseline: %s (try --data-root)\n", c->cmd, what, am_errmsg());
            free(out);
            return AM_OK;
        }
    }
    *x = out, *dim = per;
    return AM_OK;
}

/* Rows as the hybrid embedding makes them (include/astromorph/hybrid.h), fitted on these rows:
 * learned (m × dl) beside stats (m × ds, may be NULL with ds 0), weighted and scaled as ho says. */
static am_status hybrid_rows(const float *learned, int64_t m, int64_t dl, const float *stats, int64_t ds,
                             const am_hybrid_options *ho, float **out)
{
    am_hybrid h;
    AM_TRY(am_hybrid_fit_with(&h, learned, m, dl, stats, ds, ho));
    *out = malloc((size_t)(m * (dl + ds)) * sizeof **out);
    if (!*out) {
        am_hybrid_free(&h);
        return am_error(AM_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < m; i++)
        am_hybrid_apply(&h, learned + i * dl, stats ? stats + i * ds : NULL, *out + i * (dl + ds));
    am_hybrid_free(&h);
    return AM_OK;
}

static am_status score(const float *x, int64_t m, int64_t d, const int32_t *y, int nclass, const ev_opts *o, scores *sc)
{
    sc->pred_main = malloc((size_t)m * sizeof *sc->pred_main);
    int32_t *pred = malloc((size_t)m * sizeof *pred);
    am_status s = sc->pred_main && pred ? AM_OK : am_error(AM_ERR_NOMEM, "out of memory");
    for (int v = 0; v < NV && s == AM_OK; v++) {
        float *xv = NULL;
        int64_t dv = 0;
        if ((s = am_eval_prepare(x, m, d, (am_eval_variant)v, &xv, &dv)) != AM_OK) break;
        for (int kk = 0; kk < NK && s == AM_OK; kk++)
            for (int di = 0; di < ND && s == AM_OK; di++) {
                if (KS[kk] >= m) {
                    sc->knn[kk][di][v] = NAN;
                    continue;
                }
                s = am_eval_knn(xv, m, dv, y, nclass, KS[kk], (am_eval_distance)di, pred);
                if (s != AM_OK) break;
                sc->knn[kk][di][v] = am_eval_accuracy(y, pred, m, nclass, NULL, NULL);
                if (kk == MAIN_K && di == AM_EVAL_COSINE && v == AM_EVAL_RAW)
                    memcpy(sc->pred_main, pred, (size_t)m * sizeof *pred);
            }
        free(xv);
    }
    if (s == AM_OK && m <= KS[MAIN_K])
        s = am_error(AM_ERR_VALUE, "%lld labelled images: need more than %d", (long long)m, KS[MAIN_K]);
    am_probe_options po;
    am_probe_options_default(&po);
    po.folds = (int)o->folds, po.seed = (uint64_t)o->seed;
    if (s == AM_OK) s = am_eval_linear_probe(x, m, d, y, nclass, &po, pred);
    if (s == AM_OK) sc->probe = am_eval_accuracy(y, pred, m, nclass, NULL, NULL);
    free(pred);
    return s;
}

static void report_rows(FILE *fp, const scores *sc, const char *prefix)
{
    for (int kk = 0; kk < NK; kk++)
        for (int di = 0; di < ND; di++)
            for (int v = 0; v < NV; v++) {
                if (isnan(sc->knn[kk][di][v])) continue;
                const char *vn = am_eval_variant_name((am_eval_variant)v);
                char variant[32];
                if (prefix) snprintf(variant, sizeof variant, v == AM_EVAL_RAW ? "%s" : "%s_%s", prefix, vn);
                else snprintf(variant, sizeof variant, "%s", vn);
                fprintf(fp, "knn,%d,%s,%s,%.4f\n", KS[kk], am_eval_distance_name((am_eval_distance)di), variant,
                        sc->knn[kk][di][v]);
            }
    fprintf(fp, "linear_probe,,,%s,%.4f\n", prefix ? prefix : "", sc->probe);
}

static am_status run(ac_common *c, const ev_opts *o)
{
    am_labels L;
    AM_TRY(am_labels_read(&L, o->labels));
    am_embeddings e;
    am_status s = ac_load(c, &e);
    if (s != AM_OK) {
        am_labels_free(&L);
        return s;
    }
    int64_t *row_of = malloc((size_t)L.n * sizeof *row_of), *rows = malloc((size_t)L.n * sizeof *rows), m = 0;
    int32_t *y = malloc((size_t)L.n * sizeof *y);
    float *x = NULL;
    /* the feature sets compared: the embeddings, then the baselines and the hybrid */
    enum { SET_EMB, SET_PIXELS, SET_MORPH, SET_HYBRID, NSETS };
    static const char *const set_name[NSETS] = {"embeddings", "pixels", "morphology", "hybrid"};
    float *fx[NSETS] = {0};
    int64_t fdim[NSETS] = {0};
    scores sc[NSETS];
    memset(sc, 0, sizeof sc);
    int64_t *conf = NULL;
    double *per = NULL;
    if (!row_of || !rows || !y) s = am_error(AM_ERR_NOMEM, "out of memory");
    if (s == AM_OK) s = match_rows(c, &e, &L, row_of);
    for (int64_t j = 0; s == AM_OK && j < L.n; j++)
        if (row_of[j] >= 0) rows[m] = row_of[j], y[m++] = L.ids[j];
    /* classes that kept no image are dropped, so chance and per-class figures mean what they say */
    int nclass = 0;
    int32_t *remap = s == AM_OK ? malloc((size_t)L.nclass * sizeof *remap) : NULL;
    const char **names = s == AM_OK ? malloc((size_t)L.nclass * sizeof *names) : NULL;
    if (s == AM_OK && (!remap || !names)) s = am_error(AM_ERR_NOMEM, "out of memory");
    if (s == AM_OK) {
        for (int cl = 0; cl < L.nclass; cl++) remap[cl] = -1;
        for (int64_t i = 0; i < m; i++) remap[y[i]] = 0;
        for (int cl = 0; cl < L.nclass; cl++)
            if (remap[cl] == 0) names[nclass] = L.names[cl], remap[cl] = nclass++;
        for (int64_t i = 0; i < m; i++) y[i] = remap[y[i]];
    }
    if (s == AM_OK && m < 2)
        s = am_error(AM_ERR_VALUE, "%s: only %lld labelled image(s) found in %s; need at least 2", o->labels,
                     (long long)m, c->embeddings);
    if (s == AM_OK && nclass < 2)
        s = am_error(AM_ERR_VALUE, "%s: the labelled images are all of one class ('%s'); need two or more", o->labels,
                     names[0]);
    if (s == AM_OK && !(x = malloc((size_t)(m * e.dim) * sizeof *x))) s = am_error(AM_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; s == AM_OK && i < m; i++)
        memcpy(x + i * e.dim, e.data + rows[i] * e.dim, (size_t)e.dim * sizeof *x);
    if (s == AM_OK) fx[SET_EMB] = x, fdim[SET_EMB] = e.dim, x = NULL;
    if (s == AM_OK && o->pixels)
        s = image_features(c, &e, rows, m, FEAT_PIXELS, (int)o->side, &fx[SET_PIXELS], &fdim[SET_PIXELS]);
    if (s == AM_OK && (o->morphology || o->hybrid > 0))
        s = image_features(c, &e, rows, m, FEAT_MORPHOLOGY, 0, &fx[SET_MORPH], &fdim[SET_MORPH]);
    if (s == AM_OK && o->hybrid > 0 && fx[SET_MORPH]) {
        /* learned features and statistics side by side, each block z-scored and weighted */
        am_hybrid_options ho = {.weight = o->hybrid, .learned = o->hybrid_learned, .stats = o->hybrid_stats};
        s = hybrid_rows(fx[SET_EMB], m, fdim[SET_EMB], fx[SET_MORPH], fdim[SET_MORPH], &ho, &fx[SET_HYBRID]);
        fdim[SET_HYBRID] = fdim[SET_EMB] + fdim[SET_MORPH];
    }
    if (s == AM_OK && fx[SET_MORPH]) { /* the statistics' scales differ wildly: compared z-scored */
        float *z = NULL;
        am_hybrid_options zo = {.weight = 0, .learned = AM_HYBRID_COLUMNS, .stats = AM_HYBRID_COLUMNS};
        if (o->morphology) s = hybrid_rows(fx[SET_MORPH], m, fdim[SET_MORPH], NULL, 0, &zo, &z);
        free(fx[SET_MORPH]);
        fx[SET_MORPH] = z; /* NULL when only wanted inside the hybrid */
    }
    for (int k = 0; k < NSETS && s == AM_OK; k++)
        if (fx[k]) s = score(fx[k], m, fdim[k], y, nclass, o, &sc[k]);
    conf = s == AM_OK ? malloc((size_t)nclass * (size_t)nclass * sizeof *conf) : NULL;
    per = s == AM_OK ? malloc((size_t)nclass * sizeof *per) : NULL;
    if (s == AM_OK && (!conf || !per)) s = am_error(AM_ERR_NOMEM, "out of memory");
    if (s == AM_OK) {
        double acc = am_eval_accuracy(y, sc[SET_EMB].pred_main, m, nclass, per, conf);
        int64_t *count = calloc((size_t)nclass, sizeof *count);
        for (int64_t i = 0; count && i < m; i++) count[y[i]]++;
        printf("%lld labelled images of %d classes (", (long long)m, nclass);
        for (int cl = 0; cl < nclass; cl++)
            printf("%s%s %lld", cl ? ", " : "", names[cl], count ? (long long)count[cl] : 0LL);
        printf("); embeddings: %lld values each, %s\n", (long long)e.dim, c->embeddings);
        printf("%-30s", "");
        for (int k = 0; k < NSETS; k++)
            if (fx[k]) {
                char head[32];
                if (k == SET_PIXELS) snprintf(head, sizeof head, "pixels %ldx%ld", o->side, o->side);
                else if (k == SET_HYBRID) snprintf(head, sizeof head, "hybrid %.2f", o->hybrid);
                else snprintf(head, sizeof head, "%s", set_name[k]);
                printf(" %14s", head);
            }
        printf("\n");
        for (int kk = 0; kk < NK; kk++)
            for (int di = 0; di < ND; di++)
                for (int v = 0; v < NV; v++) {
                    if (isnan(sc[SET_EMB].knn[kk][di][v])) continue;
                    char label[64];
                    snprintf(label, sizeof label, "knn k=%-2d %-9s %s", KS[kk],
                             am_eval_distance_name((am_eval_distance)di), am_eval_variant_name((am_eval_variant)v));
                    printf("%-30s", label);
                    for (int k = 0; k < NSETS; k++)
                        if (fx[k]) printf(" %14.4f", sc[k].knn[kk][di][v]);
                    printf("\n");
                }
        char probe[64];
        snprintf(probe, sizeof probe, "linear probe (%ld-fold)", o->folds);
        printf("%-30s", probe);
        for (int k = 0; k < NSETS; k++)
            if (fx[k]) printf(" %14.4f", sc[k].probe);
        printf("\n\nknn k=5 cosine raw: accuracy %.4f; per class:", acc);
        for (int cl = 0; cl < nclass; cl++) printf("%s %s %.3f", cl ? "," : "", names[cl], per[cl]);
        printf("\nconfusion (rows: true class, columns: predicted, in the order above):\n");
        for (int i = 0; i < nclass; i++) {
            printf("  %-20.20s", names[i]);
            for (int j = 0; j < nclass; j++) printf(" %6lld", (long long)conf[(int64_t)i * nclass + j]);
            printf("\n");
        }
        free(count);
        if (fflush(stdout) != 0 || ferror(stdout))
            s = am_error(AM_ERR_IO, "standard output: write failed: %s", am_errno_text());
    }
    if (s == AM_OK && c->output) {
        am_atomic_file af;
        if ((s = am_atomic_open(&af, c->output, 0)) == AM_OK) {
            fprintf(af.fp, "metric,k,distance,variant,value\n");
            fprintf(af.fp, "labelled,,,,%lld\nclasses,,,,%d\n", (long long)m, nclass);
            for (int k = 0; k < NSETS; k++)
                if (fx[k]) report_rows(af.fp, &sc[k], k == SET_EMB ? NULL : set_name[k]);
            for (int cl = 0; cl < nclass; cl++) {
                fputs("class_accuracy:", af.fp);
                am_csv_field_sep(af.fp, names[cl], ',');
                fprintf(af.fp, ",5,cosine,raw,%.4f\n", per[cl]);
            }
            if (ferror(af.fp)) {
                s = am_error(AM_ERR_IO, "%s: write failed: %s", c->output, am_errno_text());
                am_atomic_abort(&af);
            } else {
                s = am_atomic_commit(&af);
            }
        }
        if (s == AM_OK) fprintf(stderr, "astromorph %s: report written to %s\n", c->cmd, c->output);
    }
    if (s == AM_OK && c->figure) {
        char title[128];
        snprintf(title, sizeof title, "5-NN (cosine) accuracy %.3f on %lld labelled images",
                 am_eval_accuracy(y, sc[SET_EMB].pred_main, m, nclass, NULL, NULL), (long long)m);
        s = ac_figure_done(c, am_figure_confusion(c->figure, conf, nclass, names, title));
    }
    free(conf), free(per), free(remap), free(names);
    for (int k = 0; k < NSETS; k++) free(sc[k].pred_main), free(fx[k]);
    free(x), free(row_of), free(rows), free(y);
    am_embeddings_free(&e);
    am_labels_free(&L);
    return s;
}

static int scale_option(const ac_common *c, const char *name, const char *arg, am_hybrid_scale *out)
{
    if (am_hybrid_scale_parse(arg, out) == AM_OK) return 1;
    fprintf(stderr, "astromorph %s: %s %s: must be columns, block or robust\n", c->cmd, name, arg);
    return 0;
}

static int option(const ac_common *c, void *user, int opt, const char *arg)
{
    ev_opts *o = user;
    switch (opt) {
    case OPT_LABELS: o->labels = arg; return 1;
    case OPT_NO_PIXELS: o->pixels = 0; return 1;
    case OPT_PIXEL_SIDE: return ac_parse_int(c, "--pixel-side", arg, 2, 1024, &o->side);
    case OPT_FOLDS: return ac_parse_int(c, "--folds", arg, 2, 100, &o->folds);
    case OPT_SEED: return ac_parse_int(c, "--seed", arg, 0, 2147483647L, &o->seed);
    case OPT_MORPHOLOGY: o->morphology = 1; return 1;
    case OPT_HYBRID: return ac_parse_double(c, "--hybrid", arg, 0, 1, &o->hybrid);
    case OPT_HYBRID_LEARNED: return scale_option(c, "--hybrid-learned", arg, &o->hybrid_learned);
    case OPT_HYBRID_STATS: return scale_option(c, "--hybrid-stats", arg, &o->hybrid_stats);
    default: return 0;
    }
}

int am_cmd_evaluate(int argc, char **argv)
{
    static const struct option opts[] = {{"labels", required_argument, NULL, OPT_LABELS},
                                         {"no-pixels", no_argument, NULL, OPT_NO_PIXELS},
                                         {"pixel-side", required_argument, NULL, OPT_PIXEL_SIDE},
                                         {"folds", required_argument, NULL, OPT_FOLDS},
                                         {"seed", required_argument, NULL, OPT_SEED},
                                         {"morphology", no_argument, NULL, OPT_MORPHOLOGY},
                                         {"hybrid", required_argument, NULL, OPT_HYBRID},
                                         {"hybrid-learned", required_argument, NULL, OPT_HYBRID_LEARNED},
                                         {"hybrid-stats", required_argument, NULL, OPT_HYBRID_STATS},
                                         {NULL, 0, NULL, 0}};
    static const ac_command cmd = {"evaluate", opts, "", option, usage};
    ac_common c;
    ev_opts o = {.labels = NULL, .pixels = 1, .morphology = 0, .side = 32, .folds = 5, .seed = 42, .hybrid = 0};
    int st = ac_parse(&cmd, &c, &o, argc, argv);
    if (st >= 0) return st;
    if (!o.labels) {
        fprintf(stderr, "astromorph evaluate: --labels FILE is required (try --help)\n");
        return 2;
    }
    return run(&c, &o) == AM_OK ? 0 : am_cli_fail("evaluate");
}
