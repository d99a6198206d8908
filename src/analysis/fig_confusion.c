/* Tables drawn as heat maps: a generic one (each cell shaded by a value in [-1, 1], a text in
 * it), and on it the confusion table of a classification and the correlations of principal
 * components with the morphology statistics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "astromorph/evaluate.h"
#include "canvas.h"

enum { LABEL_W = 170, TOP = 90, MARGIN = 30, TEXT_LEN = 16 };

static const double BLACK[3] = {0, 0, 0}, WHITE[3] = {1, 1, 1};

/* Positive values shade towards a deep blue, negative towards red; `diagonal` cells (the right
 * answers of a confusion table) towards green, so they read at a glance. */
static void shade_rgb(double v, int diagonal, double rgb[3])
{
    double f = fabs(v) > 1 ? 1 : fabs(v);
    if (diagonal) rgb[0] = 1 - 0.85 * f, rgb[1] = 1 - 0.35 * f, rgb[2] = 1 - 0.85 * f;
    else if (v >= 0) rgb[0] = 1 - 0.85 * f, rgb[1] = 1 - 0.75 * f, rgb[2] = 1 - 0.25 * f;
    else rgb[0] = 1 - 0.2 * f, rgb[1] = 1 - 0.8 * f, rgb[2] = 1 - 0.8 * f;
}

am_status am_figure_heatmap(const char *path, const double *shade, const char *const *text, int rows, int cols,
                            const char *const *row_names, const char *const *col_names, const char *row_title,
                            const char *col_title, const char *title, int green_diagonal)
{
    if (rows < 1 || cols < 1) return am_error(AM_ERR_VALUE, "%s: nothing to draw", path);
    double cell = rows > 12 || cols > 12 ? 46 : 64;
    double w = LABEL_W + cols * cell + MARGIN, h = TOP + LABEL_W * 0.6 + rows * cell + MARGIN;
    if (w < 640) w = 640; /* room for the title */
    am_canvas c;
    AM_TRY(am_canvas_open(&c, path, w, h));
    am_canvas_rgb(&c, BLACK);
    am_canvas_text(&c, w / 2, 14, 20, 1, 0.5, 0, w - 20, title);
    am_canvas_text(&c, LABEL_W + cols * cell / 2, TOP - 30, 14, 0, 0.5, 0.5, 0, col_title);
    double y0 = TOP + LABEL_W * 0.6;
    for (int j = 0; j < cols; j++) { /* column names, turned to read upwards */
        cairo_save(c.cr);
        cairo_translate(c.cr, LABEL_W + (j + 0.5) * cell, y0 - 6);
        cairo_rotate(c.cr, -M_PI / 2);
        am_canvas_text(&c, 0, 0, 13, 0, 0, 0.5, LABEL_W * 0.6 - 10, col_names[j]);
        cairo_restore(c.cr);
    }
    for (int i = 0; i < rows; i++) {
        double y = y0 + i * cell;
        am_canvas_rgb(&c, BLACK);
        am_canvas_text(&c, LABEL_W - 8, y + cell / 2, 13, 0, 1, 0.5, LABEL_W - 16, row_names[i]);
        for (int j = 0; j < cols; j++) {
            double v = shade[(int64_t)i * cols + j], x = LABEL_W + j * cell, rgb[3];
            shade_rgb(isfinite(v) ? v : 0, green_diagonal && i == j, rgb);
            am_canvas_rgb(&c, rgb);
            cairo_rectangle(c.cr, x, y, cell, cell);
            cairo_fill(c.cr);
            am_canvas_rgb(&c, fabs(v) > 0.55 ? WHITE : BLACK);
            if (text)
                am_canvas_text(&c, x + cell / 2, y + cell / 2, cell > 50 ? 15 : 12, green_diagonal && i == j, 0.5, 0.5,
                               cell - 4, text[(int64_t)i * cols + j]);
        }
    }
    am_canvas_rgb(&c, BLACK);
    cairo_set_line_width(c.cr, 1);
    cairo_rectangle(c.cr, LABEL_W, y0, cols * cell, rows * cell);
    cairo_stroke(c.cr);
    cairo_save(c.cr);
    cairo_translate(c.cr, 12, y0 + rows * cell / 2);
    cairo_rotate(c.cr, -M_PI / 2);
    am_canvas_text(&c, 0, 0, 14, 0, 0.5, 0.5, 0, row_title);
    cairo_restore(c.cr);
    return am_canvas_close(&c);
}

am_status am_figure_confusion(const char *path, const int64_t *confusion, int nclass, const char *const *names,
                              const char *title)
{
    if (nclass < 1) return am_error(AM_ERR_VALUE, "%s: no classes to draw", path);
    size_t cells = (size_t)nclass * (size_t)nclass;
    double *shade = malloc(cells * sizeof *shade);
    char *buf = malloc(cells * TEXT_LEN);
    const char **text = malloc(cells * sizeof *text);
    if (!shade || !buf || !text) {
        free(shade), free(buf), free(text);
        return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    }
    int64_t total = 0, right = 0;
    for (int i = 0; i < nclass; i++) {
        int64_t in = 0;
        for (int j = 0; j < nclass; j++) in += confusion[i * nclass + j];
        for (int j = 0; j < nclass; j++) { /* shaded by the fraction of the true class (row) */
            int64_t v = confusion[i * nclass + j], k = (int64_t)i * nclass + j;
            shade[k] = in ? (double)v / (double)in : 0;
            snprintf(buf + k * TEXT_LEN, TEXT_LEN, "%lld", (long long)v);
            text[k] = buf + k * TEXT_LEN;
            total += v, right += i == j ? v : 0;
        }
    }
    char head[256];
    if (title) snprintf(head, sizeof head, "%s", title);
    else
        snprintf(head, sizeof head, "accuracy %.3f (%lld of %lld)", total ? (double)right / (double)total : 0.0,
                 (long long)right, (long long)total);
    am_status s =
        am_figure_heatmap(path, shade, text, nclass, nclass, names, names, "true class", "predicted class", head, 1);
    free(shade), free(buf), free(text);
    return s;
}
