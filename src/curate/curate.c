/* Curation of archive maps into cutouts (include/astromorph/curate.h): level correction, SEP's
 * background and noise, detection and grouping (DBSCAN or SEP), merging, cutouts with the
 * parent's WCS, and the report. */
#include "astromorph/curate.h"

#include <math.h>
#include <stddef.h> /* sep.h uses size_t without including it */
#include <sep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "astromorph/runtime.h"
#include "core/internal.h"
#include "curate/curate_internal.h"
#include "data/dataset_internal.h"
#include "data/fits_internal.h"

void am_curate_options_default(am_curate_options *o)
{
    memset(o, 0, sizeof *o);
    o->nsigma = 3;
    o->size = 100;
    o->grouping = AM_GROUP_DBSCAN;
    o->eps = 1.5;
    o->min_samples = 4;
    o->min_pixels = 5;
    o->clip = 1;
    o->scale = AM_SCALE_LINEAR;
    o->background_tile = 64;
}

static am_status sep_fail(int status, const char *path, const char *what)
{
    char msg[128];
    sep_get_errmsg(status, msg);
    return am_error(AM_ERR_VALUE, "%s: %s: %s", path, what, msg);
}

/* A map as the curation sees it: one plane, background-subtracted, its noise. */
typedef struct {
    int w, h;
    float *sub, *rms; /* w*h: value - background (NaN kept), and the local RMS */
    double global_rms;
} map;

static void map_free(map *m)
{
    am_free(m->sub), am_free(m->rms);
    memset(m, 0, sizeof *m);
}

/* SEP's tiled background and RMS of plane `v` (NaN ignored, as SEP does). */
static am_status background(const float *v, int w, int h, int tile, const char *path, map *m)
{
    sep_image im = {.data = v, .dtype = SEP_TFLOAT, .w = w, .h = h};
    sep_bkg *bkg = NULL;
    int bw = tile < w ? tile : w, bh = tile < h ? tile : h;
    int st = sep_background(&im, bw, bh, 3, 3, 0.0, &bkg);
    if (st) return sep_fail(st, path, "background");
    size_t n = (size_t)w * (size_t)h;
    float *back = am_malloc(n * sizeof *back);
    m->sub = am_malloc(n * sizeof *m->sub), m->rms = am_malloc(n * sizeof *m->rms);
    am_status s = back && m->sub && m->rms ? AM_OK : am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    if (s == AM_OK && (st = sep_bkg_array(bkg, back, SEP_TFLOAT)) == 0) st = sep_bkg_rmsarray(bkg, m->rms, SEP_TFLOAT);
    if (s == AM_OK && st) s = sep_fail(st, path, "background");
    m->w = w, m->h = h, m->global_rms = sep_bkg_globalrms(bkg);
    for (size_t p = 0; s == AM_OK && p < n; p++) m->sub[p] = v[p] - back[p];
    if (s == AM_OK && !(m->global_rms > 0))
        s = am_error(AM_ERR_NUMERIC, "%s: the map has no noise to measure (RMS %g)", path, m->global_rms);
    am_free(back);
    sep_bkg_free(bkg);
    if (s != AM_OK) map_free(m);
    return s;
}

typedef struct {
    double sx, sy, sw, flux, peak_snr;
    long npix;
    int px, py; /* the brightest pixel */
} group_acc;

/* DBSCAN groups of the above-threshold pixels, with their sums. */
static am_status dbscan_groups(const map *m, const am_curate_options *o, group_acc **out, int *ng, const char *path)
{
    size_t n = (size_t)m->w * (size_t)m->h;
    unsigned char *above = malloc(n);
    int *label = malloc(n * sizeof *label);
    if (!above || !label) {
        free(above), free(label);
        return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t p = 0; p < n; p++) above[p] = isfinite(m->sub[p]) && m->sub[p] > o->nsigma * m->rms[p];
    am_status s = am_dbscan_pixels(above, m->w, m->h, o->eps, o->min_samples, label, ng);
    group_acc *g = s == AM_OK ? calloc((size_t)(*ng ? *ng : 1), sizeof *g) : NULL;
    if (s == AM_OK && !g) s = am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    for (size_t p = 0; s == AM_OK && p < n; p++) {
        if (label[p] < 0) continue;
        group_acc *a = &g[label[p]];
        double v = m->sub[p], wgt = v > 0 ? v : 0, snr = v / m->rms[p];
        int x = (int)(p % (size_t)m->w), y = (int)(p / (size_t)m->w);
        a->sx += wgt * x, a->sy += wgt * y, a->sw += wgt, a->flux += v, a->npix++;
        if (a->npix == 1 || snr > a->peak_snr) a->peak_snr = snr, a->px = x, a->py = y;
    }
    free(above), free(label);
    if (s != AM_OK) free(g), g = NULL;
    *out = g;
    return s;
}

/* SEP's extraction (thresholded against the RMS map, deblended) as groups. */
static am_status sep_groups(const map *m, const am_curate_options *o, group_acc **out, int *ng, const char *path)
{
    size_t n = (size_t)m->w * (size_t)m->h;
    float *data = am_malloc(n * sizeof *data);
    unsigned char *mask = malloc(n);
    if (!data || !mask) {
        am_free(data), free(mask);
        return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t p = 0; p < n; p++) mask[p] = !isfinite(m->sub[p]), data[p] = mask[p] ? 0.0f : m->sub[p];
    sep_image im = {.data = data,
                    .noise = m->rms,
                    .mask = mask,
                    .dtype = SEP_TFLOAT,
                    .ndtype = SEP_TFLOAT,
                    .mdtype = SEP_TBYTE,
                    .w = m->w,
                    .h = m->h,
                    .noise_type = SEP_NOISE_STDDEV,
                    .maskthresh = 0.0};
    static const float conv[9] = {1, 2, 1, 2, 4, 2, 1, 2, 1};
    sep_catalog *cat = NULL;
    /* room for large maps' pixel stacks */
    if (sep_get_extract_pixstack() < n) sep_set_extract_pixstack(n);
    int st = sep_extract(&im, (float)o->nsigma, SEP_THRESH_REL, o->min_pixels, conv, 3, 3, SEP_FILTER_CONV, 32, 0.005,
                         1, 1.0, &cat);
    am_status s = st ? sep_fail(st, path, "extraction") : AM_OK;
    group_acc *g = NULL;
    if (s == AM_OK && !(g = calloc((size_t)(cat->nobj ? cat->nobj : 1), sizeof *g)))
        s = am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    for (int k = 0; s == AM_OK && k < cat->nobj; k++) {
        g[k].sx = cat->x[k], g[k].sy = cat->y[k], g[k].sw = 1, g[k].flux = cat->flux[k], g[k].npix = cat->npix[k];
        g[k].px = cat->xpeak[k], g[k].py = cat->ypeak[k];
        size_t pp = (size_t)g[k].py * (size_t)m->w + (size_t)g[k].px;
        g[k].peak_snr = cat->peak[k] / m->rms[pp];
    }
    if (s == AM_OK) *ng = cat->nobj;
    if (cat) sep_catalog_free(cat);
    am_free(data), free(mask);
    *out = g;
    return s;
}

static am_status report_add(am_curate_report *rep, const am_curate_source *src)
{
    if (rep->n == rep->cap) {
        int cap = rep->cap ? 2 * rep->cap : 64;
        am_curate_source *b = realloc(rep->src, (size_t)cap * sizeof *b);
        if (!b) return am_error(AM_ERR_NOMEM, "curate: out of memory for the report");
        rep->src = b, rep->cap = cap;
    }
    rep->src[rep->n++] = *src;
    rep->kept += src->kept;
    return AM_OK;
}

static int by_flux(const void *a, const void *b)
{
    const am_curate_source *x = a, *y = b;
    if (x->flux != y->flux) return x->flux < y->flux ? 1 : -1;
    return x->y != y->y ? (x->y < y->y ? -1 : 1) : (x->x < y->x ? -1 : x->x > y->x);
}

/* The cutout's pixels: background-subtracted, clipped and scaled as asked; NaN outside the map. */
static void cut(const map *m, const am_curate_options *o, long x0, long y0, float *out)
{
    const int S = o->size;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            long u = x0 + x, v = y0 + y;
            float val = NAN;
            if (u >= 0 && u < m->w && v >= 0 && v < m->h) {
                size_t p = (size_t)v * (size_t)m->w + (size_t)u;
                val = m->sub[p];
                if (isfinite(val) && o->clip && val < o->nsigma * m->rms[p]) val = 0;
                if (isfinite(val) && o->scale == AM_SCALE_LOG) val = (float)log10(1.0 + fmax(val, 0.0) / m->global_rms);
                if (isfinite(val) && o->scale == AM_SCALE_ASINH) val = (float)asinh(val / m->global_rms);
            }
            out[(size_t)y * S + x] = val;
        }
}

static const char *scale_name(am_curate_scale s)
{
    return s == AM_SCALE_LOG ? "log" : s == AM_SCALE_ASINH ? "asinh" : "linear";
}

/* One cutout file: the parent's header (so its WCS and metadata), CRPIX moved by the offset,
 * provenance keys; under a temporary name, then renamed. */
static am_status write_cutout(fitsfile *parent, const map *m, const am_curate_options *o, const am_curate_source *src,
                              long x0, long y0, const char *path)
{
    const int S = o->size;
    float *pix = am_malloc((size_t)S * (size_t)S * sizeof *pix);
    if (!pix) return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    cut(m, o, x0, y0, pix);
    char tmp[1100], bang[1110];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    snprintf(bang, sizeof bang, "!%s", tmp);
    fitsfile *f = NULL;
    int st = 0;
    long naxes[2] = {S, S};
    fits_create_file(&f, bang, &st);
    fits_copy_header(parent, f, &st);
    fits_resize_img(f, FLOAT_IMG, 2, naxes, &st);
    /* what described the parent's stored values, not these floats */
    static const char *const stale[] = {"BSCALE", "BZERO", "BLANK", "CHECKSUM", "DATASUM", "DATAMIN", "DATAMAX"};
    for (size_t k = 0; k < sizeof stale / sizeof stale[0] && !st; k++) {
        int ds = 0;
        fits_delete_key(f, (char *)stale[k], &ds);
    }
    fits_clear_errmsg();
    /* the same sky: reference pixels move by the offset, for every WCS description (' ', A..Z) */
    for (int alt = 0; alt <= 26 && !st; alt++) {
        for (int axis = 1; axis <= 2; axis++) {
            char key[16];
            snprintf(key, sizeof key, "CRPIX%d%c", axis, alt ? 'A' + alt - 1 : '\0');
            double crpix;
            int ks = 0;
            if (fits_read_key(f, TDOUBLE, key, &crpix, NULL, &ks)) continue;
            crpix -= axis == 1 ? (double)x0 : (double)y0;
            fits_update_key(f, TDOUBLE, key, &crpix, NULL, &st);
        }
    }
    fits_clear_errmsg();
    long id = src->id, npix = src->npix, cx0 = x0 + 1, cy0 = y0 + 1;
    double sx = src->x + 1, sy = src->y + 1, flux = src->flux, snr = src->peak_snr, rms = m->global_rms, ns = o->nsigma;
    fits_update_key(f, TSTRING, "PARENT", (void *)src->parent, "the map this cutout was cut from", &st);
    fits_update_key(f, TLONG, "SRC_ID", &id, "source number in the parent (brightest first)", &st);
    fits_update_key(f, TDOUBLE, "SRC_X", &sx, "source centre, parent pixel (1-based)", &st);
    fits_update_key(f, TDOUBLE, "SRC_Y", &sy, "source centre, parent pixel (1-based)", &st);
    fits_update_key(f, TLONG, "CUT_X0", &cx0, "parent pixel of this cutout's pixel 1 (x)", &st);
    fits_update_key(f, TLONG, "CUT_Y0", &cy0, "parent pixel of this cutout's pixel 1 (y)", &st);
    fits_update_key(f, TLONG, "SRC_NPIX", &npix, "pixels above the threshold", &st);
    fits_update_key(f, TDOUBLE, "SRC_FLUX", &flux, "their summed background-subtracted value", &st);
    fits_update_key(f, TDOUBLE, "SRC_SNR", &snr, "peak / RMS", &st);
    fits_update_key(f, TDOUBLE, "MAP_RMS", &rms, "the parent's RMS (after level correction)", &st);
    fits_update_key(f, TDOUBLE, "NSIGMA", &ns, "detection threshold in RMS", &st);
    fits_update_key(f, TLOGICAL, "CLIPPED", &(int){o->clip}, "values below NSIGMA x RMS set to 0", &st);
    fits_update_key(f, TSTRING, "SCALING", (void *)scale_name(o->scale), "of the values (units of MAP_RMS)", &st);
    fits_write_history(f, "astromorph curate: background-subtracted cutout", &st);
    fits_write_img(f, TFLOAT, 1, (LONGLONG)S * S, pix, &st);
    int cst = 0;
    if (f) fits_close_file(f, &cst);
    if (!st) st = cst;
    am_free(pix);
    am_status s = AM_OK;
    if (st) {
        char txt[FLEN_STATUS];
        fits_get_errstatus(st, txt);
        fits_clear_errmsg();
        s = am_error(AM_ERR_IO, "%s: cannot write the cutout (%s)", path, txt);
    } else if (rename(tmp, path) != 0) {
        s = am_error(AM_ERR_IO, "%s: cannot rename %s into place", path, tmp);
    }
    if (s != AM_OK) remove(tmp);
    return s;
}

/* The file name without folders and FITS extensions: "maps/field.pbcor.fits.gz" -> "field.pbcor". */
static void stem(const char *path, char *out, size_t size)
{
    const char *b = strrchr(path, '/');
    snprintf(out, size, "%s", b ? b + 1 : path);
    static const char *const ext[] = {".gz", ".fz", ".fits", ".fit", ".fts"};
    for (size_t k = 0; k < sizeof ext / sizeof ext[0]; k++) {
        size_t n = strlen(out), e = strlen(ext[k]);
        if (n > e && !strcmp(out + n - e, ext[k])) out[n - e] = 0;
    }
}

/* ALMA's products: X.pbcor.fits has its primary beam beside it as X.pb.fits. */
static const char *sibling_pb(const char *image, char *buf, size_t size)
{
    const char *at = strstr(image, ".pbcor.");
    if (!at) return NULL;
    snprintf(buf, size, "%.*s.pb.%s", (int)(at - image), image, at + strlen(".pbcor."));
    return access(buf, R_OK) == 0 ? buf : NULL;
}

am_status am_curate_datafile(const char *datafile, const char *outdir, const am_curate_options *o,
                             am_curate_report *rep)
{
    char **paths = NULL;
    int64_t n = 0;
    AM_TRY(am_read_datafile(datafile, &paths, &n));
    am_status s = AM_OK;
    for (int64_t i = 0; s == AM_OK && i < n; i++) s = am_curate_image(paths[i], NULL, outdir, o, rep);
    am_free_paths(paths, n);
    return s;
}

am_status am_curate_image(const char *image, const char *pb, const char *outdir, const am_curate_options *opt,
                          am_curate_report *rep)
{
    char pb_beside[4200];
    if (!pb) pb = sibling_pb(image, pb_beside, sizeof pb_beside);
    am_curate_options o;
    if (opt) o = *opt;
    else am_curate_options_default(&o);
    if (!(o.nsigma > 0) || o.size < 8 || o.eps < 1 || o.min_samples < 1 || o.min_pixels < 1 || o.background_tile < 8)
        return am_error(AM_ERR_VALUE, "curate: options out of range (nsigma > 0, size >= 8, eps >= 1, min_samples, "
                                      "min_pixels >= 1, background_tile >= 8)");
    double min_sep = o.min_separation > 0 ? o.min_separation : o.size / 4.0;
    AM_TRY(am_mkdirs(outdir));
    am_tensor img = {0}, resp = {0};
    if (pb) AM_TRY(am_fits_read_raw(pb, NULL, &resp));
    fitsfile *f = NULL;
    am_fits_lock();
    am_status s = am_fits_open(image, (int64_t)1 << 31, &f);
    if (s == AM_OK) s = am_fits_read_hdu_pixels(f, image, (int64_t)1 << 31, &img);
    if (s == AM_OK && (img.shape[1] > 1 << 20 || img.shape[2] > 1 << 20))
        s = am_error(AM_ERR_SHAPE, "%s: %lld x %lld pixels is too large to curate", image, (long long)img.shape[2],
                     (long long)img.shape[1]);
    const int h = s == AM_OK ? (int)img.shape[1] : 0, w = s == AM_OK ? (int)img.shape[2] : 0;
    if (s == AM_OK && img.shape[0] > 1)
        am_log(AM_LOG_WARN, "%s: %lld planes; curating the first (a 2-D map, or a cube's first channel)", image,
               (long long)img.shape[0]);
    if (s == AM_OK && pb && (resp.shape[1] != h || resp.shape[2] != w))
        s = am_error(AM_ERR_SHAPE, "%s: the primary beam is %lld x %lld, the map %d x %d", pb, (long long)resp.shape[2],
                     (long long)resp.shape[1], w, h);
    /* level correction: a primary-beam-corrected map times the beam's response has flat noise */
    for (int64_t p = 0; s == AM_OK && pb && p < (int64_t)w * h; p++) img.data[p] *= resp.data[p];
    map m = {0};
    if (s == AM_OK) s = background(img.data, w, h, o.background_tile, image, &m);
    group_acc *g = NULL;
    int ng = 0;
    if (s == AM_OK)
        s = o.grouping == AM_GROUP_SEP ? sep_groups(&m, &o, &g, &ng, image) : dbscan_groups(&m, &o, &g, &ng, image);
    am_curate_source *src = s == AM_OK ? calloc((size_t)(ng ? ng : 1), sizeof *src) : NULL;
    if (s == AM_OK && !src) s = am_error(AM_ERR_NOMEM, "%s: out of memory", image);
    am_wcs *wcs = s == AM_OK ? am_fits_wcs(f) : NULL;
    for (int k = 0; s == AM_OK && k < ng; k++) {
        am_curate_source *c = &src[k];
        snprintf(c->parent, sizeof c->parent, "%s", image);
        c->x = g[k].sw > 0 ? g[k].sx / g[k].sw : g[k].px, c->y = g[k].sw > 0 ? g[k].sy / g[k].sw : g[k].py;
        c->npix = g[k].npix, c->flux = g[k].flux, c->peak_snr = g[k].peak_snr;
        c->ra = c->dec = NAN;
        if (wcs) am_wcs_radec(wcs, c->x, c->y, &c->ra, &c->dec);
    }
    if (s == AM_OK) qsort(src, (size_t)ng, sizeof *src, by_flux);
    char base[512];
    stem(image, base, sizeof base);
    int kept = 0;
    for (int k = 0; s == AM_OK && k < ng; k++) {
        am_curate_source *c = &src[k];
        c->id = k + 1;
        if (c->npix < o.min_pixels) {
            snprintf(c->reason, sizeof c->reason, "%ld pixels < min_pixels %d", c->npix, o.min_pixels);
        } else {
            for (int j = 0; j < k && !c->reason[0]; j++)
                if (src[j].kept && hypot(src[j].x - c->x, src[j].y - c->y) < min_sep)
                    snprintf(c->reason, sizeof c->reason, "merged into %d (%.1f px away)", src[j].id,
                             hypot(src[j].x - c->x, src[j].y - c->y));
        }
        if (!c->reason[0]) {
            /* centred on the source; moved inside the map when the map is large enough */
            long x0 = lround(c->x) - o.size / 2, y0 = lround(c->y) - o.size / 2;
            if (w >= o.size) x0 = x0 < 0 ? 0 : x0 > w - o.size ? w - o.size : x0;
            if (h >= o.size) y0 = y0 < 0 ? 0 : y0 > h - o.size ? h - o.size : y0;
            snprintf(c->cutout, sizeof c->cutout, "%s/%s_src%03d.fits", outdir, base, ++kept);
            s = write_cutout(f, &m, &o, c, x0, y0, c->cutout);
            c->kept = s == AM_OK;
        }
        if (s == AM_OK) s = report_add(rep, c);
    }
    am_wcs_free(wcs);
    am_fits_close(f);
    am_fits_unlock();
    if (s == AM_OK)
        am_log(AM_LOG_INFO, "%s: RMS %.4g, %d group(s) above %g sigma, %d cutout(s)", image, m.global_rms, ng, o.nsigma,
               kept);
    free(src), free(g);
    map_free(&m);
    am_tensor_free(&img), am_tensor_free(&resp);
    return s;
}

am_status am_curate_report_write(const am_curate_report *rep, const char *outdir)
{
    AM_TRY(am_mkdirs(outdir));
    char path[1100];
    snprintf(path, sizeof path, "%s/curation.csv", outdir);
    am_atomic_file af;
    AM_TRY(am_atomic_open(&af, path, 0));
    fprintf(af.fp, "parent,id,x,y,ra,dec,npix,flux,peak_snr,kept,reason,cutout\n");
    for (int i = 0; i < rep->n; i++) {
        const am_curate_source *c = &rep->src[i];
        /* the paths and reasons hold no '"'; quoted for commas */
        fprintf(af.fp, "\"%s\",%d,%.3f,%.3f,%.8f,%.8f,%ld,%.6g,%.4g,%d,\"%s\",\"%s\"\n", c->parent, c->id, c->x + 1,
                c->y + 1, c->ra, c->dec, c->npix, c->flux, c->peak_snr, c->kept, c->reason, c->cutout);
    }
    AM_TRY(am_atomic_commit(&af));
    snprintf(path, sizeof path, "%s/files.txt", outdir);
    AM_TRY(am_atomic_open(&af, path, 0));
    for (int i = 0; i < rep->n; i++) {
        const char *cut = rep->src[i].cutout, *slash = strrchr(cut, '/');
        if (rep->src[i].kept) fprintf(af.fp, "%s\n", slash ? slash + 1 : cut); /* relative to the list */
    }
    return am_atomic_commit(&af);
}

void am_curate_report_free(am_curate_report *rep)
{
    free(rep->src);
    memset(rep, 0, sizeof *rep);
}
