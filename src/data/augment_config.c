/* The augmentation pipeline's settings: defaults (the original's), keys for the [augmentation]
 * table, and range checks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/augment.h"

static const char *const kind_names[AM_AUG_COUNT] = {"jitter", "grayscale", "hflip", "vflip", "rotation", "blur", "stretch", "noise"};

const char *am_aug_name(am_aug_kind k) { return (k >= 0 && k < AM_AUG_COUNT) ? kind_names[k] : "?"; }

static int kind_of(const char *name, size_t len)
{
    for (int k = 0; k < AM_AUG_COUNT; k++)
        if (strlen(kind_names[k]) == len && !strncmp(kind_names[k], name, len)) return k;
    return -1;
}

void am_augment_original(am_augment *a)
{
    memset(a, 0, sizeof *a);
    a->normalize = 1;
    a->shared = 0;
    /* The original's order: ColorJitter, RandomGrayscale, RandomHorizontalFlip, RandomRotation,
     * GaussianBlur. */
    static const int order[] = {AM_AUG_JITTER, AM_AUG_GRAYSCALE, AM_AUG_HFLIP, AM_AUG_ROTATION, AM_AUG_BLUR};
    a->n_order = 5;
    memcpy(a->order, order, sizeof order);
    for (int k = 0; k < AM_AUG_COUNT; k++) a->step[k].enabled = 1;
    a->step[AM_AUG_VFLIP].enabled = 0;
    a->step[AM_AUG_JITTER].p = 0.3;
    a->step[AM_AUG_GRAYSCALE].p = 0.2;
    a->step[AM_AUG_HFLIP].p = 0.5;
    a->step[AM_AUG_VFLIP].p = 0.5;
    a->step[AM_AUG_ROTATION].p = 1.0;
    a->step[AM_AUG_BLUR].p = 0.2;
    a->jitter_brightness = 0.8;
    a->jitter_contrast = 0.8;
    a->rot_min_deg = 0.0;
    a->rot_max_deg = 360.0;
    a->rot_fill = 0.0;
    a->rot_interp = AM_INTERP_BILINEAR;
    a->blur_kernel = 3;
    a->blur_sigma_min = 1.0;
    a->blur_sigma_max = 2.0;
    a->step[AM_AUG_STRETCH].p = 0.5;
    a->step[AM_AUG_NOISE].p = 0.5;
    a->stretch_max = 20.0;
    a->noise_sigma = 0.03;
    a->view_size = 0;
    a->normalization = AM_NORMALIZE_MINMAX;
    a->crop.enabled = 1;
    a->crop.p = 1.0;
    a->crop_scale_min = 0.5;
    a->crop_scale_max = 1.0;
    a->crop_ratio = 4.0 / 3.0;
}

void am_augment_default(am_augment *a)
{
    am_augment_original(a);
    a->view_size = 64;
    a->normalization = AM_NORMALIZE_ASINH;
    static const int order[] = {AM_AUG_HFLIP, AM_AUG_VFLIP, AM_AUG_ROTATION, AM_AUG_STRETCH, AM_AUG_NOISE};
    a->n_order = 5;
    memcpy(a->order, order, sizeof order);
    for (int k = 0; k < AM_AUG_COUNT; k++) a->step[k].enabled = 0;
    for (int i = 0; i < a->n_order; i++) a->step[a->order[i]].enabled = 1;
}

void am_augment_none(am_augment *a)
{
    am_augment_original(a);
    for (int k = 0; k < AM_AUG_COUNT; k++) a->step[k].enabled = 0;
}

static am_status out_of_range(const char *key, double v, const char *range)
{
    return am_error(AM_ERR_VALUE, "augmentation: %s = %g is outside %s", key, v, range);
}

static am_status set_flag(int *dst, const char *key, double v)
{
    if (v != 0 && v != 1) return out_of_range(key, v, "{0, 1}");
    *dst = (int)v;
    return AM_OK;
}

am_status am_augment_set(am_augment *a, const char *key, double v)
{
    if (!isfinite(v)) return am_error(AM_ERR_VALUE, "augmentation: %s is not a finite number", key);
    if (!strcmp(key, "normalize")) return set_flag(&a->normalize, key, v);
    if (!strcmp(key, "shared")) return set_flag(&a->shared, key, v);
    if (!strcmp(key, "view_size")) {
        if (v < 0 || v > 4096 || v != floor(v) || (v > 0 && v < 8)) return out_of_range(key, v, "0 or integers 8..4096");
        a->view_size = (int)v;
        return AM_OK;
    }
    if (!strncmp(key, "crop.", 5)) {
        const char *f = key + 5;
        if (!strcmp(f, "enabled")) return set_flag(&a->crop.enabled, key, v);
        double *num = !strcmp(f, "p") ? &a->crop.p : !strcmp(f, "scale_min") ? &a->crop_scale_min
                    : !strcmp(f, "scale_max") ? &a->crop_scale_max : !strcmp(f, "ratio") ? &a->crop_ratio : NULL;
        if (!num) return am_error(AM_ERR_NOTFOUND, "augmentation: unknown key \"%s\"", key);
        if (num == &a->crop_ratio && v < 1) return out_of_range(key, v, "[1, inf)");
        if (num == &a->crop.p && (v < 0 || v > 1)) return out_of_range(key, v, "[0, 1]");
        if ((num == &a->crop_scale_min || num == &a->crop_scale_max) && !(v > 0 && v <= 1))
            return out_of_range(key, v, "(0, 1]");
        *num = v;
        return AM_OK;
    }
    const char *dot = strchr(key, '.');
    int kind = dot ? kind_of(key, (size_t)(dot - key)) : -1;
    if (kind < 0) return am_error(AM_ERR_NOTFOUND, "augmentation: unknown key \"%s\"", key);
    const char *field = dot + 1;
    if (!strcmp(field, "enabled")) {
        AM_TRY(set_flag(&a->step[kind].enabled, key, v));
        /* Switching on a transform that is not in the order list runs it last. */
        int listed = 0;
        for (int i = 0; i < a->n_order; i++) listed |= a->order[i] == kind;
        if (v == 1 && !listed && a->n_order < AM_AUG_COUNT) a->order[a->n_order++] = kind;
        return AM_OK;
    }
    if (!strcmp(field, "p")) {
        if (v < 0 || v > 1) return out_of_range(key, v, "[0, 1]");
        a->step[kind].p = v;
        return AM_OK;
    }
    double *num = NULL;
    double lo = 0, hi = INFINITY;
    const char *range = "[0, inf)";
    if (kind == AM_AUG_JITTER && !strcmp(field, "brightness")) num = &a->jitter_brightness;
    else if (kind == AM_AUG_JITTER && !strcmp(field, "contrast")) num = &a->jitter_contrast;
    else if (kind == AM_AUG_ROTATION && !strcmp(field, "min_degrees")) num = &a->rot_min_deg, lo = -INFINITY, range = "(-inf, inf)";
    else if (kind == AM_AUG_ROTATION && !strcmp(field, "max_degrees")) num = &a->rot_max_deg, lo = -INFINITY, range = "(-inf, inf)";
    else if (kind == AM_AUG_ROTATION && !strcmp(field, "fill")) num = &a->rot_fill, lo = -INFINITY, range = "(-inf, inf)";
    else if (kind == AM_AUG_ROTATION && !strcmp(field, "interpolation")) {
        if (v != 0 && v != 1) return out_of_range(key, v, "{0 nearest, 1 bilinear}");
        a->rot_interp = v == 0 ? AM_INTERP_NEAREST : AM_INTERP_BILINEAR;
        return AM_OK;
    } else if (kind == AM_AUG_BLUR && !strcmp(field, "kernel")) {
        if (v < 1 || v > 63 || v != floor(v) || fmod(v, 2) != 1) return out_of_range(key, v, "odd integers 1..63");
        a->blur_kernel = (int)v;
        return AM_OK;
    } else if (kind == AM_AUG_BLUR && !strcmp(field, "sigma_min")) num = &a->blur_sigma_min, lo = 1e-6, range = "(0, inf)";
    else if (kind == AM_AUG_BLUR && !strcmp(field, "sigma_max")) num = &a->blur_sigma_max, lo = 1e-6, range = "(0, inf)";
    else if (kind == AM_AUG_STRETCH && !strcmp(field, "max")) num = &a->stretch_max;
    else if (kind == AM_AUG_NOISE && !strcmp(field, "sigma")) num = &a->noise_sigma;
    if (!num) return am_error(AM_ERR_NOTFOUND, "augmentation: unknown key \"%s\"", key);
    if (v < lo || v > hi) return out_of_range(key, v, range);
    *num = v;
    return AM_OK;
}

static am_status set_order(am_augment *a, const char *list)
{
    int order[AM_AUG_COUNT], n = 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        size_t len = strcspn(p, ", ");
        int k = kind_of(p, len);
        if (k < 0) return am_error(AM_ERR_VALUE, "augmentation: order: unknown transform \"%.*s\"", (int)len, p);
        for (int i = 0; i < n; i++)
            if (order[i] == k) return am_error(AM_ERR_VALUE, "augmentation: order: \"%s\" listed twice", kind_names[k]);
        order[n++] = k;
        p += len;
    }
    memcpy(a->order, order, sizeof order);
    a->n_order = n;
    for (int k = 0; k < AM_AUG_COUNT; k++) a->step[k].enabled = 0;
    for (int i = 0; i < n; i++) a->step[order[i]].enabled = 1;
    return AM_OK;
}

am_status am_augment_set_str(am_augment *a, const char *key, const char *value)
{
    if (!strcmp(key, "order")) return set_order(a, value);
    if (!strcmp(key, "normalization")) {
        am_status s = am_normalization_parse(value, &a->normalization);
        return s == AM_OK ? s : am_error(AM_ERR_VALUE, "augmentation: %s", am_errmsg());
    }
    if (!strcmp(key, "rotation.interpolation")) {
        if (!strcmp(value, "nearest")) a->rot_interp = AM_INTERP_NEAREST;
        else if (!strcmp(value, "bilinear")) a->rot_interp = AM_INTERP_BILINEAR;
        else return am_error(AM_ERR_VALUE, "augmentation: rotation.interpolation = \"%s\" is not \"nearest\" or \"bilinear\"", value);
        return AM_OK;
    }
    char *end = NULL;
    double v = strtod(value, &end);
    if (end == value || *end) {
        if (!strcmp(value, "true")) v = 1;
        else if (!strcmp(value, "false")) v = 0;
        else return am_error(AM_ERR_VALUE, "augmentation: %s = \"%s\" is not a number", key, value);
    }
    return am_augment_set(a, key, v);
}

am_status am_augment_check(const am_augment *a)
{
    if (a->blur_sigma_min > a->blur_sigma_max)
        return am_error(AM_ERR_VALUE, "augmentation: blur.sigma_min %g is above blur.sigma_max %g", a->blur_sigma_min,
                        a->blur_sigma_max);
    if (a->rot_min_deg > a->rot_max_deg)
        return am_error(AM_ERR_VALUE, "augmentation: rotation.min_degrees %g is above rotation.max_degrees %g",
                        a->rot_min_deg, a->rot_max_deg);
    if (a->crop_scale_min > a->crop_scale_max)
        return am_error(AM_ERR_VALUE, "augmentation: crop.scale_min %g is above crop.scale_max %g", a->crop_scale_min,
                        a->crop_scale_max);
    if (a->blur_kernel < 1 || a->blur_kernel > 63 || a->blur_kernel % 2 == 0)
        return am_error(AM_ERR_VALUE, "augmentation: blur.kernel %d is not an odd integer in 1..63", a->blur_kernel);
    if (a->n_order < 0 || a->n_order > AM_AUG_COUNT) return am_error(AM_ERR_VALUE, "augmentation: bad order length %d", a->n_order);
    for (int i = 0; i < a->n_order; i++)
        if (a->order[i] < 0 || a->order[i] >= AM_AUG_COUNT)
            return am_error(AM_ERR_VALUE, "augmentation: order[%d] = %d is no transform", i, a->order[i]);
    for (int k = 0; k < AM_AUG_COUNT; k++)
        if (!(a->step[k].p >= 0 && a->step[k].p <= 1))
            return am_error(AM_ERR_VALUE, "augmentation: %s.p = %g is outside [0, 1]", kind_names[k], a->step[k].p);
    return AM_OK;
}
