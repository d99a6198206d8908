/* Figures drawn from the bundled sample FITS images with stand-in embeddings (each image's
 * 16×16 thumbnail as a 256-D vector): every figure is written as PNG (and one as PDF), has the
 * expected size, shows the thumbnails (dark sky inside the frames) rather than placeholders,
 * and fails cleanly on a bad path. Set AM_KEEP_TMP=1 to look at them. */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/figure.h"
#include "astromorph/fits.h"
#include "astromorph/kmeans.h"
#include "astromorph/outliers.h"
#include "astromorph/pca.h"
#include "astromorph/tsne.h"
#include "test_util.h"

static am_status fits_thumb(void *user, int64_t row, int size, am_thumbnail *out)
{
    const am_embeddings *e = user;
    am_tensor img;
    AM_TRY(am_fits_read(e->meta[row].filepath, NULL, &img, NULL));
    am_status s =
        am_thumbnail_make(img.data, (int)img.shape[0], (int)img.shape[1], (int)img.shape[2], size, NULL, out, NULL);
    am_tensor_free(&img);
    return s;
}

/* Decodes a PNG; returns RGB pixels (caller frees) and its size, or NULL. */
static uint8_t *read_png(const char *path, int *w, int *h)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path)) return NULL;
    im.format = PNG_FORMAT_RGB;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(im));
    if (!buf || !png_image_finish_read(&im, NULL, buf, 0, NULL)) {
        free(buf);
        png_image_free(&im);
        return NULL;
    }
    *w = (int)im.width;
    *h = (int)im.height;
    return buf;
}

/* Fraction of pixels darker than 40 (thumbnails' masked sky is black; placeholders are grey). */
static double dark_fraction(const uint8_t *p, int w, int h)
{
    int64_t dark = 0;
    for (int64_t i = 0; i < (int64_t)w * h; i++) dark += p[3 * i] < 40 && p[3 * i + 1] < 40 && p[3 * i + 2] < 40;
    return (double)dark / ((double)w * h);
}

static void check_png(const char *path, int min_w, int min_h, double min_dark)
{
    int w = 0, h = 0;
    uint8_t *p = read_png(path, &w, &h);
    CHECK(p != NULL, "%s: not a readable PNG", path);
    if (!p) return;
    CHECK(w >= min_w && h >= min_h, "%s: %dx%d, expected at least %dx%d", path, w, h, min_w, min_h);
    double d = dark_fraction(p, w, h);
    CHECK(d >= min_dark, "%s: %.3f of the pixels are dark, expected >= %.3f (thumbnails missing?)", path, d, min_dark);
    free(p);
}

int main(void)
{
    /* Sample images from the manifest. */
    FILE *mf = fopen(am_test_path("data/sample/manifest.csv"), "r");
    CHECK(mf != NULL, "no data/sample/manifest.csv");
    if (!mf) return am_test_finish();
    char line[1024], files[200][256];
    int nf = 0;
    if (!fgets(line, sizeof line, mf)) line[0] = 0; /* header */
    while (nf < 200 && fgets(line, sizeof line, mf)) {
        char *comma = strchr(line, ',');
        if (!comma) continue;
        *comma = 0;
        snprintf(files[nf++], sizeof files[0], "%s", line);
    }
    fclose(mf);
    am_embeddings e;
    const int side = 16;
    CHECK_OK(am_embeddings_alloc(&e, nf, side * side));
    int64_t n = 0;
    for (int i = 0; i < nf; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", am_test_path("data/sample"), files[i]);
        am_tensor img;
        am_meta m;
        if (am_fits_read(path, NULL, &img, &m) != AM_OK) continue;
        am_thumbnail t;
        if (am_thumbnail_make(img.data, (int)img.shape[0], (int)img.shape[1], (int)img.shape[2], side, NULL, &t,
                              NULL) == AM_OK) {
            for (int q = 0; q < side * side; q++) {
                const uint8_t *px = t.pixels + (size_t)q * t.channels;
                e.data[n * side * side + q] = (float)(px[0] + px[t.channels - 1]) / 510.0f;
            }
            am_meta_free(&e.meta[n]);
            e.meta[n] = m;
            n++;
            am_thumbnail_free(&t);
        } else {
            am_meta_free(&m);
        }
        am_tensor_free(&img);
    }
    CHECK(n >= 50, "only %lld sample images could be read", (long long)n);
    for (int64_t i = n; i < e.n; i++) am_meta_free(&e.meta[i]);
    e.n = n;
    const int64_t D = side * side;

    am_kmeans_options ko;
    am_kmeans_options_default(&ko);
    ko.k = 6;
    am_kmeans_result km;
    CHECK_OK(am_kmeans(e.data, n, D, &ko, &km));
    am_pca p;
    CHECK_OK(am_pca_fit(e.data, n, D, 3, &p));
    float *pcs = malloc((size_t)n * 3 * sizeof *pcs), *pc2 = malloc((size_t)n * 2 * sizeof *pc2);
    CHECK_OK(am_pca_transform(&p, e.data, n, pcs));
    for (int64_t i = 0; i < n; i++) {
        pc2[2 * i] = pcs[3 * i];
        pc2[2 * i + 1] = pcs[3 * i + 1];
    }
    am_figure_options fo = {.thumbs = fits_thumb, .user = &e};
    const char *dir = am_test_tmpdir();
    char path[1024];

    /* Similarity. */
    am_neighbor nb[6];
    int found;
    uint8_t *self = calloc((size_t)n, 1);
    self[0] = 1; /* the query itself */
    CHECK_OK(am_similar(e.data, n, D, NULL, e.data, AM_METRIC_COSINE, 6, self, nb, &found));
    free(self);
    CHECK(found == 6, "found %d neighbours", found);
    snprintf(path, sizeof path, "%s/similar.png", dir);
    CHECK_OK(am_figure_similar(path, &e, 0, nb, found, AM_METRIC_COSINE, pc2, p.variance_ratio, &fo));
    check_png(path, 1100, 900, 0.05);
    snprintf(path, sizeof path, "%s/similar.pdf", dir);
    CHECK_OK(am_figure_similar(path, &e, 0, nb, found, AM_METRIC_COSINE, pc2, p.variance_ratio, &fo));
    FILE *pf = fopen(path, "rb");
    char head[5] = {0};
    CHECK(pf && fread(head, 1, 4, pf) == 4 && memcmp(head, "%PDF", 4) == 0, "similar.pdf is not a PDF");
    if (pf) fclose(pf);

    /* t-SNE map with thumbnails. */
    am_tsne_options to;
    am_tsne_options_default(&to);
    float *y = malloc((size_t)n * 2 * sizeof *y);
    CHECK_OK(am_tsne(e.data, n, D, &to, y, NULL));
    am_fig_panel tp = {.coords = y,
                       .stride = 2,
                       .ax = 0,
                       .ay = 1,
                       .xlabel = "t-SNE 1",
                       .ylabel = "t-SNE 2",
                       .title = "t-SNE of the sample (perplexity 30)"};
    snprintf(path, sizeof path, "%s/tsne.png", dir);
    CHECK_OK(am_figure_map(path, &e, &tp, 1, km.labels, 40, &fo));
    check_png(path, 1200, 900, 0.03);

    /* PCA panels PC1–PC2 and PC2–PC3. */
    am_fig_panel pp[2] = {{pcs, 3, 0, 1, "PC1", "PC2", "PC1 - PC2"}, {pcs, 3, 1, 2, "PC2", "PC3", "PC2 - PC3"}};
    snprintf(path, sizeof path, "%s/pca.png", dir);
    CHECK_OK(am_figure_map(path, &e, pp, 2, km.labels, 30, &fo));
    check_png(path, 2000, 900, 0.03);

    /* An overall title is drawn (dark pixels in the band above the panels). */
    am_figure_options titled = fo;
    titled.title = "PCA of the sample";
    snprintf(path, sizeof path, "%s/pca_titled.png", dir);
    CHECK_OK(am_figure_map(path, &e, pp, 2, km.labels, 0, &titled));
    int tw = 0, thh = 0;
    uint8_t *tpx = read_png(path, &tw, &thh);
    CHECK(tpx && dark_fraction(tpx, tw, 50) > 0.002, "no title text in the top band of %s", path);
    free(tpx);

    /* Cluster examples: the members nearest each centre. */
    int per = 5;
    int64_t *ex = malloc((size_t)ko.k * per * sizeof *ex);
    for (int j = 0; j < ko.k; j++) {
        int got = 0;
        for (int64_t i = 0; i < n && got < per; i++)
            if (km.labels[i] == j) ex[j * per + got++] = i;
        while (got < per) ex[j * per + got++] = -1;
    }
    snprintf(path, sizeof path, "%s/clusters.png", dir);
    CHECK_OK(am_figure_clusters(path, &e, km.labels, ko.k, ex, per, &fo));
    check_png(path, 800, 800, 0.05);

    /* Top outliers; without a thumbnail source the same figure has grey boxes, no dark sky. */
    double *lof = malloc((size_t)n * sizeof *lof);
    int64_t *order = malloc((size_t)n * sizeof *order);
    CHECK_OK(am_outlier_scores(e.data, n, D, AM_METRIC_EUCLIDEAN, 10, NULL, lof));
    CHECK_OK(am_rank_desc(lof, n, order));
    snprintf(path, sizeof path, "%s/outliers.png", dir);
    CHECK_OK(am_figure_outliers(path, &e, order, lof, 12, "LOF", &fo));
    check_png(path, 700, 400, 0.10);
    am_figure_options none = {0};
    snprintf(path, sizeof path, "%s/outliers_nothumbs.png", dir);
    CHECK_OK(am_figure_outliers(path, &e, order, lof, 12, "LOF", &none));
    int w, h;
    uint8_t *px = read_png(path, &w, &h);
    CHECK(px && dark_fraction(px, w, h) < 0.02, "placeholder figure has dark pixels");
    free(px);

    /* Errors: unknown extension, unwritable folder. */
    CHECK_FAILS(am_figure_outliers("fig.svg", &e, order, lof, 12, "LOF", &none), AM_ERR_VALUE, ".png or .pdf");
    CHECK_FAILS(am_figure_outliers("/nonexistent/dir/fig.png", &e, order, lof, 12, "LOF", &none), AM_ERR_IO, NULL);
    char nm[64];
    am_embeddings_free(&e);
    CHECK_OK(am_embeddings_alloc(&e, 2, 1));
    e.meta[0].filepath = strdup("/data/cubes/ngc_253.fits[SCI]");
    CHECK(strcmp(am_fig_row_name(&e, 0, nm, sizeof nm), "ngc_253") == 0, "row name '%s'", nm);
    CHECK(strcmp(am_fig_row_name(&e, 1, nm, sizeof nm), "row 1") == 0, "row name '%s'", nm);

    free(order);
    free(lof);
    free(ex);
    free(y);
    free(pcs);
    free(pc2);
    am_pca_free(&p);
    am_kmeans_result_free(&km);
    am_embeddings_free(&e);
    return am_test_finish();
}
