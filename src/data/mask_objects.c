/* The `maskfile` dataset: one large image and a mask; every object (an 8-connected group of
 * nonzero mask pixels, or every label value) becomes an item cut to its bounding box with the
 * pixels outside the object set to 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/runtime.h"
#include "data/dataset_internal.h"
#include "data/fits_internal.h"

typedef struct object {
    int64_t label; /* mask value (labels) or number from 1 (binary) */
    int64_t y0, y1, x0, x1; /* bounding box, half-open */
    int64_t pixels;
} object;

/* Binary mask: 8-connected components numbered in reading order; lab[p] = object index + 1. */
static am_status components(const float *mask, int64_t h, int64_t w, int64_t *lab, object **objs, int64_t *n_obj)
{
    int64_t hw = h * w, cap = 0, n = 0;
    int64_t *stack = malloc((size_t)hw * sizeof *stack);
    object *o = NULL;
    if (!stack) return AM_ERR_NOMEM;
    memset(lab, 0, (size_t)hw * sizeof *lab);
    for (int64_t p0 = 0; p0 < hw; p0++) {
        if (lab[p0] || !(mask[p0] != 0 && !isnan(mask[p0]))) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            object *no = realloc(o, (size_t)cap * sizeof *no);
            if (!no) {
                free(o);
                free(stack);
                return AM_ERR_NOMEM;
            }
            o = no;
        }
        object *ob = &o[n++];
        *ob = (object){n, p0 / w, p0 / w + 1, p0 % w, p0 % w + 1, 0};
        int64_t top = 0;
        stack[top++] = p0;
        lab[p0] = n;
        while (top > 0) {
            int64_t p = stack[--top], y = p / w, x = p % w;
            ob->pixels++;
            if (y < ob->y0) ob->y0 = y;
            if (y + 1 > ob->y1) ob->y1 = y + 1;
            if (x < ob->x0) ob->x0 = x;
            if (x + 1 > ob->x1) ob->x1 = x + 1;
            for (int64_t dy = -1; dy <= 1; dy++)
                for (int64_t dx = -1; dx <= 1; dx++) {
                    int64_t yy = y + dy, xx = x + dx;
                    if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                    int64_t q = yy * w + xx;
                    if (lab[q] || !(mask[q] != 0 && !isnan(mask[q]))) continue;
                    lab[q] = n;
                    stack[top++] = q;
                }
        }
    }
    free(stack);
    *objs = o;
    *n_obj = n;
    return AM_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t find_label(const int64_t *vals, int64_t n, int64_t v)
{
    int64_t lo = 0, hi = n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (vals[mid] == v) return mid;
        if (vals[mid] < v) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* Label mask: every positive integer value is one object; lab[p] = object index + 1. */
static am_status label_objects(const float *mask, int64_t h, int64_t w, const char *mask_path, int64_t *lab,
                               object **objs, int64_t *n_obj)
{
    int64_t hw = h * w, nv = 0;
    int64_t *vals = malloc((size_t)(hw ? hw : 1) * sizeof *vals);
    if (!vals) return am_error(AM_ERR_NOMEM, "%s: out of memory for the labels", mask_path);
    for (int64_t p = 0; p < hw; p++) {
        float v = mask[p];
        if (isnan(v) || v <= 0) continue;
        if (v != floorf(v) || v > 9.0e15f)
            return free(vals), am_error(AM_ERR_VALUE, "%s: value %g at row %lld, column %lld is not an integer label",
                                        mask_path, (double)v, (long long)(p / w), (long long)(p % w));
        vals[nv++] = (int64_t)v;
    }
    qsort(vals, (size_t)nv, sizeof *vals, cmp_i64);
    int64_t u = 0;
    for (int64_t i = 0; i < nv; i++)
        if (u == 0 || vals[u - 1] != vals[i]) vals[u++] = vals[i];
    object *o = malloc((size_t)(u ? u : 1) * sizeof *o);
    if (!o) return free(vals), am_error(AM_ERR_NOMEM, "%s: out of memory for the labels", mask_path);
    for (int64_t k = 0; k < u; k++) o[k] = (object){vals[k], h, 0, w, 0, 0};
    for (int64_t p = 0; p < hw; p++) {
        lab[p] = 0;
        float v = mask[p];
        if (isnan(v) || v <= 0) continue;
        int64_t k = find_label(vals, u, (int64_t)v), y = p / w, x = p % w;
        lab[p] = k + 1;
        object *ob = &o[k];
        ob->pixels++;
        if (y < ob->y0) ob->y0 = y;
        if (y + 1 > ob->y1) ob->y1 = y + 1;
        if (x < ob->x0) ob->x0 = x;
        if (x + 1 > ob->x1) ob->x1 = x + 1;
    }
    free(vals);
    *objs = o;
    *n_obj = u;
    return AM_OK;
}

/* Cuts object k out of the image: NaN inside the object replaced by the policy (from the
 * object's own pixels), outside pixels 0. AM_ERR_NUMERIC when nothing trainable is left. */
static am_status cut_object(const am_tensor *image, const int64_t *lab, int64_t k, const object *ob,
                            am_nan_policy policy, const char *name, am_tensor *out)
{
    int64_t c = image->shape[0], h = image->shape[1], w = image->shape[2];
    int64_t ch = ob->y1 - ob->y0, cw = ob->x1 - ob->x0;
    AM_TRY(am_tensor_alloc(out, 3, (int64_t[]){c, ch, cw}));
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t y = 0; y < ch; y++)
            for (int64_t x = 0; x < cw; x++) {
                int64_t p = (ob->y0 + y) * w + ob->x0 + x;
                out->data[(ci * ch + y) * cw + x] = lab[p] == k + 1 ? image->data[ci * h * w + p] : NAN;
            }
    /* Outside pixels are NaN for now, so the fill value and the checks see the object only. */
    am_status s = am_image_clean(out, policy, name, NULL);
    int64_t n = am_tensor_numel(out);
    if (s == AM_ERR_NUMERIC && strstr(am_errmsg(), "constant")) {
        /* A flat object still has a shape against the zero background: keep it. */
        float v = NAN;
        for (int64_t i = 0; i < n && isnan(v); i++)
            if (isfinite(out->data[i])) v = out->data[i];
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(out->data[i])) out->data[i] = policy == AM_NAN_ZERO ? 0.0f : v;
        s = AM_OK;
    }
    if (s != AM_OK) {
        am_tensor_free(out);
        return s;
    }
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t y = 0; y < ch; y++)
            for (int64_t x = 0; x < cw; x++) {
                float *v = &out->data[(ci * ch + y) * cw + x];
                if (lab[(ob->y0 + y) * w + ob->x0 + x] != k + 1) *v = 0.0f;
                if (*v < lo) lo = *v;
                if (*v > hi) hi = *v;
            }
    if (lo == hi) {
        am_tensor_free(out);
        return am_error(AM_ERR_NUMERIC, "%s: constant cutout (every pixel is %g)", name, (double)lo);
    }
    return AM_OK;
}

/* The pixels, and with meta the header's metadata and its WCS (*wcs, NULL when none). */
static am_status read_with_meta(const char *path, const am_fits_options *fo, am_tensor *img, am_meta *meta,
                                am_wcs **wcs)
{
    fitsfile *f = NULL;
    am_fits_lock();
    am_status s = am_fits_open(path, fo->max_pixels, &f);
    if (s == AM_OK) s = am_fits_read_hdu_pixels(f, path, fo->max_pixels, img);
    if (s == AM_OK && meta) {
        s = am_fits_header_meta(f, path, fo, meta);
        if (s != AM_OK) am_tensor_free(img);
        else *wcs = am_fits_wcs(f);
    }
    am_fits_close(f);
    am_fits_unlock();
    return s;
}

static am_status add_items(am_dataset *ds, const am_tensor *image, const am_meta *head, const am_wcs *wcs,
                           const int64_t *lab, const object *o, int64_t n_obj, const char *image_path)
{
    int64_t m = 0;
    for (int64_t k = 0; k < n_obj; k++) {
        const object *ob = &o[k];
        if (ob->y1 - ob->y0 < ds->opt.min_object_size || ob->x1 - ob->x0 < ds->opt.min_object_size ||
            ob->pixels < ds->opt.min_object_pixels)
            continue;
        char name[4200];
        snprintf(name, sizeof name, "%s#label=%lld", image_path, (long long)ob->label);
        am_item *it = &ds->items[m];
        am_status s = cut_object(image, lab, k, ob, ds->opt.fits.nan_policy, name, &it->image);
        if (s == AM_ERR_NUMERIC) {
            am_log(AM_LOG_WARN, "%s; left out", am_errmsg());
            ds->n_skipped++;
            continue;
        }
        AM_TRY(s);
        AM_TRY(am_meta_copy(&it->meta, head));
        /* the object's own position: its box's centre in the image's WCS */
        if (wcs && am_wcs_radec(wcs, (double)(ob->x0 + ob->x1 - 1) / 2, (double)(ob->y0 + ob->y1 - 1) / 2,
                                &it->meta.ra_deg, &it->meta.dec_deg))
            strcpy(it->meta.radec_from, "wcs");
        char box[160];
        snprintf(box, sizeof box, "label=%lld;box=[%lld:%lld,%lld:%lld]", (long long)ob->label, (long long)ob->y0,
                 (long long)ob->y1, (long long)ob->x0, (long long)ob->x1);
        size_t len = strlen(box) + (head->extra ? strlen(head->extra) + 1 : 0) + 1;
        char *extra = malloc(len);
        it->name = strdup(name);
        if (!extra || !it->name) {
            free(extra);
            return am_error(AM_ERR_NOMEM, "%s: out of memory for mask objects", image_path);
        }
        snprintf(extra, len, "%s%s%s", box, head->extra ? ";" : "", head->extra ? head->extra : "");
        free(it->meta.extra);
        it->meta.extra = extra;
        memcpy(it->shape, it->image.shape, sizeof it->shape);
        it->shape_known = 1;
        ds->n = ++m;
    }
    return AM_OK;
}

am_status am_dataset_open_mask(am_dataset **out, const char *image_path, const char *mask_path,
                               const am_dataset_options *opt)
{
    am_dataset_options def;
    if (!opt) {
        am_dataset_options_default(&def);
        opt = &def;
    }
    *out = NULL;
    am_tensor image = {0}, mask = {0};
    am_meta head;
    am_meta_init(&head);
    int64_t *lab = NULL, n_obj = 0;
    object *o = NULL;
    am_dataset *ds = NULL;
    am_wcs *wcs = NULL;
    am_status s = read_with_meta(image_path, &opt->fits, &image, &head, &wcs);
    if (s == AM_OK) s = am_image_check_channels(&image, opt->fits.max_channels, image_path);
    if (s == AM_OK) s = read_with_meta(mask_path, &opt->fits, &mask, NULL, NULL);
    if (s == AM_OK && mask.shape[0] != 1)
        s = am_error(AM_ERR_SHAPE, "%s: mask has %lld planes, need one 2-D mask", mask_path, (long long)mask.shape[0]);
    if (s == AM_OK && (mask.shape[1] != image.shape[1] || mask.shape[2] != image.shape[2]))
        s = am_error(AM_ERR_SHAPE, "%s: mask is %lldx%lld, image %s is %lldx%lld", mask_path, (long long)mask.shape[1],
                     (long long)mask.shape[2], image_path, (long long)image.shape[1], (long long)image.shape[2]);
    int64_t h = image.shape[1], w = image.shape[2];
    if (s == AM_OK && !(lab = malloc((size_t)(h * w) * sizeof *lab)))
        s = am_error(AM_ERR_NOMEM, "%s: out of memory for the labels", mask_path);
    if (s == AM_OK) {
        am_mask_mode mode = opt->mask_mode;
        if (mode == AM_MASK_AUTO) {
            mode = AM_MASK_BINARY;
            for (int64_t p = 0; p < h * w; p++)
                if (mask.data[p] > 1) {
                    mode = AM_MASK_LABELS;
                    break;
                }
        }
        if (mode == AM_MASK_BINARY) {
            if (components(mask.data, h, w, lab, &o, &n_obj) != AM_OK)
                s = am_error(AM_ERR_NOMEM, "%s: out of memory for the objects", mask_path);
        } else {
            s = label_objects(mask.data, h, w, mask_path, lab, &o, &n_obj);
        }
    }
    if (s == AM_OK) s = am_dataset_alloc(&ds, n_obj, image_path, opt);
    if (s == AM_OK) {
        ds->in_memory = 1;
        ds->n = 0; /* counts the kept objects as they are added */
        s = add_items(ds, &image, &head, wcs, lab, o, n_obj, image_path);
    }
    if (s == AM_OK && ds->n == 0 && ds->n_skipped > 0)
        s = am_error(AM_ERR_VALUE, "%s: no usable object (%lld left out as constant or all NaN)", mask_path,
                     (long long)ds->n_skipped);
    else if (s == AM_OK && ds->n == 0)
        s = am_error(AM_ERR_VALUE, "%s: no object of at least %d pixels a side and %lld pixels in the mask", mask_path,
                     opt->min_object_size, (long long)opt->min_object_pixels);
    if (s != AM_OK && ds) {
        ds->n = n_obj; /* free every slot, filled or not */
        am_dataset_free(ds);
        ds = NULL;
    }
    free(lab);
    free(o);
    am_tensor_free(&image);
    am_tensor_free(&mask);
    am_meta_free(&head);
    am_wcs_free(wcs);
    *out = ds;
    return s;
}
