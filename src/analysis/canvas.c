/* cairo canvas for the figures: PNG through the project's atomic PNG writer, PDF through a
 * cairo stream into an atomic file. */
#include "canvas.h"

#include <cairo-pdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "astromorph/png.h"
#include "astromorph/runtime.h"

static const char *FONT = "DejaVu Sans";

static int has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), m = strlen(ext);
    return n > m && strcasecmp(path + n - m, ext) == 0;
}

static cairo_status_t pdf_write(void *closure, const unsigned char *data, unsigned int len)
{
    am_atomic_file *af = closure;
    return fwrite(data, 1, len, af->fp) == len ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

am_status am_canvas_open(am_canvas *c, const char *path, double w, double h)
{
    memset(c, 0, sizeof *c);
    c->path = path;
    c->w = w;
    c->h = h;
    if (has_ext(path, ".pdf")) {
        am_atomic_file *af = malloc(sizeof *af);
        if (!af) return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
        am_status s = am_atomic_open(af, path, 1);
        if (s != AM_OK) {
            free(af);
            return s;
        }
        c->sink = af;
        c->pdf = 1;
        c->surface = cairo_pdf_surface_create_for_stream(pdf_write, af, w, h);
    } else if (has_ext(path, ".png")) {
        c->surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)ceil(w), (int)ceil(h));
    } else {
        return am_error(AM_ERR_VALUE, "%s: figure files end in .png or .pdf", path);
    }
    c->cr = cairo_create(c->surface);
    if (cairo_status(c->cr) != CAIRO_STATUS_SUCCESS) {
        am_canvas_abort(c);
        return am_error(AM_ERR_NOMEM, "%s: cairo could not create a %gx%g canvas", path, w, h);
    }
    cairo_set_source_rgb(c->cr, 1, 1, 1);
    cairo_paint(c->cr);
    cairo_set_source_rgb(c->cr, 0, 0, 0); /* text drawn before any colour is chosen stays visible */
    cairo_select_font_face(c->cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    return AM_OK;
}

void am_canvas_abort(am_canvas *c)
{
    if (c->cr) cairo_destroy(c->cr);
    if (c->surface) {
        if (c->pdf) cairo_surface_finish(c->surface);
        cairo_surface_destroy(c->surface);
    }
    if (c->sink) {
        am_atomic_abort(c->sink);
        free(c->sink);
    }
    memset(c, 0, sizeof *c);
}

am_status am_canvas_close(am_canvas *c)
{
    am_status s = AM_OK;
    if (cairo_status(c->cr) != CAIRO_STATUS_SUCCESS)
        s = am_error(AM_ERR_BACKEND, "%s: cairo: %s", c->path, cairo_status_to_string(cairo_status(c->cr)));
    cairo_destroy(c->cr);
    c->cr = NULL;
    if (c->pdf) {
        cairo_surface_finish(c->surface);
        if (s == AM_OK && cairo_surface_status(c->surface) != CAIRO_STATUS_SUCCESS)
            s = am_error(AM_ERR_IO, "%s: cairo: %s", c->path, cairo_status_to_string(cairo_surface_status(c->surface)));
        cairo_surface_destroy(c->surface);
        c->surface = NULL;
        if (s == AM_OK) s = am_atomic_commit(c->sink);
        else am_atomic_abort(c->sink);
        free(c->sink);
        c->sink = NULL;
        return s;
    }
    if (s == AM_OK) {
        /* ARGB32 (premultiplied, opaque here) to RGB bytes for the PNG writer. */
        cairo_surface_flush(c->surface);
        int w = cairo_image_surface_get_width(c->surface), h = cairo_image_surface_get_height(c->surface);
        int stride = cairo_image_surface_get_stride(c->surface);
        const unsigned char *src = cairo_image_surface_get_data(c->surface);
        uint8_t *rgb = malloc((size_t)w * (size_t)h * 3);
        if (!rgb) {
            s = am_error(AM_ERR_NOMEM, "%s: out of memory", c->path);
        } else {
            for (int y = 0; y < h; y++) {
                const uint32_t *row = (const uint32_t *)(src + (size_t)y * stride);
                for (int x = 0; x < w; x++) {
                    uint32_t p = row[x];
                    uint8_t *o = rgb + ((size_t)y * w + x) * 3;
                    o[0] = (uint8_t)(p >> 16);
                    o[1] = (uint8_t)(p >> 8);
                    o[2] = (uint8_t)p;
                }
            }
            s = am_png_write(c->path, rgb, w, h, 3, 0);
            free(rgb);
        }
    }
    cairo_surface_destroy(c->surface);
    c->surface = NULL;
    return s;
}

void am_canvas_rgb(am_canvas *c, const double *rgb) { cairo_set_source_rgb(c->cr, rgb[0], rgb[1], rgb[2]); }

double am_canvas_text(am_canvas *c, double x, double y, double size, int bold, double ax, double ay, double max_w,
                      const char *s)
{
    cairo_t *cr = c->cr;
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    cairo_text_extents_t te;
    cairo_text_extents(cr, buf, &te);
    if (max_w > 0 && te.x_advance > max_w) {
        /* Cut at UTF-8 character boundaries until the text and its ellipsis fit. */
        size_t n = strlen(buf);
        while (n > 0) {
            do n--;
            while (n > 0 && ((unsigned char)buf[n] & 0xC0) == 0x80);
            snprintf(buf + n, sizeof buf - n, "\xe2\x80\xa6");
            cairo_text_extents(cr, buf, &te);
            if (te.x_advance <= max_w) break;
        }
    }
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double h = fe.ascent + fe.descent;
    cairo_move_to(cr, x - ax * te.x_advance, y - ay * h + fe.ascent);
    cairo_show_text(cr, buf);
    return te.x_advance;
}

void am_canvas_thumb(am_canvas *c, const am_thumbnail *t, double x, double y, double size, const double *frame)
{
    cairo_t *cr = c->cr;
    static const double grey[3] = {0.55, 0.55, 0.55};
    int drawn = 0;
    if (t && t->pixels && t->size > 0) {
        cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, t->size, t->size);
        if (cairo_surface_status(img) == CAIRO_STATUS_SUCCESS) {
            cairo_surface_flush(img);
            unsigned char *data = cairo_image_surface_get_data(img);
            int stride = cairo_image_surface_get_stride(img);
            for (int r = 0; r < t->size; r++) {
                uint32_t *row = (uint32_t *)(data + (size_t)r * stride);
                for (int q = 0; q < t->size; q++) {
                    const uint8_t *p = t->pixels + ((size_t)r * t->size + q) * t->channels;
                    uint32_t R = p[0], G = t->channels == 3 ? p[1] : p[0], B = t->channels == 3 ? p[2] : p[0];
                    row[q] = 0xFF000000u | R << 16 | G << 8 | B;
                }
            }
            cairo_surface_mark_dirty(img);
            cairo_save(cr);
            cairo_rectangle(cr, x, y, size, size);
            cairo_clip(cr);
            cairo_translate(cr, x, y);
            cairo_scale(cr, size / t->size, size / t->size);
            cairo_set_source_surface(cr, img, 0, 0);
            cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_GOOD);
            cairo_paint(cr);
            cairo_restore(cr);
            drawn = 1;
        }
        cairo_surface_destroy(img);
    }
    if (!drawn) {
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_rectangle(cr, x, y, size, size);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.4, 0.4, 0.4);
        am_canvas_text(c, x + size / 2, y + size / 2, fmax(8, size / 9), 0, 0.5, 0.5, size - 4, "no image");
    }
    am_canvas_rgb(c, frame ? frame : grey);
    cairo_set_line_width(cr, frame ? 2.5 : 1.0);
    cairo_rectangle(cr, x, y, size, size);
    cairo_stroke(cr);
}

void am_palette(int i, double rgb[3])
{
    /* Colour-blind-friendly (Okabe–Ito, with indigo for its black, which would vanish against
     * the thumbnails' black sky, and grey and brown added). */
    static const unsigned pal[10] = {0x0072B2, 0xE69F00, 0x009E73, 0xCC79A7, 0x56B4E9,
                                     0xD55E00, 0xF0E442, 0x332288, 0x999999, 0x8C564B};
    unsigned v = pal[((i % 10) + 10) % 10];
    rgb[0] = ((v >> 16) & 255) / 255.0;
    rgb[1] = ((v >> 8) & 255) / 255.0;
    rgb[2] = (v & 255) / 255.0;
}

void am_axes_fit(am_axes *a, const am_fig_panel *p, int64_t n)
{
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int64_t i = 0; i < n; i++) {
        double v[2] = {p->coords[i * p->stride + p->ax], p->coords[i * p->stride + p->ay]};
        for (int d = 0; d < 2; d++) {
            if (!isfinite(v[d])) continue;
            lo[d] = fmin(lo[d], v[d]);
            hi[d] = fmax(hi[d], v[d]);
        }
    }
    for (int d = 0; d < 2; d++) {
        if (!(hi[d] >= lo[d])) lo[d] = -1, hi[d] = 1;
        if (hi[d] - lo[d] < 1e-12 * fmax(1, fabs(hi[d]))) lo[d] -= 1, hi[d] += 1;
        double pad = 0.05 * (hi[d] - lo[d]);
        lo[d] -= pad;
        hi[d] += pad;
    }
    a->xmin = lo[0];
    a->xmax = hi[0];
    a->ymin = lo[1];
    a->ymax = hi[1];
}

double am_axes_x(const am_axes *a, double v) { return a->x0 + (v - a->xmin) / (a->xmax - a->xmin) * a->w; }

double am_axes_y(const am_axes *a, double v) { return a->y0 + a->h - (v - a->ymin) / (a->ymax - a->ymin) * a->h; }

/* A round tick step giving about `want` intervals over the range. */
static double tick_step(double range, int want)
{
    double raw = range / want, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return mag * (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10);
}

static void tick_label(char *buf, size_t len, double v, double step)
{
    if (fabs(v) < step * 1e-6) v = 0;
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) >= 1e5 || (fabs(v) > 0 && fabs(v) < 1e-3)) snprintf(buf, len, "%.2g", v);
    else snprintf(buf, len, "%.*f", dec, v);
}

void am_axes_draw(am_canvas *c, const am_axes *a, const char *xlabel, const char *ylabel, const char *title)
{
    cairo_t *cr = c->cr;
    static const double black[3] = {0, 0, 0}, gridc[3] = {0.9, 0.9, 0.9};
    char buf[64];
    cairo_set_line_width(cr, 1);
    double xs = tick_step(a->xmax - a->xmin, 6), ys = tick_step(a->ymax - a->ymin, 6);
    for (int pass = 0; pass < 2; pass++) {
        for (double v = ceil(a->xmin / xs) * xs; v <= a->xmax; v += xs) {
            double px = am_axes_x(a, v);
            am_canvas_rgb(c, pass ? black : gridc);
            cairo_move_to(cr, px, pass ? a->y0 + a->h : a->y0);
            cairo_line_to(cr, px, a->y0 + a->h + (pass ? 6 : 0));
            cairo_stroke(cr);
            if (pass) {
                tick_label(buf, sizeof buf, v, xs);
                am_canvas_text(c, px, a->y0 + a->h + 9, 15, 0, 0.5, 0, 0, buf);
            }
        }
        for (double v = ceil(a->ymin / ys) * ys; v <= a->ymax; v += ys) {
            double py = am_axes_y(a, v);
            am_canvas_rgb(c, pass ? black : gridc);
            cairo_move_to(cr, pass ? a->x0 - 6 : a->x0 + a->w, py);
            cairo_line_to(cr, a->x0, py);
            cairo_stroke(cr);
            if (pass) {
                tick_label(buf, sizeof buf, v, ys);
                am_canvas_text(c, a->x0 - 10, py, 15, 0, 1, 0.5, 0, buf);
            }
        }
    }
    am_canvas_rgb(c, black);
    cairo_set_line_width(cr, 1.5);
    cairo_rectangle(cr, a->x0, a->y0, a->w, a->h);
    cairo_stroke(cr);
    if (xlabel) am_canvas_text(c, a->x0 + a->w / 2, a->y0 + a->h + 34, 18, 0, 0.5, 0, 0, xlabel);
    if (ylabel) {
        cairo_save(cr);
        cairo_translate(cr, a->x0 - 62, a->y0 + a->h / 2);
        cairo_rotate(cr, -M_PI / 2);
        am_canvas_text(c, 0, 0, 18, 0, 0.5, 0.5, 0, ylabel);
        cairo_restore(cr);
    }
    if (title) am_canvas_text(c, a->x0 + a->w / 2, a->y0 - 34, 21, 1, 0.5, 0, a->w, title);
}

am_thumbnail *am_fig_fetch(const am_figure_options *o, int64_t row, int size, am_thumbnail *buf)
{
    memset(buf, 0, sizeof *buf);
    if (!o || !o->thumbs) return NULL;
    if (o->thumbs(o->user, row, size, buf) != AM_OK) {
        am_log(AM_LOG_WARN, "figure: no thumbnail for row %lld: %s", (long long)row, am_errmsg());
        am_thumbnail_free(buf);
        return NULL;
    }
    return buf;
}

void am_canvas_captioned(am_canvas *c, const am_figure_options *o, int64_t row, double x, double y, double size,
                         int src_px, const double *frame, double max_w, double font, const char *l1, const char *l2)
{
    static const double black[3] = {0, 0, 0};
    am_thumbnail buf;
    am_thumbnail *th = am_fig_fetch(o, row, src_px, &buf);
    am_canvas_thumb(c, th, x, y, size, frame);
    if (th) am_thumbnail_free(th);
    am_canvas_rgb(c, black);
    am_canvas_text(c, x + size / 2, y + size + 5, font, 1, 0.5, 0, max_w, l1);
    if (l2) am_canvas_text(c, x + size / 2, y + size + 7 + 1.4 * font, font - 1, 0, 0.5, 0, max_w, l2);
}

int64_t *am_fig_label_counts(const int32_t *labels, int64_t n, int k)
{
    int64_t *cnt = calloc((size_t)(k > 0 ? k : 1), sizeof *cnt);
    if (cnt)
        for (int64_t i = 0; i < n; i++)
            if (labels[i] >= 0 && labels[i] < k) cnt[labels[i]]++;
    return cnt;
}

const char *am_fig_row_name(const am_embeddings *e, int64_t row, char *buf, size_t len)
{
    const char *obj = e->meta[row].object, *fp = e->meta[row].filepath;
    if (obj[0] && strcmp(obj, "N/A") != 0) {
        snprintf(buf, len, "%s", obj);
    } else if (fp && fp[0] && strcmp(fp, "N/A") != 0) {
        const char *b = strrchr(fp, '/');
        b = b ? b + 1 : fp;
        size_t n = strcspn(b, ".[");
        snprintf(buf, len, "%.*s", (int)n, b);
    } else {
        snprintf(buf, len, "row %lld", (long long)row);
    }
    return buf;
}
