/* Hybrid embeddings (include/astromorph/hybrid.h). */
#include "astromorph/hybrid.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/tensor.h"

void am_hybrid_free(am_hybrid *h)
{
    free(h->mean), free(h->scale);
    memset(h, 0, sizeof *h);
}

static am_status alloc(am_hybrid *h, int64_t dim, int64_t nstat, double weight)
{
    memset(h, 0, sizeof *h);
    if (dim < 1 || nstat < 0 || !(weight >= 0 && weight <= 1))
        return am_error(AM_ERR_VALUE, "hybrid: %lld learned values, %lld statistics, weight %g", (long long)dim,
                        (long long)nstat, weight);
    h->weight = weight, h->dim = dim, h->nstat = nstat;
    h->mean = malloc((size_t)(dim + nstat) * sizeof *h->mean);
    h->scale = malloc((size_t)(dim + nstat) * sizeof *h->scale);
    if (!h->mean || !h->scale) {
        am_hybrid_free(h);
        return am_error(AM_ERR_NOMEM, "hybrid: out of memory");
    }
    return AM_OK;
}

const char *const am_hybrid_scale_names[] = {"columns", "block", "robust", NULL};

void am_hybrid_options_default(am_hybrid_options *o)
{
    o->weight = 0.5, o->learned = AM_HYBRID_COLUMNS, o->stats = AM_HYBRID_COLUMNS;
}

const char *am_hybrid_scale_name(am_hybrid_scale s) { return (unsigned)s < 3 ? am_hybrid_scale_names[s] : "?"; }

am_status am_hybrid_scale_parse(const char *name, am_hybrid_scale *s)
{
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, am_hybrid_scale_names[i]) == 0) {
            *s = (am_hybrid_scale)i;
            return AM_OK;
        }
    return am_error(AM_ERR_VALUE, "hybrid scaling '%s': must be \"columns\", \"block\" or \"robust\"",
                    name ? name : "");
}

/* The finite values of column j of x (n × d) into v; their count. */
static int64_t column(const float *x, int64_t n, int64_t d, int64_t j, float *v)
{
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(x[i * d + j])) v[k++] = x[i * d + j];
    return k;
}

static void mean_sd(const float *v, int64_t k, double *mean, double *sd)
{
    double s = 0, q = 0;
    for (int64_t i = 0; i < k; i++) s += v[i];
    double m = k ? s / (double)k : 0;
    for (int64_t i = 0; i < k; i++) q += (v[i] - m) * (v[i] - m);
    *mean = m, *sd = k > 1 ? sqrt(q / (double)k) : 0;
}

/* The median of v[0..k), k >= 1; reorders v. */
static double median(float *v, int64_t k)
{
    double hi = am_select_kth(v, k, k / 2);
    return k % 2 ? hi : 0.5 * (am_select_kth(v, k, k / 2 - 1) + hi);
}

/* Offsets and scales of the d columns of x (n × d) for a block of share `share`, into mean[0..d)
 * and scale[0..d); v is scratch for n values. */
static void fit_block(const float *x, int64_t n, int64_t d, double share, am_hybrid_scale how, float *v, float *mean,
                      float *scale)
{
    double total = 0; /* the block's total variance, for AM_HYBRID_BLOCK */
    for (int64_t j = 0; j < d; j++) {
        int64_t k = column(x, n, d, j, v);
        double m, sd;
        mean_sd(v, k, &m, &sd);
        total += sd * sd;
        if (how == AM_HYBRID_ROBUST && k > 0) {
            /* median and MAD, scaled to equal the standard deviation of a normal distribution */
            double med = median(v, k);
            for (int64_t i = 0; i < k; i++) v[i] = (float)fabs(v[i] - med);
            double mad = 1.4826 * median(v, k);
            m = med;
            if (mad > 0) sd = mad; /* over half the values equal: the spread of the rest decides */
        }
        mean[j] = (float)m;
        scale[j] = sd > 0 ? (float)(share / (sqrt((double)d) * sd)) : 0.0f;
    }
    /* one scale for the whole block: its squared distances keep their shape and total share */
    if (how == AM_HYBRID_BLOCK)
        for (int64_t j = 0; j < d; j++) scale[j] = total > 0 ? (float)(share / sqrt(total)) : 0.0f;
}

am_status am_hybrid_fit_with(am_hybrid *h, const float *learned, int64_t n, int64_t dim, const float *stats,
                             int64_t nstat, const am_hybrid_options *o)
{
    AM_TRY(alloc(h, dim, nstat, o->weight));
    if ((unsigned)o->learned > AM_HYBRID_ROBUST || (unsigned)o->stats > AM_HYBRID_ROBUST) {
        am_hybrid_free(h);
        return am_error(AM_ERR_VALUE, "hybrid: unknown scaling %d / %d", (int)o->learned, (int)o->stats);
    }
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v) {
        am_hybrid_free(h);
        return am_error(AM_ERR_NOMEM, "hybrid: out of memory");
    }
    h->learned_scale = o->learned, h->stats_scale = o->stats;
    fit_block(learned, n, dim, 1 - o->weight, o->learned, v, h->mean, h->scale);
    if (nstat > 0) fit_block(stats, n, nstat, o->weight, o->stats, v, h->mean + dim, h->scale + dim);
    free(v);
    return AM_OK;
}

am_status am_hybrid_fit(am_hybrid *h, const float *learned, int64_t n, int64_t dim, const float *stats, int64_t nstat,
                        double weight)
{
    am_hybrid_options o;
    am_hybrid_options_default(&o);
    o.weight = weight;
    return am_hybrid_fit_with(h, learned, n, dim, stats, nstat, &o);
}

void am_hybrid_apply(const am_hybrid *h, const float *learned, const float *stats, float *out)
{
    for (int64_t j = 0; j < h->dim; j++) out[j] = isfinite(learned[j]) ? (learned[j] - h->mean[j]) * h->scale[j] : 0.0f;
    for (int64_t j = 0; j < h->nstat; j++) {
        float v = stats[j];
        out[h->dim + j] = isfinite(v) ? (v - h->mean[h->dim + j]) * h->scale[h->dim + j] : 0.0f;
    }
}

static cJSON *numbers(const float *v, int64_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < n; i++) {
        cJSON *x = cJSON_CreateNumber((double)v[i]);
        if (!x) {
            cJSON_Delete(a);
            return NULL;
        }
        cJSON_AddItemToArray(a, x);
    }
    return a;
}

char *am_hybrid_to_json(const am_hybrid *h)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON *m = numbers(h->mean, h->dim + h->nstat), *s = numbers(h->scale, h->dim + h->nstat);
    char *text = NULL;
    if (m && s && cJSON_AddNumberToObject(o, "weight", h->weight) &&
        cJSON_AddNumberToObject(o, "dim", (double)h->dim) && cJSON_AddNumberToObject(o, "nstat", (double)h->nstat) &&
        cJSON_AddStringToObject(o, "learned_scale", am_hybrid_scale_name(h->learned_scale)) &&
        cJSON_AddStringToObject(o, "stats_scale", am_hybrid_scale_name(h->stats_scale))) {
        cJSON_AddItemToObject(o, "mean", m);
        cJSON_AddItemToObject(o, "scale", s);
        m = s = NULL;
        text = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(m), cJSON_Delete(s), cJSON_Delete(o);
    return text;
}

am_status am_hybrid_from_json(am_hybrid *h, const char *json, const char *what)
{
    memset(h, 0, sizeof *h);
    cJSON *o = cJSON_Parse(json);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "weight"), *d = cJSON_GetObjectItemCaseSensitive(o, "dim"),
                *ns = cJSON_GetObjectItemCaseSensitive(o, "nstat"), *m = cJSON_GetObjectItemCaseSensitive(o, "mean"),
                *s = cJSON_GetObjectItemCaseSensitive(o, "scale");
    am_status st = AM_OK;
    if (!o || !cJSON_IsNumber(w) || !cJSON_IsNumber(d) || !cJSON_IsNumber(ns) || !cJSON_IsArray(m) ||
        !cJSON_IsArray(s) || d->valuedouble < 1 || d->valuedouble > 1 << 20 || ns->valuedouble < 0 ||
        ns->valuedouble > 4096 || d->valuedouble != floor(d->valuedouble) || ns->valuedouble != floor(ns->valuedouble))
        st = am_error(AM_ERR_FORMAT, "%s: metadata 'hybrid' is not a hybrid-embedding fit", what);
    if (st == AM_OK) st = alloc(h, (int64_t)d->valuedouble, (int64_t)ns->valuedouble, w->valuedouble);
    if (st == AM_OK && (cJSON_GetArraySize(m) != h->dim + h->nstat || cJSON_GetArraySize(s) != h->dim + h->nstat))
        st = am_error(AM_ERR_FORMAT, "%s: metadata 'hybrid' has %d means for %lld columns", what, cJSON_GetArraySize(m),
                      (long long)(h->dim + h->nstat));
    /* the scalings are a record of how the fit was made; older models lack them (columns) */
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(o, "learned_scale"),
                *ss = cJSON_GetObjectItemCaseSensitive(o, "stats_scale");
    if (st == AM_OK && cJSON_IsString(ls)) st = am_hybrid_scale_parse(ls->valuestring, &h->learned_scale);
    if (st == AM_OK && cJSON_IsString(ss)) st = am_hybrid_scale_parse(ss->valuestring, &h->stats_scale);
    int64_t i = 0;
    const cJSON *x;
    if (st == AM_OK) cJSON_ArrayForEach(x, m)
        {
            if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
                st = am_error(AM_ERR_FORMAT, "%s: hybrid mean %lld is not a number", what, (long long)i);
            else h->mean[i++] = (float)x->valuedouble;
        }
    i = 0;
    if (st == AM_OK) cJSON_ArrayForEach(x, s)
        {
            if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
                st = am_error(AM_ERR_FORMAT, "%s: hybrid scale %lld is not a number", what, (long long)i);
            else h->scale[i++] = (float)x->valuedouble;
        }
    cJSON_Delete(o);
    if (st != AM_OK) am_hybrid_free(h);
    return st;
}
