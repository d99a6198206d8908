/* The analysis commands end to end (the program in $AM_CLI): tables against direct library and
 * brute-force results, same-object exclusion, seeded reproducibility, the default file in
 * exported/, figures, and one-line errors with the right exit status. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "astromorph/embeddings.h"
#include "astromorph/pca.h"
#include "astromorph/rows.h"
#include "synth.h"
#include "astromorph/tsne.h"
#include "test_util.h"

static const char *cli, *dir;
static char out_text[1 << 20], err_text[1 << 16];

static char *slurp(const char *path, char *buf, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    size_t n = fp ? fread(buf, 1, cap - 1, fp) : 0;
    if (fp) fclose(fp);
    buf[n] = 0;
    return buf;
}

/* Runs `astromorph ARGS` in the temporary folder; returns the exit status. */
static int run(const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && OMP_NUM_THREADS=2 '%s' %s >out.txt 2>err.txt", dir, cli, args);
    int st = system(cmd);
    char p[1024];
    snprintf(p, sizeof p, "%s/out.txt", dir);
    slurp(p, out_text, sizeof out_text);
    snprintf(p, sizeof p, "%s/err.txt", dir);
    slurp(p, err_text, sizeof err_text);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Field `col` (0-based, ';'-separated, no quoting in these tests) of line `line` (0 = header). */
static const char *field(const char *text, int line, int col, char *buf, size_t len)
{
    const char *p = text;
    for (int l = 0; l < line && p; l++) {
        p = strchr(p, '\n');
        if (p) p++;
    }
    buf[0] = 0;
    if (!p) return buf;
    for (int c = 0; c < col && p; c++) {
        p = strpbrk(p, ";\n");
        if (!p || *p == '\n') return buf;
        p++;
    }
    size_t n = strcspn(p, ";\n");
    snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), p);
    return buf;
}

int main(void)
{
    cli = getenv("AM_CLI");
    CHECK(cli != NULL, "AM_CLI is not set (ctest sets it to the astromorph program)");
    if (!cli) return am_test_finish();
    dir = am_test_tmpdir();
    char path[1024], f[256];
    snprintf(path, sizeof path, "%s/exported", dir);
    mkdir(path, 0755);

    /* 3 clusters of 40 + 2 planted outliers; rows 0 and 1 share an OBJECT and nearly coincide. */
    const int64_t n = 122, D = 24;
    int32_t truth[122];
    float *x = synth_clusters(n, D, 3, 4.0, 17, truth);
    for (int64_t d = 0; d < D; d++) {
        x[1 * D + d] = x[0 * D + d] + 0.01f;
        x[120 * D + d] = (float)(d % 2 ? 40 : -40);
        x[121 * D + d] = (float)(d % 3 ? -35 : 45);
    }
    am_embeddings e;
    CHECK_OK(am_embeddings_alloc(&e, n, D));
    memcpy(e.data, x, (size_t)n * D * sizeof *x);
    const char *imgs[4] = {"stel_m59.fits", "stel_m83.fits", "stel_ic418.fits", "stel_fornax_cluster.fits"};
    for (int64_t i = 0; i < n; i++) {
        snprintf(e.meta[i].object, AM_META_LEN, "obj_%lld", (long long)i);
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", am_test_path("data/sample"), imgs[i % 4]);
        e.meta[i].filepath = strdup(p);
    }
    strcpy(e.meta[1].object, "obj_0");
    snprintf(path, sizeof path, "%s/exported/old.csv", dir);
    CHECK_OK(am_embeddings_write_csv(&e, path));
    snprintf(path, sizeof path, "%s/emb.safetensors", dir);
    CHECK_OK(am_embeddings_write(&e, path));
    snprintf(path, sizeof path, "%s/emb16.safetensors", dir);
    CHECK_OK(am_embeddings_write_f16(&e, path));

    /* similar: brute-force nearest by cosine, excluding row 0 and its same-object twin. */
    CHECK(run("similar --embeddings emb.safetensors --index 0 -k 5") == 0, "similar failed: %s", err_text);
    CHECK(count_lines(out_text) == 6, "similar printed %d lines", count_lines(out_text));
    CHECK(strncmp(out_text, "rank;index;object;right ascension;declination;rest freq;filepath;cosine\n", 71) == 0,
          "similar header: %.100s", out_text);
    int64_t best = -1;
    double bs = -2;
    for (int64_t i = 2; i < n; i++) {
        double ab = 0, aa = 0, bb = 0;
        for (int64_t d = 0; d < D; d++) {
            ab += (double)x[d] * x[i * D + d];
            aa += (double)x[d] * x[d];
            bb += (double)x[i * D + d] * x[i * D + d];
        }
        if (ab / sqrt(aa * bb) > bs) bs = ab / sqrt(aa * bb), best = i;
    }
    CHECK(atoll(field(out_text, 1, 1, f, sizeof f)) == best, "nearest is row %s, brute force %lld", f, (long long)best);
    CHECK(fabs(atof(field(out_text, 1, 7, f, sizeof f)) - bs) < 1e-5, "score %s vs %.6f", f, bs);
    CHECK(!strstr(out_text, "\n1;1;obj_0") && !strstr(out_text, ";1;obj_0;"), "same-object row 1 returned: %s",
          out_text);
    CHECK(run("similar --embeddings emb.safetensors --object obj_0 -k 1 --keep-same-object") == 0, "%s", err_text);
    CHECK(atoll(field(out_text, 1, 1, f, sizeof f)) == 1, "--keep-same-object: nearest is %s, want the twin row 1", f);
    CHECK(run("similar --embeddings emb.safetensors --file stel_m83.fits -k 2 --metric euclidean --figure sim.png") ==
              0,
          "similar by file: %s", err_text);
    CHECK(strstr(err_text, "using row 1") != NULL, "several rows share the file: note missing: %s", err_text);
    CHECK(strstr(out_text, ";distance\n") != NULL, "euclidean column: %.100s", out_text);
    snprintf(path, sizeof path, "%s/sim.png", dir);
    char sig[9] = {0};
    slurp(path, sig, sizeof sig);
    CHECK(memcmp(sig, "\x89PNG", 4) == 0, "similar figure is not a PNG");

    /* project --method pca matches the library's PCA. */
    CHECK(run("project --embeddings emb.safetensors --method pca -o pca.csv") == 0, "pca: %s", err_text);
    snprintf(path, sizeof path, "%s/pca.csv", dir);
    slurp(path, out_text, sizeof out_text);
    CHECK(strstr(out_text, "filepath;x;y\n") != NULL && count_lines(out_text) == n + 1, "pca table shape");
    CHECK(strstr(err_text, "explained variance: PC1") != NULL, "explained variance not reported: %s", err_text);
    am_pca p;
    float t[3 * 122];
    CHECK_OK(am_pca_fit(x, n, D, 3, &p));
    CHECK_OK(am_pca_transform(&p, x, n, t));
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs(atof(field(out_text, (int)i + 1, 6, f, sizeof f)) - t[3 * i]));
        worst = fmax(worst, fabs(atof(field(out_text, (int)i + 1, 7, f, sizeof f)) - t[3 * i + 1]));
    }
    CHECK(worst < 1e-4 * sqrt(p.variance[0]), "pca coordinates differ by %g", worst);
    am_pca_free(&p);
    /* from the float16 file (streamed, never converted whole): the PCA of the rounded rows */
    CHECK(run("project --embeddings emb16.safetensors --method pca") == 0, "pca F16: %s", err_text);
    float *xh = malloc(sizeof(float) * (size_t)(n * D));
    for (int64_t i = 0; i < n * D; i++) xh[i] = am_half_to_float(am_float_to_half(x[i]));
    CHECK_OK(am_pca_fit(xh, n, D, 3, &p));
    CHECK_OK(am_pca_transform(&p, xh, n, t));
    worst = 0;
    for (int64_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(atof(field(out_text, (int)i + 1, 6, f, sizeof f)) - t[3 * i]));
    CHECK(worst < 1e-4 * sqrt(p.variance[0]), "F16 pca coordinates differ by %g", worst);
    am_pca_free(&p);
    free(xh);

    /* t-SNE: same seed, same table; 3-D has a z column; figure with two panels. */
    char first[1 << 16];
    CHECK(run("project --embeddings emb.safetensors --iterations 300 --seed 5") == 0, "tsne: %s", err_text);
    snprintf(first, sizeof first, "%s", out_text);
    CHECK(run("project --embeddings emb.safetensors --iterations 300 --seed 5 --threads 1 --figure map.pdf") == 0,
          "tsne 1 thread: %s", err_text);
    CHECK(strcmp(first, out_text) == 0, "t-SNE tables differ between runs with the same seed");
    CHECK(run("project --embeddings emb.safetensors --dims 3 --iterations 250") == 0, "tsne 3-D: %s", err_text);
    CHECK(strstr(out_text, ";x;y;z\n") != NULL, "3-D header: %.120s", out_text);
    /* --tsne-method: bh is what auto takes at this size (the same table); fft maps too. */
    CHECK(run("project --embeddings emb.safetensors --iterations 300 --seed 5 --tsne-method bh") == 0, "tsne bh: %s",
          err_text);
    CHECK(strcmp(first, out_text) == 0, "--tsne-method bh differs from auto below 5 000 images");
    if (am_tsne_have_fft()) {
        CHECK(run("project --embeddings emb.safetensors --iterations 300 --tsne-method fft") == 0, "tsne fft: %s",
              err_text);
        CHECK(count_lines(out_text) == n + 1, "fft table lines %d", count_lines(out_text));
    }
    CHECK(run("project --embeddings emb.safetensors --tsne-method fast") != 0 &&
              strstr(err_text, "--tsne-method: 'fast' is not a t-SNE method") != NULL,
          "bad --tsne-method: %s", err_text);
    CHECK(run("project --embeddings emb.safetensors --dims 3 --tsne-method fft") != 0 && strstr(err_text, "2-D only"),
          "3-D fft: %s", err_text);

    /* cluster -k 5: the 3 groups and the 2 far outliers apart; --save keeps the labels. */
    CHECK(run("cluster --embeddings emb.safetensors -k 5 --save lab.safetensors --figure cl.png") == 0, "cluster: %s",
          err_text);
    CHECK(strstr(err_text, "mean silhouette") != NULL, "no silhouette summary: %s", err_text);
    int map[5] = {-1, -1, -1, -1, -1}, ok = 1, used = 0;
    for (int64_t i = 0; i < n; i++) {
        int lab = atoi(field(out_text, (int)i + 1, 6, f, sizeof f));
        /* Row 1 was moved next to row 0; the outliers form groups 3 and 4 of their own. */
        int want = i == 1 ? truth[0] : i < 120 ? truth[i] : (int)(i - 117);
        if (lab < 0 || lab > 4) ok = 0;
        else if (map[lab] < 0) map[lab] = want, used++;
        else if (map[lab] != want) ok = 0;
    }
    CHECK(ok && used == 5, "clusters do not match the planted groups");
    am_embeddings l;
    snprintf(path, sizeof path, "%s/lab.safetensors", dir);
    CHECK_OK(am_embeddings_load(&l, path));
    CHECK(l.labels && l.labels[5] == atoi(field(out_text, 6, 6, f, sizeof f)), "--save labels differ from the table");
    am_embeddings_free(&l);
    /* the same groups from the float16 file (4.0 σ apart: half precision moves no row across) */
    char *labels32 = strdup(out_text);
    CHECK(run("cluster --embeddings emb16.safetensors -k 5") == 0, "cluster F16: %s", err_text);
    for (int64_t i = 0; i < n; i++) {
        char g[64];
        CHECK(!strcmp(field(out_text, (int)i + 1, 6, f, sizeof f), field(labels32, (int)i + 1, 6, g, sizeof g)),
              "row %lld: F16 file clusters differently", (long long)i);
    }
    free(labels32);
    /* mini-batch k-means: its table, the same at 1 and 2 threads */
    CHECK(run("cluster --embeddings emb.safetensors -k 3 --algorithm minibatch --batch 16 --threads 1") == 0 &&
              strstr(err_text, "mini-batch k-means: ") && count_lines(out_text) == n + 1,
          "cluster --algorithm minibatch: %s", err_text);
    char *mb1 = strdup(out_text);
    CHECK(run("cluster --embeddings emb.safetensors -k 3 --algorithm minibatch --batch 16 --threads 2") == 0 &&
              !strcmp(mb1, out_text),
          "mini-batch tables differ between 1 and 2 threads");
    free(mb1);
    CHECK(run("cluster --embeddings emb.safetensors --algorithm elkan") == 2 &&
              strstr(err_text, "--algorithm: unknown k-means algorithm 'elkan'") && count_lines(err_text) == 1,
          "bad algorithm: %s", err_text);

    /* outliers: the planted rows rank first, by either score. */
    for (int m = 0; m < 2; m++) {
        CHECK(run(m ? "outliers --embeddings emb.safetensors --top 2 --method lof"
                    : "outliers --embeddings emb.safetensors --top 2 --figure out.png") == 0,
              "outliers: %s", err_text);
        CHECK(count_lines(out_text) == 3, "outliers --top 2 printed %d lines", count_lines(out_text));
        long a = atol(field(out_text, 1, 1, f, sizeof f)), b = atol(field(out_text, 2, 1, f, sizeof f));
        CHECK((a == 120 && b == 121) || (a == 121 && b == 120), "top outliers %ld, %ld (method %d)", a, b, m);
    }

    /* Default: the newest file in exported/, or the safetensors twin of a newest CSV. */
    struct timespec old_times[2] = {{1000000000, 0}, {1000000000, 0}};
    snprintf(path, sizeof path, "%s/exported/old.csv", dir);
    CHECK(utimensat(AT_FDCWD, path, old_times, 0) == 0, "cannot date %s", path);
    am_embeddings small;
    CHECK_OK(am_embeddings_alloc(&small, 12, 3));
    for (int i = 0; i < 36; i++) small.data[i] = (float)((i * 7) % 11);
    snprintf(path, sizeof path, "%s/exported/new.safetensors", dir);
    CHECK_OK(am_embeddings_write(&small, path));
    CHECK(run("outliers -k 3") == 0, "default embeddings: %s", err_text);
    CHECK(strstr(err_text, "exported/new.safetensors") != NULL && count_lines(out_text) == 13,
          "did not use the newest file: %s", err_text);
    CHECK(utimensat(AT_FDCWD, path, old_times, 0) == 0, "cannot date %s", path);
    snprintf(path, sizeof path, "%s/exported/new.csv", dir);
    CHECK_OK(am_embeddings_write_csv(&small, path));
    am_embeddings_free(&small);
    CHECK(run("outliers -k 3") == 0 && strstr(err_text, "exported/new.safetensors") != NULL,
          "the newest CSV's safetensors twin was not preferred: %s", err_text);

    /* Errors: one line, naming the cause; usage errors exit 2, failures 1. */
    CHECK(run("similar --embeddings missing.safetensors --index 0") == 1 && strstr(err_text, "missing.safetensors") &&
              count_lines(err_text) == 1,
          "missing file: %s", err_text);
    CHECK(run("similar --embeddings emb.safetensors") == 2 && strstr(err_text, "--object"), "no query: %s", err_text);
    CHECK(run("similar --embeddings emb.safetensors --index 0 --metric manhattan") == 2 &&
              strstr(err_text, "manhattan"),
          "bad metric: %s", err_text);
    CHECK(run("similar --embeddings emb.safetensors --object nobody") == 1 && strstr(err_text, "nobody"),
          "unknown object: %s", err_text);
    CHECK(run("project --embeddings emb.safetensors --figure map.svg") == 2 && strstr(err_text, ".png or .pdf"),
          "bad figure name: %s", err_text);
    CHECK(run("cluster --embeddings emb.safetensors -k 500") == 1 && strstr(err_text, "-k 500"), "k too large: %s",
          err_text);
    CHECK(run("outliers --help") == 0 && strstr(out_text, "lof"), "outliers --help");
    CHECK(run("project --embeddings emb.safetensors --dims 4") == 2 && strstr(err_text, "--dims 4"), "bad dims: %s",
          err_text);
    /* a perplexity asked for must be below the number of images (the default is lowered instead) */
    CHECK(run("project --embeddings emb.safetensors --perplexity 9999") == 1 &&
              strstr(err_text, "--perplexity 9999: must be below the number of images"),
          "perplexity too large: %s", err_text);
    /* a table that cannot be written (full disk) is an error with the reason, not exit 0 */
    char full[1200];
    snprintf(full, sizeof full, "cd '%s' && '%s' outliers --embeddings emb.safetensors -k 3 >/dev/full 2>err.txt", dir,
             cli);
    int fst = system(full);
    snprintf(path, sizeof path, "%s/err.txt", dir);
    slurp(path, err_text, sizeof err_text);
    CHECK(WIFEXITED(fst) && WEXITSTATUS(fst) == 1 && strstr(err_text, "standard output: write failed"),
          "outliers > /dev/full: exit %d, %s", WEXITSTATUS(fst), err_text);
    /* a cluster label near INT32_MAX is refused when read (the figures add 1 to labels) */
    snprintf(path, sizeof path, "%s/biglabel.csv", dir);
    FILE *bl = fopen(path, "w");
    fputs(";cluster;object;right ascension;declination;rest freq;filepath;emb_dim_0;emb_dim_1\n"
          "0;2147483647;a;N/A;N/A;N/A;a.fits;0.5;0.1\n1;0;b;N/A;N/A;N/A;b.fits;0.2;0.3\n",
          bl);
    fclose(bl);
    CHECK(run("project --method pca --embeddings biglabel.csv") == 1 &&
              strstr(err_text, "not an integer in 0..1000000"),
          "label INT32_MAX: %s", err_text);

    am_embeddings_free(&e);
    am_free(x);
    return am_test_finish();
}
