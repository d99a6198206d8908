/* Hybrid embeddings (include/astromorph/hybrid.h). */
#include "astromorph/hybrid.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* Mean and share / (sqrt(width) · spread) of column j of x (n × d), finite values only. */
static void fit_column(const float *x, int64_t n, int64_t d, int64_t j, double share, float *mean, float *scale)
{
    double s = 0, q = 0;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = x[i * d + j];
        if (isfinite(v)) s += v, k++;
    }
    double m = k ? s / (double)k : 0;
    for (int64_t i = 0; i < n; i++) {
        double v = x[i * d + j];
        if (isfinite(v)) q += (v - m) * (v - m);
    }
    double sd = k > 1 ? sqrt(q / (double)k) : 0;
    *mean = (float)m;
    *scale = sd > 0 ? (float)(share / (sqrt((double)d) * sd)) : 0.0f;
}

am_status am_hybrid_fit(am_hybrid *h, const float *learned, int64_t n, int64_t dim, const float *stats, int64_t nstat,
                        double weight)
{
    AM_TRY(alloc(h, dim, nstat, weight));
    for (int64_t j = 0; j < dim; j++) fit_column(learned, n, dim, j, 1 - weight, &h->mean[j], &h->scale[j]);
    for (int64_t j = 0; j < nstat; j++) fit_column(stats, n, nstat, j, weight, &h->mean[dim + j], &h->scale[dim + j]);
    return AM_OK;
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
        cJSON_AddNumberToObject(o, "dim", (double)h->dim) && cJSON_AddNumberToObject(o, "nstat", (double)h->nstat)) {
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
