/* Thumbnail grids: example images per cluster, and the top outliers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/figure.h"
#include "canvas.h"

enum { CELL = 140, GAP = 18, CAPTION = 48, LABEL_W = 190, THUMB_SRC = 140 };

static const double BLACK[3] = {0, 0, 0};

static void cell(am_canvas *c, int64_t row, double x, double y, const char *l1, const char *l2, const double *frame,
                 const am_figure_options *o)
{
    am_canvas_captioned(c, o, row, x, y, CELL, THUMB_SRC, frame, CELL + GAP - 4, 14, l1, l2);
}

am_status am_figure_clusters(const char *path, const am_embeddings *e, const int32_t *labels, int k,
                             const int64_t *examples, int per, const am_figure_options *o)
{
    if (k < 1 || per < 1) return am_error(AM_ERR_VALUE, "%s: nothing to draw (k = %d, %d examples)", path, k, per);
    double w = LABEL_W + per * (CELL + GAP) + 30, top = 80, rowh = CELL + CAPTION + GAP;
    double h = top + k * rowh + 10;
    int64_t *sizes = am_fig_label_counts(labels, e->n, k);
    if (!sizes) return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    am_canvas c;
    am_status s = am_canvas_open(&c, path, w, h);
    if (s != AM_OK) {
        free(sizes);
        return s;
    }
    char title[256], l1[160], buf[64];
    if (o && o->title) snprintf(title, sizeof title, "%s", o->title);
    else snprintf(title, sizeof title, "k-means clusters (k = %d): images nearest each centre", k);
    am_canvas_rgb(&c, BLACK);
    am_canvas_text(&c, w / 2, 22, 26, 1, 0.5, 0, w - 40, title);
    for (int j = 0; j < k; j++) {
        double y = top + j * rowh, rgb[3];
        int64_t cnt = sizes[j];
        am_palette(j, rgb);
        am_canvas_rgb(&c, rgb);
        cairo_rectangle(c.cr, 20, y + 10, 22, 22);
        cairo_fill(c.cr);
        am_canvas_rgb(&c, BLACK);
        snprintf(buf, sizeof buf, "Cluster %d", j);
        am_canvas_text(&c, 52, y + 21, 20, 1, 0, 0.5, LABEL_W - 56, buf);
        snprintf(buf, sizeof buf, "%lld image%s", (long long)cnt, cnt == 1 ? "" : "s");
        am_canvas_text(&c, 52, y + 48, 16, 0, 0, 0.5, LABEL_W - 56, buf);
        for (int t = 0; t < per; t++) {
            int64_t row = examples[(int64_t)j * per + t];
            if (row < 0) continue;
            am_fig_row_name(e, row, l1, sizeof l1);
            cell(&c, row, LABEL_W + t * (CELL + GAP), y, l1, NULL, rgb, o);
        }
    }
    free(sizes);
    return am_canvas_close(&c);
}

am_status am_figure_outliers(const char *path, const am_embeddings *e, const int64_t *order, const double *score,
                             int top, const char *score_name, const am_figure_options *o)
{
    if (top > e->n) top = (int)e->n;
    if (top < 1) return am_error(AM_ERR_VALUE, "%s: no outliers to draw", path);
    int cols = top < 6 ? top : 6, rows = (top + cols - 1) / cols;
    double w = fmax(700, 40 + cols * (CELL + GAP)), head = 80, rowh = CELL + CAPTION + GAP;
    am_canvas c;
    AM_TRY(am_canvas_open(&c, path, w, head + rows * rowh + 10));
    char title[256], l1[160], l2[96], nm[128];
    if (o && o->title) snprintf(title, sizeof title, "%s", o->title);
    else snprintf(title, sizeof title, "Top %d outliers by %s", top, score_name);
    am_canvas_rgb(&c, BLACK);
    am_canvas_text(&c, w / 2, 22, 26, 1, 0.5, 0, w - 40, title);
    double x0 = (w - cols * (CELL + GAP) + GAP) / 2;
    static const double red[3] = {0.84, 0.15, 0.16};
    for (int t = 0; t < top; t++) {
        int64_t row = order[t];
        snprintf(l1, sizeof l1, "#%d %s", t + 1, am_fig_row_name(e, row, nm, sizeof nm));
        snprintf(l2, sizeof l2, "score %.3g", score[row]); /* the title names the score; a cell is narrow */
        cell(&c, row, x0 + (t % cols) * (CELL + GAP), head + (t / cols) * rowh, l1, l2, red, o);
    }
    return am_canvas_close(&c);
}
