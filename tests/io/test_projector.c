/* TensorBoard projector files: every file read back (tensors and metadata as text, the sprite
 * with libpng), tile placement, thumbnail resizing, the sprite size limit, atomic failure. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/projector.h"
#include "png_readback.h"
#include "test_util.h"

static char *slurp(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    b[fread(b, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return b;
}

/* Files in dir, and how many of them are temporaries. */
static int count_files(const char *dir, int *tmp)
{
    DIR *d = opendir(dir);
    int n = 0;
    *tmp = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        n++;
        *tmp += strstr(e->d_name, ".tmp") != NULL;
    }
    closedir(d);
    return n;
}

static am_thumbnail gray_tile(int size, uint8_t v)
{
    am_thumbnail t = {size, 1, malloc((size_t)size * size)};
    memset(t.pixels, v, (size_t)size * size);
    return t;
}

static void test_full(void)
{
    enum { N = 10, D = 3 };
    char dir[512];
    snprintf(dir, sizeof dir, "%s/runs/model_a", am_test_tmpdir());
    float emb[N * D];
    am_meta meta[N];
    am_thumbnail th[N];
    int clusters[N];
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) emb[i * D + j] = (float)((i + 1) * 0.1 + j * 1e-7 - (j == 2) * 1e5);
        am_meta_init(&meta[i]);
        snprintf(meta[i].object, sizeof meta[i].object, i == 3 ? "Orion\tKL" : "SRC%d", i);
        snprintf(meta[i].ra, sizeof meta[i].ra, "%d.5", 80 + i);
        meta[i].filepath = NULL;
        clusters[i] = i == 4 ? -1 : i % 3;
        th[i] = gray_tile(AM_PROJECTOR_THUMB, (uint8_t)(20 * (i + 1)));
    }
    /* One RGB thumbnail (pure red) and one of another size (resized to 144). */
    am_thumbnail_free(&th[2]);
    th[2] = (am_thumbnail){AM_PROJECTOR_THUMB, 3, calloc(AM_PROJECTOR_THUMB * AM_PROJECTOR_THUMB * 3, 1)};
    for (int i = 0; i < AM_PROJECTOR_THUMB * AM_PROJECTOR_THUMB; i++) th[2].pixels[3 * i] = 255;
    am_thumbnail_free(&th[7]);
    th[7] = gray_tile(50, 160);
    meta[1].filepath = strdup("data/a b.fits[1]");

    am_projector *p;
    CHECK_OK(am_projector_open(&p, dir, N, D, 1));
    CHECK(am_projector_thumb_size(p) == 144, "thumb size %d", am_projector_thumb_size(p));
    for (int i = 0; i < N; i++)
        CHECK_OK(am_projector_add(p, emb + i * D, clusters[i], i == 6 ? NULL : &meta[i], i == 5 ? NULL : &th[i]));
    CHECK_FAILS(am_projector_add(p, emb, 0, NULL, NULL), AM_ERR_VALUE, "more than");
    CHECK_OK(am_projector_commit(p));

    int tmp = 0;
    CHECK(count_files(dir, &tmp) == 4 && tmp == 0, "%d files, %d temporaries", count_files(dir, &tmp), tmp);

    char *t = slurp(dir, "tensors.tsv");
    CHECK(t != NULL, "no tensors.tsv");
    if (t) {
        char *s = t;
        int rows = 0, exact = 1;
        for (int i = 0; i < N && *s; i++, rows++) {
            for (int j = 0; j < D; j++) {
                char *end;
                float v = strtof(s, &end);
                exact &= v == emb[i * D + j] && end != s && *end == (j + 1 < D ? '\t' : '\n');
                s = end + 1;
            }
        }
        CHECK(rows == N && *s == '\0' && exact, "tensors.tsv: %d rows, exact %d", rows, exact);
        free(t);
    }

    char *m = slurp(dir, "metadata.tsv");
    CHECK(m != NULL, "no metadata.tsv");
    if (m) {
        const char *want_head = "cluster\tobject\tright ascension\tdeclination\trest freq\tfilepath\n";
        CHECK(strncmp(m, want_head, strlen(want_head)) == 0, "header: %.80s", m);
        int lines = 0, bad_cols = 0;
        char *save = NULL;
        char *rowv[N + 1] = {0};
        for (char *line = strtok_r(m, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            int tabs = 0;
            for (char *c = line; *c; c++) tabs += *c == '\t';
            bad_cols += tabs != 5;
            if (lines <= N) rowv[lines] = line;
            lines++;
        }
        CHECK(lines == N + 1 && bad_cols == 0, "metadata: %d lines, %d with a wrong column count", lines, bad_cols);
        if (lines == N + 1) {
            CHECK(strcmp(rowv[1], "0\tSRC0\t80.5\tN/A\tN/A\tN/A") == 0, "row 0: %s", rowv[1]);
            CHECK(strcmp(rowv[2], "1\tSRC1\t81.5\tN/A\tN/A\tdata/a b.fits[1]") == 0, "row 1: %s", rowv[2]);
            CHECK(strcmp(rowv[4], "0\tOrion KL\t83.5\tN/A\tN/A\tN/A") == 0, "row 3 (tab in OBJECT): %s", rowv[4]);
            CHECK(strncmp(rowv[5], "N/A\tSRC4", 8) == 0, "row 4 (no cluster): %s", rowv[5]);
            CHECK(strcmp(rowv[7], "0\tN/A\tN/A\tN/A\tN/A\tN/A") == 0, "row 6 (no metadata): %s", rowv[7]);
        }
        free(m);
    }

    char *c = slurp(dir, "projector_config.pbtxt");
    CHECK(c != NULL, "no projector_config.pbtxt");
    if (c) {
        CHECK(strstr(c, "tensor_path: \"tensors.tsv\"") && strstr(c, "metadata_path: \"metadata.tsv\"") &&
                  strstr(c, "image_path: \"sprite.png\"") &&
                  strstr(c, "single_image_dim: 144\n    single_image_dim: 144"),
              "config:\n%s", c);
        free(c);
    }

    char path[1024];
    snprintf(path, sizeof path, "%s/sprite.png", dir);
    png_readback img;
    CHECK(png_read_back(path, &img), "cannot read %s", path);
    if (img.pixels) {
        /* 10 tiles on a 4×4 grid of 144 px, RGB because of tile 2. */
        CHECK(img.width == 576 && img.height == 576 && img.channels == 3, "sprite %dx%d, %d channels", img.width,
              img.height, img.channels);
        if (img.width == 576 && img.channels == 3) {
            int wrong = 0;
            for (int k = 0; k < 16; k++) {
                int r = 0, g = 0, b = 0;
                if (k < N && k != 5) r = g = b = 20 * (k + 1);
                if (k == 2) r = 255, g = b = 0;
                if (k == 7) r = g = b = 160;
                /* Sample the tile's centre and a corner pixel. */
                for (int q = 0; q < 2; q++) {
                    int x = (k % 4) * 144 + (q ? 72 : 0), y = (k / 4) * 144 + (q ? 72 : 143);
                    const uint8_t *px = img.pixels + ((size_t)y * 576 + (size_t)x) * 3;
                    if (px[0] != r || px[1] != g || px[2] != b) {
                        wrong++;
                        fprintf(stderr, "tile %d (%d,%d): %d %d %d, want %d %d %d\n", k, x, y, px[0], px[1], px[2], r,
                                g, b);
                    }
                }
            }
            CHECK(wrong == 0, "%d sprite samples wrong", wrong);
        }
        free(img.pixels);
    }
    for (int i = 0; i < N; i++) {
        am_meta_free(&meta[i]);
        am_thumbnail_free(&th[i]);
    }
}

static void test_gray_and_limits(void)
{
    /* All-gray thumbnails: a gray sprite. 5 items: a 3×3 grid. */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/runs/gray", am_test_tmpdir());
    float emb[5 * 2] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    am_thumbnail th[5];
    for (int i = 0; i < 5; i++) th[i] = gray_tile(144, (uint8_t)(40 * (i + 1)));
    CHECK_OK(am_projector_write(dir, 5, 2, emb, NULL, NULL, th));
    char path[1024];
    snprintf(path, sizeof path, "%s/sprite.png", dir);
    png_readback img;
    CHECK(png_read_back(path, &img), "cannot read %s", path);
    if (img.pixels) {
        CHECK(img.width == 432 && img.channels == 1, "gray sprite %dx%d, %d channels", img.width, img.height,
              img.channels);
        if (img.width == 432 && img.channels == 1)
            CHECK(img.pixels[(size_t)200 * 432 + 200] == 200 && img.pixels[(size_t)300 * 432 + 300] == 0,
                  "tile 4 = %d, tile 8 = %d", img.pixels[(size_t)200 * 432 + 200], img.pixels[(size_t)300 * 432 + 300]);
        free(img.pixels);
    }
    for (int i = 0; i < 5; i++) am_thumbnail_free(&th[i]);

    /* Without thumbnails: no sprite and no sprite block in the config. */
    snprintf(dir, sizeof dir, "%s/runs/nosprite", am_test_tmpdir());
    CHECK_OK(am_projector_write(dir, 5, 2, emb, NULL, NULL, NULL));
    int tmp;
    CHECK(count_files(dir, &tmp) == 3, "%d files without a sprite", count_files(dir, &tmp));
    char *c = slurp(dir, "projector_config.pbtxt");
    CHECK(c && !strstr(c, "sprite"), "config mentions a sprite: %s", c ? c : "(none)");
    free(c);

    /* 10 000 images: a 100×100 grid of 81-px tiles stays within TensorBoard's 8192 px. */
    am_projector *p;
    snprintf(dir, sizeof dir, "%s/runs/big", am_test_tmpdir());
    CHECK_OK(am_projector_open(&p, dir, 10000, 4, 1));
    CHECK(am_projector_thumb_size(p) == 81, "thumb size %d for 10000 images", am_projector_thumb_size(p));
    am_projector_abort(p);
    CHECK(count_files(dir, &tmp) == 0, "abort left %d files", count_files(dir, &tmp));
}

static void test_failures(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/runs/fail", am_test_tmpdir());
    float e[2] = {1, NAN};
    am_projector *p;
    CHECK_FAILS(am_projector_open(&p, dir, 0, 2, 0), AM_ERR_VALUE, "n=0");
    CHECK_OK(am_projector_open(&p, dir, 3, 2, 0));
    CHECK_FAILS(am_projector_add(p, e, 0, NULL, NULL), AM_ERR_NUMERIC, "embedding 0");
    e[1] = 2;
    CHECK_OK(am_projector_add(p, e, 0, NULL, NULL));
    am_thumbnail bad = {144, 2, (uint8_t *)e}; /* 2 channels: neither gray nor RGB */
    CHECK_FAILS(am_projector_add(p, e, 0, NULL, &bad), AM_ERR_VALUE, "thumbnail");
    /* Committing too few items fails and leaves nothing behind. */
    CHECK_FAILS(am_projector_commit(p), AM_ERR_VALUE, "1 of 3");
    int tmp;
    CHECK(count_files(dir, &tmp) == 0, "a failed commit left %d files", count_files(dir, &tmp));
}

int main(void)
{
    test_full();
    test_gray_and_limits();
    test_failures();
    return am_test_finish();
}
