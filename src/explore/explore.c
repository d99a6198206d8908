/* The explorer's folder (include/astromorph/explore.h): the map, the look-alike lists, the
 * outlier ranking and the columns as data.js, the thumbnails as atlases, the page beside them. */
#include "astromorph/explore.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/outliers.h"
#include "astromorph/pca.h"
#include "astromorph/png.h"
#include "astromorph/runtime.h"
#include "astromorph/similarity.h"
#include "astromorph/tsne.h"
#include "analysis/knn.h"
#include "core/internal.h"
#include "io/emb_table.h"

extern const char am_explore_page[];
extern const size_t am_explore_page_len;

/* data.js's typed arrays are the host's bytes, which the page reads as little-endian */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "explore.c writes little-endian typed arrays: byte-swap them on this host"
#endif

enum { ATLAS_COLS = 32 }; /* 32 x 32 thumbnails per atlas image */

void am_explore_options_default(am_explore_options *o)
{
    memset(o, 0, sizeof *o);
    o->neighbours = 10;
    o->thumb_size = 64;
    o->max_thumbs = 20000;
}

/* A JSON string. */
static void json_str(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(fp, "\\%c", *p);
        else if (*p < 0x20) fprintf(fp, "\\u%04x", *p);
        else if (*p == '<') fputs("\\u003c", fp); /* no "</script>" inside a script */
        else fputc(*p, fp);
    }
    fputc('"', fp);
}

static void json_num(FILE *fp, double v)
{
    if (isfinite(v)) fprintf(fp, "%.7g", v);
    else fputs("null", fp);
}

/* Raw little-endian bytes as a base64 JSON string: the page reads them into a typed array, a
 * third the size of decimal text and no parsing per number (10^6 objects stay loadable). */
static void json_b64(FILE *fp, const void *data, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *b = data;
    fputc('"', fp);
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)b[i] << 16 | (i + 1 < len ? (unsigned)b[i + 1] << 8 : 0) | (i + 2 < len ? b[i + 2] : 0);
        char q[4] = {abc[v >> 18], abc[v >> 12 & 63], i + 1 < len ? abc[v >> 6 & 63] : '=',
                     i + 2 < len ? abc[v & 63] : '='};
        fwrite(q, 1, 4, fp);
    }
    fputc('"', fp);
}

static int by_category(const void *a, const void *b)
{
    const char *x = a, *y = b;
    char *ex, *ey;
    double u = strtod(x, &ex), v = strtod(y, &ey);
    if (ex != x && !*ex && ey != y && !*ey) return (u > v) - (u < v);
    return strcmp(x, y);
}

/* Cell text of a text or integer column ("" unknown). */
static void cell(const emb_table *t, const emb_col *c, int64_t row, char *out, size_t size)
{
    if (c->type == EMB_TEXT) emb_table_text(t, c, row, out, size);
    else snprintf(out, size, "%lld", (long long)emb_table_number(t, c, row));
}

/* A column the page can colour by: text and integer columns as categories (at most 64 listed,
 * the rest share a colour), numbers with their range; 0 when no row has a value. */
static int page_column(FILE *fp, const emb_table *t, const emb_col *c, int first)
{
    const int64_t n = t->e->n;
    char cats[64][80], v[256];
    int nc = 0, any = 0;
    const int category = c->type == EMB_TEXT || c->type == EMB_INT;
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (category) {
            cell(t, c, i, v, sizeof v);
            any |= v[0] != 0;
            int k = 0;
            while (k < nc && strcmp(cats[k], v)) k++;
            if (k == nc && nc < 64 && v[0]) snprintf(cats[nc++], sizeof cats[0], "%s", v);
        } else {
            double x = emb_table_number(t, c, i);
            if (isfinite(x)) lo = fmin(lo, x), hi = fmax(hi, x), any = 1;
        }
    }
    if (!any) return 0;
    fputs(first ? "" : ",\n", fp);
    fputs("{\"name\":", fp);
    json_str(fp, c->name);
    if (category) {
        /* the legend in order: numbers by value (cluster 2 before 10), text alphabetically */
        qsort(cats, (size_t)nc, sizeof cats[0], by_category);
        fputs(",\"kind\":\"category\",\"categories\":[", fp);
        for (int k = 0; k < nc; k++) fputs(k ? "," : "", fp), json_str(fp, cats[k]);
        fputs("]", fp);
    } else {
        fputs(",\"kind\":\"number\",\"min\":", fp);
        json_num(fp, lo);
        fputs(",\"max\":", fp);
        json_num(fp, hi);
    }
    fputs(",\"values\":[", fp);
    for (int64_t i = 0; i < n; i++) {
        fputs(i ? "," : "", fp);
        if (category) cell(t, c, i, v, sizeof v), json_str(fp, v);
        else json_num(fp, emb_table_number(t, c, i));
    }
    fputs("]}", fp);
    return 1;
}

typedef struct {
    float *xy; /* n x 2 map coordinates */
    int64_t *nb; /* n x k look-alikes, or NULL */
    float *sim; /* n x k their cosine similarities */
    int k;
    double *outlier; /* n, or NULL */
    int64_t *rank; /* rows by descending outlier score */
    int32_t *thumb; /* n: atlas slot or -1 */
    int nthumb;
    uint8_t *want; /* n: 1 for the rows offered a thumbnail */
    const char *map;
} explore_data;

static am_status write_data(const emb_table *t, const explore_data *d, const am_explore_options *o, const char *dir)
{
    const am_embeddings *e = t->e;
    char path[1100];
    snprintf(path, sizeof path, "%s/data.js", dir);
    am_atomic_file af;
    AM_TRY(am_atomic_open(&af, path, 0));
    FILE *fp = af.fp;
    const int64_t n = e->n;
    fprintf(fp, "/* written by astromorph explore */\nwindow.ASTROMORPH_DATA = {\"n\":%lld,\"map\":", (long long)n);
    json_str(fp, d->map);
    /* typed arrays as base64 (json_b64); screen y grows downwards: the map's y is drawn upwards */
    const size_t nn = (size_t)n, nk = d->nb ? nn * (size_t)d->k : 0;
    float *f = malloc((nn > nk ? nn : nk) * sizeof *f);
    if (!f) {
        am_atomic_abort(&af);
        return am_error(AM_ERR_NOMEM, "explore: out of memory for data.js");
    }
    for (int a = 0; a < 2; a++) {
        for (size_t i = 0; i < nn; i++) f[i] = a ? -d->xy[2 * i + 1] : d->xy[2 * i];
        fprintf(fp, ",\n\"%s\":", a ? "y" : "x");
        json_b64(fp, f, nn * sizeof *f);
    }
    fputs(",\n\"object\":[", fp);
    char text[1024];
    const emb_col *object = t->cols;
    while (object->source != EMB_OBJECT) object++; /* the table always has one */
    for (int64_t i = 0; i < n; i++) {
        emb_table_text(t, object, i, text, sizeof text); /* "" when unknown */
        fputs(i ? "," : "", fp), json_str(fp, text);
    }
    fputs("],\n\"file\":[", fp);
    for (int64_t i = 0; i < n; i++) fputs(i ? "," : "", fp), json_str(fp, e->meta[i].filepath);
    fputs("],\n\"thumb\":", fp);
    json_b64(fp, d->thumb, nn * sizeof *d->thumb);
    fprintf(fp, ",\n\"atlas\":{\"size\":%d,\"cols\":%d,\"files\":[", o->thumb_size, ATLAS_COLS);
    int per = ATLAS_COLS * ATLAS_COLS, natlas = (d->nthumb + per - 1) / per;
    for (int a = 0; a < natlas; a++) fprintf(fp, "%s\"atlas_%d.png\"", a ? "," : "", a);
    /* n x k rows (int32) and their similarities in units of 1/32767 (int16: 4 decimals) */
    fprintf(fp, "]},\n\"k\":%d,\n\"neighbours\":", d->nb ? d->k : 0);
    int32_t *ib = (int32_t *)f;
    for (size_t i = 0; i < nk; i++) ib[i] = (int32_t)d->nb[i];
    json_b64(fp, ib, nk * sizeof *ib);
    fputs(",\n\"similarity\":", fp);
    int16_t *sb = (int16_t *)f;
    for (size_t i = 0; i < nk; i++) sb[i] = (int16_t)lrint(32767.0 * fmax(-1.0, fmin(1.0, d->sim[i])));
    json_b64(fp, sb, nk * sizeof *sb);
    free(f);
    fputs(",\n\"outlier_rank\":[", fp);
    for (int64_t i = 0; d->rank && i < n && i < 1000; i++) fprintf(fp, "%s%lld", i ? "," : "", (long long)d->rank[i]);
    /* the catalogue's columns (emb_table.h, as the FITS table and VOTable have them) that can
     * colour a map: the cluster first, then the header's, the statistics and the outlier score */
    fputs("],\n\"columns\":[", fp);
    int nc = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < t->ncols; k++) {
            const emb_col *c = &t->cols[k];
            int skip = c->source == EMB_FILE || c->source == EMB_HDU || c->source == EMB_OBJECT ||
                       c->source == EMB_OBSRA || c->source == EMB_OBSDEC || c->source == EMB_RADEC_SRC ||
                       c->source == EMB_EMBEDDING;
            if (!skip && (c->source == EMB_CLUSTER) == (pass == 0)) nc += page_column(fp, t, c, nc == 0);
        }
    fputs("]};\n", fp);
    return am_atomic_commit(&af);
}

/* atlas_<k>.png, then blank for the next thumbnails. */
static am_status write_atlas(uint8_t *atlas, int side, const char *dir, int k)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/atlas_%d.png", dir, k);
    am_status s = am_png_write(path, atlas, side, side, 3, (size_t)side * 3);
    memset(atlas, 0, (size_t)side * side * 3);
    return s;
}

/* The thumbnails, 32 x 32 to an RGB atlas image; d->thumb[i] gets row i's slot. */
static am_status write_atlases(const am_embeddings *e, const am_explore_options *o, am_explore_thumb_fn fn, void *user,
                               explore_data *d, const char *dir)
{
    const int S = o->thumb_size, side = S * ATLAS_COLS, per = ATLAS_COLS * ATLAS_COLS;
    for (int64_t i = 0; i < e->n; i++) d->thumb[i] = -1;
    if (!fn) return AM_OK;
    uint8_t *atlas = calloc((size_t)side * side * 3, 1);
    if (!atlas) return am_error(AM_ERR_NOMEM, "explore: out of memory for the thumbnails");
    am_status s = AM_OK;
    int slot = 0, missing = 0;
    for (int64_t i = 0; s == AM_OK && i < e->n; i++) {
        if (!d->want[i]) continue;
        am_thumbnail t = {0};
        am_status ts = fn(user, i, S, &t);
        int added = ts == AM_OK && t.size == S && (t.channels == 1 || t.channels == 3);
        if (added) {
            int j = slot % per, ox = (j % ATLAS_COLS) * S, oy = (j / ATLAS_COLS) * S;
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                    for (int c = 0; c < 3; c++)
                        atlas[((size_t)(oy + y) * side + ox + x) * 3 + c] =
                            t.pixels[((size_t)y * S + x) * t.channels + (t.channels == 3 ? c : 0)];
            d->thumb[i] = slot++;
        } else {
            missing++;
        }
        am_thumbnail_free(&t);
        if (added && slot % per == 0) s = write_atlas(atlas, side, dir, slot / per - 1); /* a full one */
    }
    if (s == AM_OK && slot % per) s = write_atlas(atlas, side, dir, slot / per); /* the last, part-filled */
    if (missing)
        am_log(AM_LOG_WARN, "explore: %d of %d images offered a thumbnail had none (drawn as points)", missing,
               missing + slot);
    d->nthumb = slot;
    free(atlas);
    return s;
}

/* Occupied cells of a g x g grid over the map's bounding box; with who (g*g, else NULL) each
 * cell's row nearest its centre (the lower row on a tie). */
static int64_t grid_cells(const float *xy, int64_t n, int64_t g, int64_t *who, double *best)
{
    float lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int64_t i = 0; i < n; i++)
        for (int a = 0; a < 2; a++) lo[a] = fminf(lo[a], xy[2 * i + a]), hi[a] = fmaxf(hi[a], xy[2 * i + a]);
    double w[2] = {fmax(hi[0] - lo[0], 1e-30) / (double)g, fmax(hi[1] - lo[1], 1e-30) / (double)g};
    for (int64_t c = 0; c < g * g; c++) who[c] = -1, best[c] = INFINITY;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t c[2];
        double dd = 0;
        for (int a = 0; a < 2; a++) {
            c[a] = (int64_t)((xy[2 * i + a] - lo[a]) / w[a]);
            c[a] = c[a] < 0 ? 0 : c[a] >= g ? g - 1 : c[a];
            double off = (xy[2 * i + a] - lo[a]) / w[a] - ((double)c[a] + 0.5);
            dd += off * off;
        }
        int64_t k = c[1] * g + c[0];
        m += who[k] < 0;
        if (dd < best[k]) best[k] = dd, who[k] = i;
    }
    return m;
}

/* Which rows get a thumbnail: all when there are at most o->max_thumbs, else a sample spread
 * over the map: the finest square grid (growing by 1/8 from √max_thumbs cells a side, to 4×
 * that) whose occupied cells number at most max_thumbs, each cell's row nearest its centre.
 * So dense regions and sparse ones alike have thumbnails; deterministic, no seed needed. */
static am_status pick_thumbs(const float *xy, int64_t n, int64_t cap, uint8_t *want)
{
    if (n <= cap) {
        memset(want, 1, (size_t)n);
        return AM_OK;
    }
    memset(want, 0, (size_t)n);
    if (cap < 1) return AM_OK;
    const int64_t g0 = (int64_t)floor(sqrt((double)cap)), gmax = 4 * g0;
    int64_t *who = malloc((size_t)(gmax * gmax) * sizeof *who);
    double *best = malloc((size_t)(gmax * gmax) * sizeof *best);
    if (!who || !best) {
        free(who), free(best);
        return am_error(AM_ERR_NOMEM, "explore: out of memory choosing the thumbnails");
    }
    int64_t g = g0;
    for (int64_t next = g0 + g0 / 8 + 1; next <= gmax && grid_cells(xy, n, next, who, best) <= cap;
         next += next / 8 + 1)
        g = next;
    grid_cells(xy, n, g, who, best);
    for (int64_t c = 0; c < g * g; c++)
        if (who[c] >= 0) want[who[c]] = 1;
    free(who), free(best);
    return AM_OK;
}

/* The map: t-SNE, or the first two principal components. */
static am_status make_map(const am_embeddings *e, const am_explore_options *o, explore_data *d)
{
    int tsne = o->map == AM_EXPLORE_MAP_TSNE || (o->map == AM_EXPLORE_MAP_AUTO && e->n <= AM_EXPLORE_TSNE_MAX);
    if (tsne && e->n >= 4) {
        am_tsne_options to;
        am_tsne_options_default(&to);
        to.seed = o->seed;
        if (o->tsne_iterations > 0) to.iterations = o->tsne_iterations;
        d->map = "t-SNE";
        /* 10^5 rows take about two minutes on 2 cores (docs/analysis.md): say so before it starts */
        if (e->n > 50000)
            am_log(AM_LOG_INFO, "explore: a t-SNE map of %lld objects takes minutes (--map pca: seconds)",
                   (long long)e->n);
        return am_tsne(e->data, e->n, e->dim, &to, d->xy, NULL);
    }
    d->map = "PCA";
    if (e->n < 2 || e->dim < 2) {
        for (int64_t i = 0; i < e->n; i++) d->xy[2 * i] = (float)i, d->xy[2 * i + 1] = 0;
        return AM_OK;
    }
    am_pca p;
    AM_TRY(am_pca_fit(e->data, e->n, e->dim, 2, &p));
    am_status s = am_pca_transform(&p, e->data, e->n, d->xy);
    am_pca_free(&p);
    return s;
}

static am_status write_page(const char *dir)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/index.html", dir);
    am_atomic_file af;
    AM_TRY(am_atomic_open(&af, path, 0));
    if (fwrite(am_explore_page, 1, am_explore_page_len, af.fp) != am_explore_page_len) {
        am_atomic_abort(&af);
        return am_error(AM_ERR_IO, "%s: cannot write", path);
    }
    return am_atomic_commit(&af);
}

am_status am_explore_write(const am_embeddings *e, const am_explore_options *opt, am_explore_thumb_fn thumb, void *user,
                           const char *dir)
{
    am_explore_options o;
    if (opt) o = *opt;
    else am_explore_options_default(&o);
    if (e->n < 1) return am_error(AM_ERR_VALUE, "explore: no embeddings");
    if (o.thumb_size < 8 || o.thumb_size > 256 || o.neighbours < 1 || o.max_thumbs < 0)
        return am_error(AM_ERR_VALUE,
                        "explore: thumbnails of 8 to 256 pixels, at least one look-alike, max_thumbs >= 0");
    AM_TRY(am_mkdirs(dir));
    explore_data d = {0};
    d.k = o.neighbours < e->n - 1 ? o.neighbours : (int)(e->n - 1);
    d.xy = malloc((size_t)e->n * 2 * sizeof *d.xy);
    d.thumb = malloc((size_t)e->n * sizeof *d.thumb);
    am_status s = d.xy && d.thumb ? AM_OK : am_error(AM_ERR_NOMEM, "explore: out of memory");
    if (s == AM_OK) s = make_map(e, &o, &d);
    if (s == AM_OK && d.k >= 1) {
        d.nb = malloc((size_t)e->n * d.k * sizeof *d.nb);
        d.sim = malloc((size_t)e->n * d.k * sizeof *d.sim);
        d.outlier = malloc((size_t)e->n * sizeof *d.outlier);
        d.rank = malloc((size_t)e->n * sizeof *d.rank);
        s = d.nb && d.sim && d.outlier && d.rank ? AM_OK : am_error(AM_ERR_NOMEM, "explore: out of memory");
        /* one k-NN graph for the look-alikes and the outliers: exact below 50 000 rows, our
         * inverted lists with exact re-scoring above, or the saved index's candidates re-scored
         * (src/analysis/knn.h) */
        am_knn_options ko;
        am_knn_options_default(&ko);
        ko.index = o.index;
        if (s == AM_OK) s = am_knn_search(e->data, e->n, e->dim, AM_METRIC_COSINE, d.k, &ko, d.nb, d.sim);
        /* the outlier score of `outliers --method knn --metric cosine`: mean distance to the k nearest */
        for (int64_t i = 0; s == AM_OK && i < e->n; i++) {
            double sum = 0;
            for (int j = 0; j < d.k; j++) sum += 1.0 - d.sim[i * d.k + j];
            d.outlier[i] = sum / d.k;
        }
        if (s == AM_OK) s = am_rank_desc(d.outlier, e->n, d.rank);
    }
    d.want = s == AM_OK ? malloc((size_t)e->n) : NULL;
    if (s == AM_OK)
        s = d.want ? pick_thumbs(d.xy, e->n, o.max_thumbs, d.want) : am_error(AM_ERR_NOMEM, "explore: out of memory");
    if (s == AM_OK) s = write_atlases(e, &o, thumb, user, &d, dir);
    /* the outlier score as the FITS table's column of the same name */
    char what[96];
    snprintf(what, sizeof what, "mean cosine distance to the %d nearest embeddings", d.k);
    am_table_column score = {"OUTLIER_KNN", "", what, d.outlier};
    emb_table t = {0};
    if (s == AM_OK) s = emb_table_make(&t, e, &score, d.outlier ? 1 : 0);
    if (s == AM_OK) s = write_data(&t, &d, &o, dir);
    emb_table_free(&t);
    if (s == AM_OK) s = write_page(dir);
    free(d.xy), free(d.thumb), free(d.nb), free(d.sim), free(d.outlier), free(d.rank), free(d.want);
    return s;
}
