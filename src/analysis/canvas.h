/* Drawing helpers over cairo for the figures (internal to src/analysis): a canvas that writes
 * PNG or PDF atomically, text, axes with round-number ticks, thumbnails, a palette. */
#ifndef AM_ANALYSIS_CANVAS_H
#define AM_ANALYSIS_CANVAS_H

#include <cairo.h>

#include "astromorph/figure.h"
#include "astromorph/status.h"

typedef struct am_canvas {
    cairo_surface_t *surface;
    cairo_t *cr;
    int pdf;
    double w, h;
    const char *path;
    void *sink; /* the PDF's atomic file */
} am_canvas;

/* A white w × h canvas (pixels for PNG, points for PDF); the format follows path's extension. */
am_status am_canvas_open(am_canvas *c, const char *path, double w, double h);
/* Writes the file and frees the canvas. */
am_status am_canvas_close(am_canvas *c);
/* Frees the canvas without writing anything. */
void am_canvas_abort(am_canvas *c);

void am_canvas_rgb(am_canvas *c, const double *rgb);
/* Text with its anchor at (x, y): ax, ay in [0, 1] pick left/centre/right and top/middle/
 * bottom. Text wider than max_w (> 0) is cut with an ellipsis. Returns the drawn width. */
double am_canvas_text(am_canvas *c, double x, double y, double size, int bold, double ax, double ay, double max_w,
                      const char *s);
/* A thumbnail scaled into the size × size square at (x, y) with a 1.5-px frame in `frame`
 * (NULL: grey). t NULL draws a grey placeholder. */
void am_canvas_thumb(am_canvas *c, const am_thumbnail *t, double x, double y, double size, const double *frame);

/* Colour i of a 10-colour qualitative palette (cycled). */
void am_palette(int i, double rgb[3]);

typedef struct am_axes {
    double x0, y0, w, h; /* plot area on the canvas */
    double xmin, xmax, ymin, ymax;
} am_axes;

/* Data ranges of the panel's points, padded by 5 %. */
void am_axes_fit(am_axes *a, const am_fig_panel *p, int64_t n);
double am_axes_x(const am_axes *a, double v);
double am_axes_y(const am_axes *a, double v);
/* Frame, ticks with labels, axis labels and a title. */
void am_axes_draw(am_canvas *c, const am_axes *a, const char *xlabel, const char *ylabel, const char *title);

/* Row's thumbnail (fetched at src_px) in a size-pixel square with its frame, and one or two
 * caption lines (l2 may be NULL) centred below it, cut to max_w. */
void am_canvas_captioned(am_canvas *c, const am_figure_options *o, int64_t row, double x, double y, double size,
                         int src_px, const double *frame, double max_w, double font, const char *l1, const char *l2);

/* Rows per label (labels in [0, k)): a calloc'd array of k counts, or NULL when out of memory. */
int64_t *am_fig_label_counts(const int32_t *labels, int64_t n, int k);

/* Fetches row's thumbnail from the options' source (NULL on failure or when there is none). */
am_thumbnail *am_fig_fetch(const am_figure_options *o, int64_t row, int size, am_thumbnail *buf);

#endif
