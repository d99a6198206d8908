/* Quality evaluation: leave-one-out k-NN and the probe's solver against an independent numpy
 * computation on planted data (tools/evaluate_reference.py → tests/fixtures/evaluate/), the
 * cross-validation's bookkeeping, area resampling, the labels file, and `astromorph evaluate`
 * end to end on embeddings and images it writes itself. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "astromorph/augment.h"
#include "astromorph/embeddings.h"
#include "astromorph/evaluate.h"
#include "astromorph/fits.h"
#include "astromorph/hybrid.h"
#include "astromorph/labels.h"
#include "test_util.h"

enum { N = 90, D = 8, K = 3 };

static float x[N * D];
static int32_t y[N];

static void load_planted(void)
{
    FILE *fp = fopen(am_test_path("tests/fixtures/evaluate/planted.csv"), "r");
    CHECK(fp != NULL, "no planted.csv (run tools/evaluate_reference.py)");
    if (!fp) exit(am_test_finish());
    char line[4096];
    CHECK(fgets(line, sizeof line, fp) != NULL, "header");
    for (int i = 0; i < N; i++) {
        CHECK(fgets(line, sizeof line, fp) != NULL, "row %d", i);
        char *p = line;
        y[i] = (int32_t)strtol(p, &p, 10);
        for (int j = 0; j < D; j++) x[i * D + j] = strtof(p + 1, &p);
    }
    fclose(fp);
}

static am_eval_variant variant_of(const char *s)
{
    return !strcmp(s, "whitened") ? AM_EVAL_WHITENED : !strcmp(s, "centred") ? AM_EVAL_CENTRED : AM_EVAL_RAW;
}

/* k-NN accuracies must be exactly numpy's (a count of right answers out of 90: no tolerance),
 * and the probe's weights numpy-Newton's to the solver's convergence. */
static void test_against_reference(void)
{
    FILE *fp = fopen(am_test_path("tests/fixtures/evaluate/expected.csv"), "r");
    CHECK(fp != NULL, "no expected.csv");
    if (!fp) return;
    char line[512];
    double w_ref[(D + 1) * K] = {0}, w[(D + 1) * K];
    int32_t pred[N];
    int nknn = 0;
    CHECK(fgets(line, sizeof line, fp) != NULL, "header");
    while (fgets(line, sizeof line, fp)) {
        char what[16], a[16], b[16], kbuf[16];
        double value;
        if (sscanf(line, "%15[^,],%15[^,],%15[^,],%15[^,],%lf", what, a, b, kbuf, &value) == 5 &&
            !strcmp(what, "knn")) {
            float *xv = NULL;
            int64_t dv = 0;
            CHECK_OK(am_eval_prepare(x, N, D, variant_of(a), &xv, &dv));
            am_eval_distance dist = !strcmp(b, "cosine") ? AM_EVAL_COSINE : AM_EVAL_EUCLIDEAN;
            int k = atoi(kbuf);
            CHECK_OK(am_eval_knn(xv, N, dv, y, K, k, dist, pred));
            double acc = am_eval_accuracy(y, pred, N, K, NULL, NULL);
            CHECK(fabs(acc - value) < 0.5 / N, "knn %s %s k=%d: %.4f, numpy %.4f", a, b, k, acc, value);
            free(xv);
            nknn++;
        } else if (sscanf(line, "probe_w,%15[^,],%15[^,],,%lf", a, b, &value) == 3) {
            w_ref[atoi(a) * K + atoi(b)] = value;
        }
    }
    fclose(fp);
    CHECK(nknn == 18, "%d k-NN rows in expected.csv, want 18", nknn);
    /* The raw data are badly conditioned (one axis stretched 6x and offset): 3000 accelerated steps
     * take the error below 1e-10 of the start (rate 1 - sqrt(mu/L) with L/mu about 2000). The
     * biases are defined up to a shift shared by all classes; compare them centred. */
    CHECK_OK(am_eval_probe_fit(x, N, D, y, K, 1e-2, 3000, w));
    double worst = 0, scale = 0;
    for (int j = 0; j <= D; j++) {
        double mc = 0, mr = 0;
        for (int c = 0; c < K; c++) mc += w[j * K + c] / K, mr += w_ref[j * K + c] / K;
        for (int c = 0; c < K; c++) {
            double e = fabs((w[j * K + c] - mc) - (w_ref[j * K + c] - mr));
            worst = e > worst ? e : worst;
            scale = fabs(w_ref[j * K + c]) > scale ? fabs(w_ref[j * K + c]) : scale;
        }
    }
    CHECK(worst <= 1e-5 * scale, "probe weights differ from Newton's by %.3g (scale %.3g)", worst, scale);
}

/* Folds: every row predicted once, by a model that never saw it; well-separated classes are
 * all right, random labels near chance. */
static void test_probe_cv(void)
{
    enum { M = 120 };
    static float xs[M * 2];
    int32_t ys[M], pred[M];
    am_rng r;
    am_rng_init(&r, 7, 0);
    for (int i = 0; i < M; i++) {
        ys[i] = i % 3;
        xs[i * 2] = (float)(ys[i] * 10 + am_rng_normal(&r));
        xs[i * 2 + 1] = (float)am_rng_normal(&r);
    }
    am_probe_options o;
    am_probe_options_default(&o);
    for (int i = 0; i < M; i++) pred[i] = -1;
    CHECK_OK(am_eval_linear_probe(xs, M, 2, ys, 3, &o, pred));
    int all = 1;
    for (int i = 0; i < M; i++) all &= pred[i] >= 0 && pred[i] < 3;
    CHECK(all, "a row got no prediction");
    CHECK(am_eval_accuracy(ys, pred, M, 3, NULL, NULL) == 1.0, "separable classes: %.3f",
          am_eval_accuracy(ys, pred, M, 3, NULL, NULL));
    /* labels unrelated to the features: held-out accuracy must not be memorised */
    for (int i = 0; i < M; i++) ys[i] = (int32_t)am_rng_below(&r, 3);
    CHECK_OK(am_eval_linear_probe(xs, M, 2, ys, 3, &o, pred));
    double acc = am_eval_accuracy(ys, pred, M, 3, NULL, NULL);
    CHECK(acc < 0.5, "random labels predicted at %.3f: the folds leak", acc);
    /* per-class and confusion bookkeeping */
    int32_t lab[5] = {0, 0, 1, 1, 1}, pr[5] = {0, 1, 1, 1, 0};
    double per[2];
    int64_t conf[4];
    CHECK(fabs(am_eval_accuracy(lab, pr, 5, 2, per, conf) - 0.6) < 1e-12, "accuracy");
    CHECK(per[0] == 0.5 && fabs(per[1] - 2.0 / 3) < 1e-12, "per class %g %g", per[0], per[1]);
    CHECK(conf[0] == 1 && conf[1] == 1 && conf[2] == 1 && conf[3] == 2, "confusion %lld %lld %lld %lld",
          (long long)conf[0], (long long)conf[1], (long long)conf[2], (long long)conf[3]);
    CHECK_FAILS(am_eval_knn(xs, 3, 2, lab, 2, 3, AM_EVAL_COSINE, pred), AM_ERR_VALUE, "labelled rows");
}

/* Area averaging: an exact factor is the block mean; any size keeps the image's mean. */
static void test_resample(void)
{
    float img[2 * 6 * 6], out[2 * 3 * 3], odd[2 * 4 * 5];
    for (int i = 0; i < 72; i++) img[i] = (float)((i * 37) % 11);
    CHECK_OK(am_resample(img, 2, 6, 6, out, 3, 3));
    double worst = 0;
    for (int c = 0; c < 2; c++)
        for (int oy = 0; oy < 3; oy++)
            for (int ox = 0; ox < 3; ox++) {
                const float *p = img + c * 36 + oy * 12 + ox * 2;
                double want = (p[0] + p[1] + p[6] + p[7]) / 4.0;
                worst = fmax(worst, fabs(out[c * 9 + oy * 3 + ox] - want));
            }
    CHECK(worst < 1e-5, "2x2 block means off by %g", worst);
    CHECK_OK(am_resample(img, 2, 6, 6, odd, 4, 5));
    for (int c = 0; c < 2; c++) {
        double a = 0, b = 0;
        for (int i = 0; i < 36; i++) a += img[c * 36 + i] / 36.0;
        for (int i = 0; i < 20; i++) b += odd[c * 20 + i] / 20.0;
        CHECK(fabs(a - b) < 1e-5, "channel %d mean %g became %g", c, a, b);
    }
}

/* Collapse monitors on rows with known answers. */
static void test_spread(void)
{
    enum { M = 16 };
    float e[M * M], same[4 * 3] = {1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3};
    double spread, erank;
    /* the basis vectors: per-dimension std sqrt((1/M)(1 - 1/M)); the covariance has M - 1 equal
     * eigenvalues (one direction, the mean's, is lost to centring) */
    for (int i = 0; i < M * M; i++) e[i] = i % (M + 1) == 0 ? 1.0f : 0.0f;
    CHECK_OK(am_embedding_spread(e, M, M, &spread, &erank));
    CHECK(fabs(spread - sqrt(1.0 - 1.0 / M)) < 1e-6, "spread of the basis %.6f, want %.6f", spread,
          sqrt(1.0 - 1.0 / M));
    CHECK(fabs(erank - (M - 1)) < 1e-6, "effective rank of the basis %.6f, want %d", erank, M - 1);
    CHECK_OK(am_embedding_spread(same, 4, 3, &spread, &erank));
    CHECK(spread == 0 && erank == 1, "collapsed rows: spread %g, rank %g", spread, erank);
}

/* The hybrid: each block's share of a squared distance is its weight (whatever its width), NaN
 * statistics sit at the mean, and the fit survives its JSON form bit for bit. */
static void test_hybrid(void)
{
    enum { M = 50, DL = 6, DS = 3 };
    float l[M * DL], st[M * DS], out[DL + DS], back[DL + DS];
    am_rng r;
    am_rng_init(&r, 11, 0);
    for (int i = 0; i < M * DL; i++) l[i] = (float)(5 + 3 * am_rng_normal(&r));
    for (int i = 0; i < M * DS; i++) st[i] = (float)(100 * am_rng_normal(&r));
    am_hybrid h, g;
    CHECK_OK(am_hybrid_fit(&h, l, M, DL, st, DS, 0.25));
    /* mean over rows of the squared norm of each block = its weight squared */
    double el = 0, es = 0;
    for (int i = 0; i < M; i++) {
        am_hybrid_apply(&h, l + i * DL, st + i * DS, out);
        for (int j = 0; j < DL; j++) el += (double)out[j] * out[j] / M;
        for (int j = 0; j < DS; j++) es += (double)out[DL + j] * out[DL + j] / M;
    }
    CHECK(fabs(el - 0.75 * 0.75) < 1e-5 && fabs(es - 0.25 * 0.25) < 1e-5, "block shares %.6f %.6f", el, es);
    float nan_row[DS] = {NAN, NAN, NAN};
    am_hybrid_apply(&h, l, nan_row, out);
    CHECK(out[DL] == 0 && out[DL + 2] == 0, "undefined statistics at the mean");
    char *json = am_hybrid_to_json(&h);
    CHECK(json != NULL, "to json");
    CHECK_OK(am_hybrid_from_json(&g, json, "test"));
    am_hybrid_apply(&h, l + 7 * DL, st + 7 * DS, out);
    am_hybrid_apply(&g, l + 7 * DL, st + 7 * DS, back);
    CHECK(g.dim == DL && g.nstat == DS && g.weight == 0.25 && memcmp(out, back, sizeof out) == 0, "JSON round trip");
    am_hybrid_free(&g);
    CHECK_FAILS(am_hybrid_from_json(&g, "{\"weight\":0.5,\"dim\":2,\"nstat\":1,\"mean\":[1],\"scale\":[1]}", "m.st"),
                AM_ERR_FORMAT, "m.st: metadata 'hybrid' has 1 means for 3 columns");
    free(json);
    am_hybrid_free(&h), am_hybrid_free(&g);
}

/* The other scalings: "block" keeps the learned block's shape (one scale, the block's share of a
 * squared distance still its weight, the ratio of its columns' spreads unchanged); "robust" sets
 * a column by its median and MAD, which one wild value does not move. Both are recorded in the
 * JSON, and a fit without the record (an older model) reads as per-column. */
static void test_hybrid_scalings(void)
{
    enum { M = 41, DL = 3, DS = 2 };
    float l[M * DL], st[M * DS], out[DL + DS];
    am_rng r;
    am_rng_init(&r, 5, 0);
    for (int i = 0; i < M; i++) {
        l[i * DL] = (float)(10 * am_rng_normal(&r)), l[i * DL + 1] = (float)am_rng_normal(&r);
        l[i * DL + 2] = (float)(0.1 * am_rng_normal(&r));
        st[i * DS] = (float)(i - 20); /* with the wild value below: median 0, MAD 1.4826 · 10 */
        st[i * DS + 1] = (float)(i % 2); /* over half the values equal: MAD 0, the spread decides */
    }
    st[(M - 1) * DS] = 1e6f; /* a wild value: the mean and spread move, the median and MAD do not */
    am_hybrid h, g;
    CHECK_OK(
        am_hybrid_fit_with(&h, l, M, DL, st, DS,
                           &(am_hybrid_options){.weight = 0.4, .learned = AM_HYBRID_BLOCK, .stats = AM_HYBRID_ROBUST}));
    CHECK(h.scale[0] == h.scale[1] && h.scale[1] == h.scale[2], "block: one scale, %g %g %g", h.scale[0], h.scale[1],
          h.scale[2]);
    double el = 0, c0 = 0, c2 = 0;
    for (int i = 0; i < M; i++) {
        am_hybrid_apply(&h, l + i * DL, st + i * DS, out);
        for (int j = 0; j < DL; j++) el += (double)out[j] * out[j] / M;
        c0 += (double)out[0] * out[0], c2 += (double)out[2] * out[2];
    }
    CHECK(fabs(el - 0.6 * 0.6) < 1e-5, "block share %.6f, want 0.36", el);
    CHECK(c0 > 1000 * c2, "block keeps its shape: column spreads^2 %g and %g", c0, c2);
    double mad = 1.4826 * 10, want = 0.4 / (sqrt(2.0) * mad);
    CHECK(h.mean[DL] == 0 && fabs(h.scale[DL] - want) < 1e-6 * want, "robust: median %g, scale %g (want %g)",
          h.mean[DL], h.scale[DL], want);
    want = 0.4 / (sqrt(2.0) * sqrt(20.0 * 21.0) / M);
    CHECK(h.mean[DL + 1] == 0 && fabs(h.scale[DL + 1] - want) < 1e-5 * want, "robust, MAD 0: scale %g (want %g)",
          h.scale[DL + 1], want);
    char *json = am_hybrid_to_json(&h);
    CHECK(json && strstr(json, "\"learned_scale\":\"block\"") && strstr(json, "\"stats_scale\":\"robust\""),
          "the scalings recorded: %s", json ? json : "(null)");
    CHECK_OK(am_hybrid_from_json(&g, json, "test"));
    CHECK(g.learned_scale == AM_HYBRID_BLOCK && g.stats_scale == AM_HYBRID_ROBUST, "scalings read back");
    am_hybrid_free(&g);
    CHECK_OK(am_hybrid_from_json(&g, "{\"weight\":0.5,\"dim\":1,\"nstat\":1,\"mean\":[0,0],\"scale\":[1,1]}", "old"));
    CHECK(g.learned_scale == AM_HYBRID_COLUMNS && g.stats_scale == AM_HYBRID_COLUMNS, "an older fit reads as columns");
    am_hybrid_free(&g);
    am_hybrid_scale sc;
    CHECK_FAILS(am_hybrid_scale_parse("pca", &sc), AM_ERR_VALUE,
                "hybrid scaling 'pca': must be \"columns\", \"block\" or \"robust\"");
    free(json);
    am_hybrid_free(&h);
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    CHECK(fp != NULL, "%s", path);
    if (!fp) return;
    fputs(text, fp);
    fclose(fp);
}

static void test_labels(const char *dir)
{
    char p[1024];
    am_labels L;
    snprintf(p, sizeof p, "%s/l1.csv", dir);
    write_text(p, "\xEF\xBB\xBFpath,label\n a.fits , FRII\n\"b,1.fits\",FRI\nc.fits,\nd.fits,\"FR \"\"I\"\"\"\n");
    CHECK_OK(am_labels_read(&L, p));
    CHECK(L.n == 3 && L.nclass == 3 && L.key == AM_LABELS_BY_PATH, "n %lld classes %d", (long long)L.n, L.nclass);
    if (L.n == 3 && L.nclass == 3) {
        CHECK(!strcmp(L.keys[0], "a.fits") && !strcmp(L.keys[1], "b,1.fits"), "keys '%s' '%s'", L.keys[0], L.keys[1]);
        CHECK(!strcmp(L.names[0], "FR \"I\"") && !strcmp(L.names[1], "FRI") && !strcmp(L.names[2], "FRII"),
              "names sorted: '%s' '%s' '%s'", L.names[0], L.names[1], L.names[2]);
        CHECK(L.ids[0] == 2 && L.ids[1] == 1 && L.ids[2] == 0, "ids %d %d %d", L.ids[0], L.ids[1], L.ids[2]);
    }
    am_labels_free(&L);
    snprintf(p, sizeof p, "%s/l2.csv", dir);
    write_text(p, "object;class\nM31;spiral\n");
    CHECK_OK(am_labels_read(&L, p));
    CHECK(L.key == AM_LABELS_BY_OBJECT && L.n == 1, "';' and object keys");
    am_labels_free(&L);
    write_text(p, "path,label\na.fits,x\nb.fits,y,z\n");
    CHECK_FAILS(am_labels_read(&L, p), AM_ERR_FORMAT, "l2.csv:3: 3 field(s), the header has 2");
    write_text(p, "name,label\na,b\n");
    CHECK_FAILS(am_labels_read(&L, p), AM_ERR_FORMAT, "'path' (or 'object') column");
    write_text(p, "path,label\na.fits,\"open\n");
    CHECK_FAILS(am_labels_read(&L, p), AM_ERR_FORMAT, "l2.csv:2: a quoted field is not closed");
}

static char out_text[1 << 16], err_text[1 << 14];

static int run(const char *cli, const char *dir, const char *args)
{
    char cmd[4096], p[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && OMP_NUM_THREADS=2 '%s' evaluate %s >out.txt 2>err.txt", dir, cli, args);
    int st = system(cmd);
    for (int which = 0; which < 2; which++) {
        snprintf(p, sizeof p, "%s/%s", dir, which ? "err.txt" : "out.txt");
        FILE *fp = fopen(p, "rb");
        char *buf = which ? err_text : out_text;
        size_t cap = which ? sizeof err_text : sizeof out_text;
        size_t n = fp ? fread(buf, 1, cap - 1, fp) : 0;
        if (fp) fclose(fp);
        buf[n] = 0;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* One value of report.csv, or NAN. */
static double report_value(const char *dir, const char *row_prefix)
{
    char p[1024], line[256];
    snprintf(p, sizeof p, "%s/report.csv", dir);
    FILE *fp = fopen(p, "r");
    double v = NAN;
    size_t n = strlen(row_prefix);
    while (fp && fgets(line, sizeof line, fp))
        if (!strncmp(line, row_prefix, n)) v = atof(line + n);
    if (fp) fclose(fp);
    return v;
}

/* The planted set as embeddings of images: the images' pixels carry the class too (a bright
 * spot whose place depends on the class), so both columns of the report mean something. */
static void test_cli(const char *dir)
{
    const char *cli = getenv("AM_CLI");
    CHECK(cli != NULL, "AM_CLI is not set (ctest sets it to the astromorph program)");
    if (!cli) return;
    am_embeddings e;
    CHECK_OK(am_embeddings_alloc(&e, N + 1, D));
    char p[1024], labels[1 << 13] = "path,label\n";
    size_t used = strlen(labels);
    for (int i = 0; i <= N; i++) {
        int cls = i < N ? y[i] : 0;
        if (i < N) memcpy(e.data + i * D, x + i * D, sizeof(float) * D);
        snprintf(p, sizeof p, "img%03d.fits", i);
        free(e.meta[i].filepath);
        e.meta[i].filepath = strdup(p);
        am_tensor img;
        CHECK_OK(am_tensor_alloc(&img, 3, (const int64_t[]){1, 20, 24}));
        for (int k = 0; k < 20 * 24; k++) img.data[k] = (float)((k * 7 + i) % 5) * 0.1f;
        img.data[(4 + 5 * cls) * 24 + 6 + (i % 3)] = 10.0f;
        snprintf(p, sizeof p, "%s/img%03d.fits", dir, i);
        CHECK_OK(am_fits_write(p, &img, NULL));
        am_tensor_free(&img);
        /* the last image has no label: it must be ignored */
        used += (size_t)snprintf(labels + used, sizeof labels - used, "img%03d.fits,%s\n", i,
                                 i < N ? (const char *[]){"alpha", "beta", "gamma"}[cls] : "");
    }
    /* a per-image statistic that is the stretched axis x0, which dominates the variance: PC1 */
    float stat[(N + 1) * 2];
    for (int i = 0; i <= N; i++) stat[2 * i] = i < N ? x[i * D] : 0, stat[2 * i + 1] = (float)(i % 7);
    CHECK_OK(am_embeddings_set_stats(&e, 2, (const char *const[]){"size", "noise"}, stat));
    snprintf(p, sizeof p, "%s/emb.safetensors", dir);
    CHECK_OK(am_embeddings_write(&e, p));
    am_embeddings_free(&e);
    snprintf(p, sizeof p, "%s/labels.csv", dir);
    write_text(p, labels);
    int st = run(cli, dir, "--embeddings emb.safetensors --labels labels.csv -o report.csv --figure conf.png");
    CHECK(st == 0, "exit %d: %s", st, err_text);
    CHECK(strstr(out_text, "90 labelled images of 3 classes (alpha 30, beta 30, gamma 30)") != NULL, "summary: %s",
          out_text);
    /* the report's k-NN numbers are the library's, which the reference test checks against numpy */
    CHECK(fabs(report_value(dir, "knn,5,cosine,raw,") - 0.8778) < 1e-4, "knn,5,cosine,raw = %g",
          report_value(dir, "knn,5,cosine,raw,"));
    CHECK(fabs(report_value(dir, "knn,20,euclidean,whitened,") - 0.9) < 1e-4, "whitened");
    CHECK(report_value(dir, "labelled,,,,") == 90, "labelled count");
    /* a spot at a class-dependent place: the pixels' 1-NN gets every image right */
    CHECK(report_value(dir, "knn,1,euclidean,pixels,") == 1.0, "pixels: %g",
          report_value(dir, "knn,1,euclidean,pixels,"));
    double probe = report_value(dir, "linear_probe,,,,");
    CHECK(probe > 0.8 && probe <= 1.0, "probe %g", probe);
    snprintf(p, sizeof p, "%s/conf.png", dir);
    FILE *fp = fopen(p, "rb");
    unsigned char sig[8] = {0};
    CHECK(fp && fread(sig, 1, 8, fp) == 8 && sig[1] == 'P' && sig[2] == 'N' && sig[3] == 'G', "conf.png is no PNG");
    if (fp) fclose(fp);
    /* the statistics as a baseline and in a hybrid: rows of their own, accuracies in [0, 1] */
    st = run(cli, dir, "--embeddings emb.safetensors --labels labels.csv --morphology --hybrid 0.3 -o report.csv");
    CHECK(st == 0, "--morphology --hybrid: exit %d: %s", st, err_text);
    double mk = report_value(dir, "knn,5,cosine,morphology,"), hk = report_value(dir, "knn,5,cosine,hybrid,");
    CHECK(mk >= 0 && mk <= 1 && hk >= 0 && hk <= 1, "morphology %g, hybrid %g", mk, hk);
    CHECK(strstr(out_text, "hybrid 0.30") != NULL, "hybrid column: %s", out_text);
    /* PCA against the statistics: PC1 is the stretched axis, which the statistic "size" is */
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' project --method pca --embeddings emb.safetensors -o pca.csv "
             "--correlations corr.csv --correlations-figure corr.png >out.txt 2>err.txt",
             dir, cli);
    st = system(cmd);
    snprintf(p, sizeof p, "%s/corr.csv", dir);
    FILE *cf = fopen(p, "r");
    char cl[256];
    double r_size = 0, r_noise = 1;
    while (cf && fgets(cl, sizeof cl, cf)) {
        if (!strncmp(cl, "size,", 5)) r_size = atof(cl + 5);
        if (!strncmp(cl, "noise,", 6)) r_noise = atof(cl + 6);
    }
    if (cf) fclose(cf);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && fabs(r_size) > 0.99 && fabs(r_noise) < 0.3,
          "PC1 correlations: size %g, noise %g (exit %d)", r_size, r_noise, st);
    /* filtering on a statistic and colouring by it: the kept count is the rows that qualify */
    int qualify = 0;
    for (int i = 0; i <= N; i++) qualify += stat[2 * i] > 3.0f;
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' project --method pca --embeddings emb.safetensors --where 'size > 3' "
             "--color-by noise --figure col.png -o sel.csv >out.txt 2>err.txt",
             dir, cli);
    st = system(cmd);
    snprintf(p, sizeof p, "%s/err.txt", dir);
    FILE *ef = fopen(p, "r");
    char el[512] = "", want[128];
    while (ef && fgets(el, sizeof el, ef) && !strstr(el, "kept by --where")) {}
    if (ef) fclose(ef);
    snprintf(want, sizeof want, "%d of %d images kept by --where", qualify, N + 1);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(el, want), "--where: exit %d, '%s', want '%s'", st, el, want);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' outliers --embeddings emb.safetensors --where 'nothing > 1' >out.txt 2>err.txt", dir,
             cli);
    st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1, "--where on an unknown statistic fails");
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' outliers --embeddings emb.safetensors --where 'size >> 1' >out.txt 2>err.txt", dir, cli);
    st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1, "--where with a bad operator fails");
    /* `astromorph morphology` on a list of three of the images: a header and three rows */
    snprintf(p, sizeof p, "%s/three.txt", dir);
    write_text(p, "img000.fits\nimg001.fits\nimg002.fits\n");
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' morphology three.txt >out.txt 2>err.txt", dir, cli);
    st = system(cmd);
    snprintf(p, sizeof p, "%s/out.txt", dir);
    FILE *mf = fopen(p, "r");
    int lines = 0, gini_col = 0;
    char line[2048];
    while (mf && fgets(line, sizeof line, mf)) {
        if (!lines) gini_col = strstr(line, ";gini;") != NULL;
        lines++;
    }
    if (mf) fclose(mf);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && lines == 4 && gini_col, "morphology: exit %d, %d lines", st, lines);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' morphology >out.txt 2>err.txt", dir, cli);
    st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2, "morphology without data: exit %d", st);
    /* without the images: a clear warning, the embedding numbers all the same */
    st = run(cli, dir, "--embeddings emb.safetensors --labels labels.csv --data-root /nonexistent -o report.csv");
    CHECK(st == 0 && strstr(err_text, "no raw-pixel baseline") != NULL, "exit %d, stderr %s", st, err_text);
    CHECK(isnan(report_value(dir, "knn,1,euclidean,pixels,")), "pixels row without images");
    /* errors: one line, exit 1 */
    snprintf(p, sizeof p, "%s/unmatched.csv", dir);
    write_text(p, "path,label\nnothere.fits,a\nnothere2.fits,b\n");
    snprintf(p, sizeof p, "--embeddings emb.safetensors --labels unmatched.csv");
    st = run(cli, dir, p);
    CHECK(st == 1 && strstr(err_text, "only 0 labelled image(s) found") != NULL, "exit %d: %s", st, err_text);
    st = run(cli, dir, "--embeddings emb.safetensors");
    CHECK(st == 2 && strstr(err_text, "--labels FILE is required") != NULL, "exit %d: %s", st, err_text);
}

int main(void)
{
    load_planted();
    test_against_reference();
    test_probe_cv();
    test_resample();
    test_spread();
    test_hybrid();
    test_hybrid_scalings();
    const char *dir = am_test_tmpdir();
    test_labels(dir);
    test_cli(dir);
    return am_test_finish();
}
