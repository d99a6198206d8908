/* Scatter maps (t-SNE, PCA) with thumbnails at their points, coloured by cluster; above a few
 * thousand points a density image with thumbnails for a spatially spread sample instead. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/figure.h"
#include "astromorph/rng.h"
#include "canvas.h"

enum {
    PANEL_W = 1000,
    PANEL_H = 940,
    MARGIN_L = 100,
    MARGIN_R = 40,
    MARGIN_T = 90,
    MARGIN_B = 80,
    LEGEND_W = 230,
    THUMB_SRC = 128,
    DENSE_FROM = 5000 /* points from which a panel draws density rather than markers */
};

typedef struct {
    double x, y, s;
} box;

static int overlaps(const box *b, int n, double x, double y, double s)
{
    for (int i = 0; i < n; i++)
        if (fabs(b[i].x - x) < (b[i].s + s) / 2 + 2 && fabs(b[i].y - y) < (b[i].s + s) / 2 + 2) return 1;
    return 0;
}

/* A label's colour: the qualitative palette, or for ordered bins a ramp from dark blue through
 * teal to yellow (viridis-like), grey for undefined. */
static void label_rgb(const am_figure_options *o, int label, double rgb[3])
{
    if (!o || o->ordered <= 0) {
        am_palette(label, rgb);
        return;
    }
    if (label >= o->ordered || label < 0) {
        rgb[0] = rgb[1] = rgb[2] = 0.75;
        return;
    }
    static const double ramp[5][3] = {
        {0.27, 0.00, 0.33}, {0.23, 0.32, 0.55}, {0.13, 0.57, 0.55}, {0.37, 0.79, 0.38}, {0.99, 0.91, 0.14}};
    double t = o->ordered > 1 ? 4.0 * label / (o->ordered - 1) : 0;
    int k = t >= 4 ? 3 : (int)t;
    double f = t - k;
    for (int c = 0; c < 3; c++) rgb[c] = ramp[k][c] + f * (ramp[k + 1][c] - ramp[k][c]);
}

/* The points as an image on the plot area's pixel grid: each pixel the mean colour of the
 * points in it (their clusters' colours blended), over white with an opacity rising with the log
 * of its count, from 0.3 for one point to 1 for the fullest pixel. One pass over the points. */
static am_status draw_density(am_canvas *c, const am_axes *a, const am_fig_panel *p, int64_t n, const int32_t *labels,
                              const am_figure_options *o)
{
    const int W = (int)ceil(a->w), H = (int)ceil(a->h);
    uint32_t *cnt = calloc((size_t)W * H, sizeof *cnt);
    float *sum = calloc((size_t)W * H * 3, sizeof *sum);
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, W, H);
    if (!cnt || !sum || cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        free(cnt), free(sum);
        cairo_surface_destroy(img);
        return am_error(AM_ERR_NOMEM, "%s: out of memory for a %d x %d density image", c->path, W, H);
    }
    double rgb[3];
    int last = -1;
    label_rgb(o, 0, rgb);
    uint32_t top = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = am_axes_x(a, p->coords[i * p->stride + p->ax]) - a->x0;
        double y = am_axes_y(a, p->coords[i * p->stride + p->ay]) - a->y0;
        if (!(x >= 0 && x < W && y >= 0 && y < H)) continue;
        size_t q = (size_t)(int)y * W + (size_t)(int)x;
        if (labels && labels[i] != last) label_rgb(o, last = labels[i], rgb);
        for (int k = 0; k < 3; k++) sum[3 * q + k] += (float)rgb[k];
        if (++cnt[q] > top) top = cnt[q];
    }
    cairo_surface_flush(img);
    unsigned char *px = cairo_image_surface_get_data(img);
    const int stride = cairo_image_surface_get_stride(img);
    const double lt = log1p((double)top);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t q = (size_t)y * W + x;
            uint32_t *out = (uint32_t *)(void *)(px + (size_t)y * stride) + x;
            if (!cnt[q]) {
                *out = 0;
                continue;
            }
            double alpha = 0.3 + 0.7 * (lt > log1p(1) ? (log1p(cnt[q]) - log1p(1)) / (lt - log1p(1)) : 1);
            uint32_t v = (uint32_t)lrint(alpha * 255) << 24; /* premultiplied ARGB */
            for (int k = 0; k < 3; k++) v |= (uint32_t)lrint(alpha * 255 * sum[3 * q + k] / cnt[q]) << (16 - 8 * k);
            *out = v;
        }
    cairo_surface_mark_dirty(img);
    cairo_save(c->cr);
    cairo_set_source_surface(c->cr, img, a->x0, a->y0);
    cairo_paint(c->cr);
    cairo_restore(c->cr);
    cairo_surface_destroy(img);
    free(cnt), free(sum);
    return AM_OK;
}

/* Rows for the thumbnails of a dense map, spread over it: the plot area cut into cells of a
 * thumbnail's size, each occupied cell offering the point nearest its centre (the lowest row
 * when several are as near), the cells taken in a seeded order. One pass over the points. */
static int64_t spread_sample(const am_axes *a, const am_fig_panel *p, int64_t n, double ts, int64_t *order)
{
    const int nx = (int)fmax(1, floor(a->w / ts)), ny = (int)fmax(1, floor(a->h / ts));
    const double cw = a->w / nx, ch = a->h / ny;
    double *best = malloc((size_t)nx * ny * sizeof *best);
    int64_t *who = malloc((size_t)nx * ny * sizeof *who), m = 0;
    if (!best || !who) {
        free(best), free(who);
        return -1;
    }
    for (int i = 0; i < nx * ny; i++) best[i] = INFINITY, who[i] = -1;
    for (int64_t i = 0; i < n; i++) {
        double x = am_axes_x(a, p->coords[i * p->stride + p->ax]) - a->x0;
        double y = am_axes_y(a, p->coords[i * p->stride + p->ay]) - a->y0;
        if (!(x >= 0 && x < a->w && y >= 0 && y < a->h)) continue;
        int cx = (int)(x / cw), cy = (int)(y / ch);
        cx = cx < nx ? cx : nx - 1, cy = cy < ny ? cy : ny - 1;
        double dx = x - (cx + 0.5) * cw, dy = y - (cy + 0.5) * ch, d = dx * dx + dy * dy;
        if (d < best[cy * nx + cx]) best[cy * nx + cx] = d, who[cy * nx + cx] = i;
    }
    for (int i = 0; i < nx * ny; i++)
        if (who[i] >= 0) order[m++] = who[i];
    am_rng rng;
    am_rng_init(&rng, 0, am_rng_stream(0x666967ULL, 1, 0));
    am_rng_shuffle(&rng, order, m);
    free(best), free(who);
    return m;
}

static am_status draw_panel(am_canvas *c, const am_embeddings *e, const am_fig_panel *p, double ox,
                            const int32_t *labels, int max_thumbs, const am_figure_options *o)
{
    cairo_t *cr = c->cr;
    am_axes a = {
        .x0 = ox + MARGIN_L, .y0 = MARGIN_T, .w = PANEL_W - MARGIN_L - MARGIN_R, .h = PANEL_H - MARGIN_T - MARGIN_B};
    am_axes_fit(&a, p, e->n);
    am_axes_draw(c, &a, p->xlabel, p->ylabel, p->title);
    const int dense = e->n >= DENSE_FROM;
    if (dense) AM_TRY(draw_density(c, &a, p, e->n, labels, o));
    /* Points, smaller when there are many. */
    double r = e->n > 2000 ? 2.0 : 3.5;
    for (int64_t i = 0; !dense && i < e->n; i++) {
        double rgb[3];
        label_rgb(o, labels ? labels[i] : 0, rgb);
        cairo_set_source_rgba(cr, rgb[0], rgb[1], rgb[2], 0.75);
        cairo_new_path(cr); /* no line from the last text's current point */
        cairo_arc(cr, am_axes_x(&a, p->coords[i * p->stride + p->ax]), am_axes_y(&a, p->coords[i * p->stride + p->ay]),
                  r, 0, 2 * M_PI);
        cairo_fill(cr);
    }
    if (max_thumbs <= 0 || e->n == 0) return AM_OK;
    /* Thumbnails: rows in a seeded random order, each kept only if it overlaps none already
     * placed, so they spread over the map; fixed seed, so the figure is reproducible. */
    double ts = fmax(44, fmin(84, a.w / 10.0));
    int64_t *order = malloc((size_t)e->n * sizeof *order);
    box *placed = malloc((size_t)max_thumbs * sizeof *placed);
    int64_t *who = malloc((size_t)max_thumbs * sizeof *who);
    if (!order || !placed || !who) {
        free(order);
        free(placed);
        free(who);
        return am_error(AM_ERR_NOMEM, "%s: out of memory", c->path);
    }
    int64_t cand = e->n;
    if (dense) {
        cand = spread_sample(&a, p, e->n, ts + 4, order);
    } else {
        for (int64_t i = 0; i < e->n; i++) order[i] = i;
        am_rng rng;
        am_rng_init(&rng, 0, am_rng_stream(0x666967ULL, 0, 0));
        am_rng_shuffle(&rng, order, e->n);
    }
    if (cand < 0) {
        free(order), free(placed), free(who);
        return am_error(AM_ERR_NOMEM, "%s: out of memory", c->path);
    }
    int np = 0;
    for (int64_t t = 0; t < cand && np < max_thumbs; t++) {
        int64_t i = order[t];
        double x = am_axes_x(&a, p->coords[i * p->stride + p->ax]), y = am_axes_y(&a, p->coords[i * p->stride + p->ay]);
        /* Keep thumbnails inside the plot area. */
        x = fmin(fmax(x, a.x0 + ts / 2 + 2), a.x0 + a.w - ts / 2 - 2);
        y = fmin(fmax(y, a.y0 + ts / 2 + 2), a.y0 + a.h - ts / 2 - 2);
        if (overlaps(placed, np, x, y, ts)) continue;
        placed[np] = (box){x, y, ts};
        who[np++] = i;
    }
    for (int t = 0; t < np; t++) {
        am_thumbnail buf;
        am_thumbnail *th = am_fig_fetch(o, who[t], THUMB_SRC, &buf);
        double rgb[3];
        label_rgb(o, labels ? labels[who[t]] : 0, rgb);
        am_canvas_thumb(c, th, placed[t].x - ts / 2, placed[t].y - ts / 2, ts, rgb);
        if (th) am_thumbnail_free(th);
    }
    free(order);
    free(placed);
    free(who);
    return AM_OK;
}

am_status am_figure_map(const char *path, const am_embeddings *e, const am_fig_panel *panels, int npanels,
                        const int32_t *labels, int max_thumbs, const am_figure_options *o)
{
    if (npanels < 1 || npanels > 4) return am_error(AM_ERR_VALUE, "%s: %d panels (1 to 4)", path, npanels);
    int k = 0;
    if (labels)
        for (int64_t i = 0; i < e->n; i++) k = labels[i] + 1 > k ? labels[i] + 1 : k;
    double extra_top = o && o->title ? 50 : 0;
    double w = npanels * PANEL_W + (labels ? LEGEND_W : 0);
    am_canvas c;
    AM_TRY(am_canvas_open(&c, path, w, PANEL_H + extra_top));
    if (o && o->title) am_canvas_text(&c, w / 2, 18, 26, 1, 0.5, 0, w - 40, o->title);
    cairo_translate(c.cr, 0, extra_top);
    am_status s = AM_OK;
    for (int p = 0; p < npanels && s == AM_OK; p++)
        s = draw_panel(&c, e, &panels[p], p * PANEL_W, labels, max_thumbs, o);
    if (s == AM_OK && labels) {
        /* Legend: one swatch per cluster with its size. */
        double lx = npanels * PANEL_W + 10, ly = MARGIN_T;
        static const double black[3] = {0, 0, 0};
        am_canvas_rgb(&c, black);
        am_canvas_text(&c, lx, ly, 19, 1, 0, 0, LEGEND_W - 20, o && o->legend_title ? o->legend_title : "Clusters");
        int shown = k < 30 ? k : 30;
        int64_t *sizes = am_fig_label_counts(labels, e->n, k);
        for (int j = 0; sizes && j < shown; j++) {
            int64_t cnt = sizes[j];
            double rgb[3];
            char buf[64];
            label_rgb(o, j, rgb);
            am_canvas_rgb(&c, rgb);
            cairo_rectangle(c.cr, lx, ly + 36 + j * 28, 18, 18);
            cairo_fill(c.cr);
            am_canvas_rgb(&c, black);
            if (o && o->legend_names) snprintf(buf, sizeof buf, "%s  (n = %lld)", o->legend_names[j], (long long)cnt);
            else snprintf(buf, sizeof buf, "%d  (n = %lld)", j, (long long)cnt);
            am_canvas_text(&c, lx + 28, ly + 36 + j * 28 + 9, 16, 0, 0, 0.5, LEGEND_W - 50, buf);
        }
        free(sizes);
        if (k > shown)
            am_canvas_text(&c, lx, ly + 36 + shown * 28 + 9, 15, 0, 0, 0.5, LEGEND_W - 20, "(more not listed)");
        if (k > 10 && !(o && o->ordered))
            am_canvas_text(&c, lx, ly + 36 + (shown + 1) * 28 + 9, 13, 0, 0, 0.5, LEGEND_W - 20,
                           "colours repeat every 10");
    }
    if (s != AM_OK) {
        am_canvas_abort(&c);
        return s;
    }
    return am_canvas_close(&c);
}
