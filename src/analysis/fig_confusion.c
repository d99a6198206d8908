/* The confusion table of a classification as a heat map: each cell shaded by the fraction of its
 * true class (row) predicted as that column, with the count written in it. */
#include <stdio.h>

#include "astromorph/evaluate.h"
#include "canvas.h"

enum { CELL_MIN = 46, LABEL_W = 170, TOP = 90, MARGIN = 30 };

static const double BLACK[3] = {0, 0, 0}, WHITE[3] = {1, 1, 1};

am_status am_figure_confusion(const char *path, const int64_t *confusion, int nclass, const char *const *names,
                              const char *title)
{
    if (nclass < 1) return am_error(AM_ERR_VALUE, "%s: no classes to draw", path);
    double cell = nclass > 12 ? CELL_MIN : 64;
    double w = LABEL_W + nclass * cell + MARGIN, h = TOP + LABEL_W * 0.6 + nclass * cell + MARGIN;
    am_canvas c;
    AM_TRY(am_canvas_open(&c, path, w, h));
    int64_t total = 0, right = 0;
    for (int i = 0; i < nclass; i++)
        for (int j = 0; j < nclass; j++) total += confusion[i * nclass + j], right += i == j ? confusion[i * nclass + j] : 0;
    char buf[256];
    if (title) snprintf(buf, sizeof buf, "%s", title);
    else snprintf(buf, sizeof buf, "accuracy %.3f (%lld of %lld)", total ? (double)right / (double)total : 0.0,
                  (long long)right, (long long)total);
    am_canvas_rgb(&c, BLACK);
    am_canvas_text(&c, w / 2, 14, 20, 1, 0.5, 0, w - 20, buf);
    am_canvas_text(&c, LABEL_W + nclass * cell / 2, TOP - 30, 14, 0, 0.5, 0.5, 0, "predicted class");
    double y0 = TOP + LABEL_W * 0.6;
    for (int j = 0; j < nclass; j++) { /* column names, turned to read upwards */
        cairo_save(c.cr);
        cairo_translate(c.cr, LABEL_W + (j + 0.5) * cell, y0 - 6);
        cairo_rotate(c.cr, -1.5707963267948966);
        am_canvas_text(&c, 0, 0, 13, 0, 0, 0.5, LABEL_W * 0.6 - 10, names[j]);
        cairo_restore(c.cr);
    }
    for (int i = 0; i < nclass; i++) {
        int64_t in = 0;
        for (int j = 0; j < nclass; j++) in += confusion[i * nclass + j];
        double y = y0 + i * cell;
        am_canvas_rgb(&c, BLACK);
        am_canvas_text(&c, LABEL_W - 8, y + cell / 2, 13, 0, 1, 0.5, LABEL_W - 16, names[i]);
        for (int j = 0; j < nclass; j++) {
            int64_t v = confusion[i * nclass + j];
            double f = in ? (double)v / (double)in : 0, x = LABEL_W + j * cell;
            /* white to a deep blue; the diagonal in green so correct answers read at a glance */
            double rgb[3] = {1 - 0.85 * f, 1 - (i == j ? 0.35 : 0.75) * f, 1 - (i == j ? 0.85 : 0.25) * f};
            am_canvas_rgb(&c, rgb);
            cairo_rectangle(c.cr, x, y, cell, cell);
            cairo_fill(c.cr);
            am_canvas_rgb(&c, f > 0.55 ? WHITE : BLACK);
            snprintf(buf, sizeof buf, "%lld", (long long)v);
            am_canvas_text(&c, x + cell / 2, y + cell / 2, cell > 50 ? 15 : 12, i == j, 0.5, 0.5, cell - 4, buf);
        }
    }
    am_canvas_rgb(&c, BLACK);
    cairo_set_line_width(c.cr, 1);
    cairo_rectangle(c.cr, LABEL_W, y0, nclass * cell, nclass * cell);
    cairo_stroke(c.cr);
    cairo_save(c.cr);
    cairo_translate(c.cr, 12, y0 + nclass * cell / 2);
    cairo_rotate(c.cr, -1.5707963267948966);
    am_canvas_text(&c, 0, 0, 14, 0, 0.5, 0.5, 0, "true class");
    cairo_restore(c.cr);
    return am_canvas_close(&c);
}
