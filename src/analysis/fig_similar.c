/* The similarity figure: the query and its neighbours as thumbnails, above a PCA map where the
 * query and its neighbours stand out (the paper's Fig. 3). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "astromorph/figure.h"
#include "canvas.h"

enum { TILE = 170, GAP = 22, CAPTION = 52, PER_ROW = 7, MAP_H = 760, THUMB_SRC = 160 };

static const double QUERY_RGB[3] = {0.84, 0.15, 0.16}, NB_RGB[3] = {0.95, 0.55, 0.0}, OTHER_RGB[3] = {0.7, 0.7, 0.7},
                    BLACK[3] = {0, 0, 0};

static void tile(am_canvas *c, int64_t row, double x, double y, const char *l1, const char *l2, const double *frame,
                 const am_figure_options *o)
{
    am_canvas_captioned(c, o, row, x, y, TILE, THUMB_SRC, frame, TILE + GAP - 4, 16, l1, l2);
}

static void marker(cairo_t *cr, double x, double y, double r, const double *rgb)
{
    cairo_new_path(cr); /* no line from the last text's current point */
    cairo_arc(cr, x, y, r, 0, 2 * M_PI);
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1.2);
    cairo_stroke(cr);
}

am_status am_figure_similar(const char *path, const am_embeddings *e, int64_t query, const am_neighbor *nb, int k,
                            am_metric metric, const float *pca, const double *pca_ratio, const am_figure_options *o)
{
    if (query < 0 || query >= e->n)
        return am_error(AM_ERR_VALUE, "%s: query row %lld out of range", path, (long long)query);
    int tiles = k + 1, cols = tiles < PER_ROW ? tiles : PER_ROW, rows = (tiles + PER_ROW - 1) / PER_ROW;
    double w = fmax(1100, 60 + cols * (TILE + GAP)), top = 80, tiles_h = rows * (TILE + CAPTION + GAP);
    double h = top + tiles_h + (pca ? MAP_H : 0) + 20;
    am_canvas c;
    AM_TRY(am_canvas_open(&c, path, w, h));
    char name[128], title[256], l1[160], l2[64];
    am_fig_row_name(e, query, name, sizeof name);
    if (o && o->title) snprintf(title, sizeof title, "%s", o->title);
    else snprintf(title, sizeof title, "Images most similar to %s (%s)", name, am_metric_name(metric));
    am_canvas_rgb(&c, BLACK);
    am_canvas_text(&c, w / 2, 22, 26, 1, 0.5, 0, w - 40, title);
    double x0 = (w - cols * (TILE + GAP) + GAP) / 2;
    /* Enough decimals that neighbours with close scores still read differently. */
    double lo = INFINITY, hi = -INFINITY;
    for (int j = 0; j < k; j++) {
        lo = fmin(lo, nb[j].score);
        hi = fmax(hi, nb[j].score);
    }
    int dec = hi > lo ? (int)ceil(-log10(hi - lo)) + 1 : 3;
    dec = dec < 3 ? 3 : dec > 7 ? 7 : dec;
    for (int t = 0; t < tiles; t++) {
        double x = x0 + (t % PER_ROW) * (TILE + GAP), y = top + (t / PER_ROW) * (TILE + CAPTION + GAP);
        if (t == 0) {
            snprintf(l1, sizeof l1, "query: %s", name);
            snprintf(l2, sizeof l2, "row %lld", (long long)query);
            tile(&c, query, x, y, l1, l2, QUERY_RGB, o);
        } else {
            const am_neighbor *n = &nb[t - 1];
            char nm[128];
            snprintf(l1, sizeof l1, "#%d %s", t, am_fig_row_name(e, n->index, nm, sizeof nm));
            if (metric == AM_METRIC_COSINE) snprintf(l2, sizeof l2, "cos = %.*f", dec, n->score);
            else snprintf(l2, sizeof l2, "d = %.*g", dec + 1, n->score);
            tile(&c, n->index, x, y, l1, l2, NB_RGB, o);
        }
    }
    if (pca) {
        char xl[64] = "PC1", yl[64] = "PC2";
        if (pca_ratio) {
            snprintf(xl, sizeof xl, "PC1 (%.1f %% of variance)", 100 * pca_ratio[0]);
            snprintf(yl, sizeof yl, "PC2 (%.1f %%)", 100 * pca_ratio[1]);
        }
        am_fig_panel p = {.coords = pca, .stride = 2, .ax = 0, .ay = 1};
        double mw = fmin(w - 160, 1000);
        am_axes a = {.x0 = (w - mw) / 2 + 40, .y0 = top + tiles_h + 60, .w = mw - 40, .h = MAP_H - 150};
        am_axes_fit(&a, &p, e->n);
        am_axes_draw(&c, &a, xl, yl, "Principal components of all embeddings");
        cairo_t *cr = c.cr;
        double r = e->n > 20000 ? 1.2 : e->n > 2000 ? 2.0 : 3.0;
        for (int64_t i = 0; i < e->n; i++) {
            cairo_set_source_rgba(cr, OTHER_RGB[0], OTHER_RGB[1], OTHER_RGB[2], 0.8);
            cairo_new_path(cr);
            cairo_arc(cr, am_axes_x(&a, pca[2 * i]), am_axes_y(&a, pca[2 * i + 1]), r, 0, 2 * M_PI);
            cairo_fill(cr);
        }
        for (int j = k - 1; j >= 0; j--) {
            int64_t i = nb[j].index;
            double px = am_axes_x(&a, pca[2 * i]), py = am_axes_y(&a, pca[2 * i + 1]);
            marker(cr, px, py, 7, NB_RGB);
            char num[16];
            snprintf(num, sizeof num, "%d", j + 1);
            am_canvas_rgb(&c, BLACK);
            am_canvas_text(&c, px + 9, py - 9, 14, 1, 0, 0.5, 0, num);
        }
        marker(cr, am_axes_x(&a, pca[2 * query]), am_axes_y(&a, pca[2 * query + 1]), 10, QUERY_RGB);
        /* Legend in the top-right corner of the plot. */
        double lx = a.x0 + a.w - 190, ly = a.y0 + 14;
        cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
        cairo_rectangle(cr, lx - 10, ly - 8, 190, 92);
        cairo_fill(cr);
        const double *cols3[3] = {QUERY_RGB, NB_RGB, OTHER_RGB};
        const char *names[3] = {"query", "neighbours", "other images"};
        for (int q = 0; q < 3; q++) {
            marker(cr, lx + 8, ly + 12 + q * 27, q == 0 ? 9 : q == 1 ? 7 : 4, cols3[q]);
            am_canvas_rgb(&c, BLACK);
            am_canvas_text(&c, lx + 26, ly + 12 + q * 27, 16, 0, 0, 0.5, 150, names[q]);
        }
    }
    return am_canvas_close(&c);
}
