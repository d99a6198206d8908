/* The augmentation pipeline's settings: defaults (the original's and ours), the [augmentation]
 * table's keys as rows of the settings schema, and the checks between keys. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/augment.h"

#include "../core/schema.h"
#include "augment_internal.h"

static const char *const kind_names[AM_AUG_COUNT] = {"jitter",   "grayscale", "hflip",   "vflip",
                                                     "rotation", "blur",      "stretch", "noise"};

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
    a->local_views = 0;
    a->local_size = 32;
    a->local_scale_min = 0.05;
    a->local_scale_max = 0.4;
}

am_augment am_augment_local(const am_augment *a)
{
    am_augment l = *a;
    l.view_size = a->local_size;
    l.crop.enabled = 1, l.crop.p = 1.0;
    l.crop_scale_min = a->local_scale_min, l.crop_scale_max = a->local_scale_max;
    return l;
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

/* ---- the [augmentation] keys ---- */

/* Switching on a transform that is not in the order list runs it last. */
static am_status enabled_changed(void *base, const am_key *k, const am_key_value *v, const char *name)
{
    (void)v, (void)name;
    am_augment *a = base;
    int kind = (int)((k->offset - offsetof(am_augment, step)) / sizeof(am_aug_step));
    int listed = 0;
    for (int i = 0; i < a->n_order; i++) listed |= a->order[i] == kind;
    if (a->step[kind].enabled && !listed && a->n_order < AM_AUG_COUNT) a->order[a->n_order++] = kind;
    return AM_OK;
}

/* order: names separated by commas (or a TOML array of them); the others are switched off. */
static am_status set_order(void *base, const am_key *k, const am_key_value *v, const char *name)
{
    (void)k;
    am_augment *a = base;
    int order[AM_AUG_COUNT], n = 0;
    char list[512] = "";
    if (v->kind == AM_VALUE_LIST) {
        for (size_t i = 0; i < v->n; i++) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%s%s", i ? "," : "", v->items[i]);
        }
    } else if (v->kind == AM_VALUE_STRING) {
        snprintf(list, sizeof list, "%s", v->str);
    } else {
        return am_error(AM_ERR_VALUE, "%s must be a list of transforms, not %s", name, am_value_what(v));
    }
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        size_t len = strcspn(p, ", ");
        int kind = kind_of(p, len);
        if (kind < 0) return am_error(AM_ERR_VALUE, "%s: unknown transform \"%.*s\"", name, (int)len, p);
        for (int i = 0; i < n; i++)
            if (order[i] == kind) return am_error(AM_ERR_VALUE, "%s: \"%s\" listed twice", name, kind_names[kind]);
        order[n++] = kind;
        p += len;
    }
    memcpy(a->order, order, sizeof order);
    a->n_order = n;
    for (int kind = 0; kind < AM_AUG_COUNT; kind++) a->step[kind].enabled = 0;
    for (int i = 0; i < n; i++) a->step[order[i]].enabled = 1;
    return AM_OK;
}

static int format_order(const void *base, const am_key *k, char *buf, size_t size)
{
    (void)k;
    const am_augment *a = base;
    char list[256] = "";
    for (int i = 0; i < a->n_order; i++) {
        size_t n = strlen(list);
        snprintf(list + n, sizeof list - n, "%s%s", i ? "," : "", am_aug_name((am_aug_kind)a->order[i]));
    }
    am_toml_quote(list, buf, size);
    return 1;
}

#define AT(field) offsetof(am_augment, field)
#define STEP(kind, field) (offsetof(am_augment, step) + (kind) * sizeof(am_aug_step) + offsetof(am_aug_step, field))
#define ANY -INFINITY, INFINITY
/* clang-format off */
#define STEP_KEYS(name, kind, what)                                                                  \
    {name ".enabled", AM_KEY_BOOL, STEP(kind, enabled), 0, 0, AM_KEY_LOOSE, .doc = "run " what,      \
     .set = enabled_changed},                                                                        \
    {name ".p", AM_KEY_FLOAT, STEP(kind, p), 0, 1, AM_KEY_LOOSE, .doc = "probability of " what}
/* clang-format on */

static const char *const normalization_names[] = {"minmax", "asinh", NULL};
static const char *const interp_names[] = {"nearest", "bilinear", NULL};

const am_key am_augment_keys[] = {
    {"normalize", AM_KEY_BOOL, AT(normalize), 0, 0, AM_KEY_LOOSE,
     .doc = "min-max each view to [0, 1] before augmenting (the original's)"},
    {"shared", AM_KEY_BOOL, AT(shared), 0, 0, AM_KEY_LOOSE,
     .doc = "one draw of parameters for a whole batch, as torchvision on a batch tensor"},
    {"order", AM_KEY_CUSTOM, 0, 0, 0, AM_KEY_LOOSE,
     .doc = "the transforms that run, in this order (names separated by commas, or an array); others are off",
     .set = set_order, .format = format_order,
     .rule = "names from jitter, grayscale, hflip, vflip, rotation, blur, stretch, noise"},
    {"view_size", AM_KEY_INT, AT(view_size), 8, 4096, AM_KEY_LOOSE | AM_KEY_ZERO_OK,
     .doc = "S: views are random-resized crops rendered at S x S, inference sees the whole image at S x S; "
            "0: each image's own size (the original)"},
    {"normalization", AM_KEY_CHOICE, AM_KEY_ENUM_AT(am_augment, normalization), 0, 0, AM_KEY_LOOSE,
     .choices = normalization_names,
     .doc = "\"asinh\": median to 0, 99.9th percentile to 1, then asinh; \"minmax\": the original's"},
    {"crop.enabled", AM_KEY_BOOL, AT(crop.enabled), 0, 0, AM_KEY_LOOSE, .doc = "views cut from random-resized crops"},
    {"crop.p", AM_KEY_FLOAT, AT(crop.p), 0, 1, AM_KEY_LOOSE, .doc = "probability of a crop (else the whole image)"},
    {"crop.scale_min", AM_KEY_FLOAT, AT(crop_scale_min), 0, 1, AM_KEY_LOOSE | AM_KEY_OPEN_LO,
     .doc = "smallest area fraction of a crop"},
    {"crop.scale_max", AM_KEY_FLOAT, AT(crop_scale_max), 0, 1, AM_KEY_LOOSE | AM_KEY_OPEN_LO,
     .doc = "largest area fraction of a crop"},
    {"crop.ratio", AM_KEY_FLOAT, AT(crop_ratio), 1, INFINITY, AM_KEY_LOOSE,
     .doc = "aspect ratios log-uniform in [1/ratio, ratio]"},
    {"local.views", AM_KEY_INT, AT(local_views), 0, 16, AM_KEY_LOOSE,
     .doc = "multi-crop: small views of each image beside the two global ones, online branch only (needs view_size)"},
    {"local.size", AM_KEY_INT, AT(local_size), 8, 4096, AM_KEY_LOOSE, .doc = "local views rendered at this size"},
    {"local.scale_min", AM_KEY_FLOAT, AT(local_scale_min), 0, 1, AM_KEY_LOOSE | AM_KEY_OPEN_LO,
     .doc = "smallest area fraction of a local view's crop"},
    {"local.scale_max", AM_KEY_FLOAT, AT(local_scale_max), 0, 1, AM_KEY_LOOSE | AM_KEY_OPEN_LO,
     .doc = "largest area fraction of a local view's crop"},
    STEP_KEYS("jitter", AM_AUG_JITTER, "brightness and contrast jitter"),
    {"jitter.brightness", AM_KEY_FLOAT, AT(jitter_brightness), 0, INFINITY, AM_KEY_LOOSE,
     .doc = "brightness factor uniform in [max(0, 1 - v), 1 + v]"},
    {"jitter.contrast", AM_KEY_FLOAT, AT(jitter_contrast), 0, INFINITY, AM_KEY_LOOSE,
     .doc = "contrast factor uniform in [max(0, 1 - v), 1 + v]"},
    STEP_KEYS("grayscale", AM_AUG_GRAYSCALE, "grey scale (3-channel views only)"),
    STEP_KEYS("hflip", AM_AUG_HFLIP, "a horizontal flip"),
    STEP_KEYS("vflip", AM_AUG_VFLIP, "a vertical flip"),
    STEP_KEYS("rotation", AM_AUG_ROTATION, "a rotation"),
    {"rotation.min_degrees", AM_KEY_FLOAT, AT(rot_min_deg), ANY, AM_KEY_LOOSE, .doc = "smallest angle"},
    {"rotation.max_degrees", AM_KEY_FLOAT, AT(rot_max_deg), ANY, AM_KEY_LOOSE, .doc = "largest angle"},
    {"rotation.interpolation", AM_KEY_CHOICE, AM_KEY_ENUM_AT(am_augment, rot_interp), 0, 0, AM_KEY_LOOSE,
     .choices = interp_names, .doc = "how a rotated view is resampled"},
    {"rotation.fill", AM_KEY_FLOAT, AT(rot_fill), ANY, AM_KEY_LOOSE, .doc = "value of pixels rotated in from outside"},
    STEP_KEYS("blur", AM_AUG_BLUR, "a Gaussian blur"),
    {"blur.kernel", AM_KEY_INT, AT(blur_kernel), 1, 63, AM_KEY_LOOSE | AM_KEY_ODD, .doc = "kernel size in pixels"},
    {"blur.sigma_min", AM_KEY_FLOAT, AT(blur_sigma_min), 0, INFINITY, AM_KEY_LOOSE | AM_KEY_OPEN_LO,
     .doc = "smallest sigma in pixels"},
    {"blur.sigma_max", AM_KEY_FLOAT, AT(blur_sigma_max), 0, INFINITY, AM_KEY_LOOSE | AM_KEY_OPEN_LO,
     .doc = "largest sigma in pixels"},
    STEP_KEYS("stretch", AM_AUG_STRETCH, "an asinh stretch jitter"),
    {"stretch.max", AM_KEY_FLOAT, AT(stretch_max), 0, INFINITY, AM_KEY_LOOSE,
     .doc = "views y = asinh(a x) / asinh(a), a = exp(U[0, ln(1 + max)]) - 1"},
    STEP_KEYS("noise", AM_AUG_NOISE, "Gaussian noise"),
    {"noise.sigma", AM_KEY_FLOAT, AT(noise_sigma), 0, INFINITY, AM_KEY_LOOSE,
     .doc = "noise of standard deviation U[0, sigma] in normalised units"},
    {NULL}};

am_status am_augment_set(am_augment *a, const char *key, double value)
{
    const am_key *k = am_key_find(am_augment_keys, key);
    if (!k) return am_error(AM_ERR_NOTFOUND, "augmentation: unknown key \"%s\"", key);
    am_key_value v = {.kind = AM_VALUE_FLOAT, .number = value};
    am_status s = am_key_set(k, a, &v, key);
    return s == AM_OK ? s : am_error_prefix(s, "augmentation");
}

am_status am_augment_set_str(am_augment *a, const char *key, const char *value)
{
    const am_key *k = am_key_find(am_augment_keys, key);
    if (!k) return am_error(AM_ERR_NOTFOUND, "augmentation: unknown key \"%s\"", key);
    am_key_value v = {.kind = AM_VALUE_STRING, .str = value};
    if (k->type != AM_KEY_CHOICE && k->type != AM_KEY_CUSTOM) {
        /* numbers and booleans given as text */
        char *end = NULL;
        double x = strtod(value, &end);
        if (!strcmp(value, "true") || !strcmp(value, "false"))
            v = (am_key_value){.kind = AM_VALUE_BOOL, .boolean = value[0] == 't'};
        else if (end != value && !*end) v = (am_key_value){.kind = AM_VALUE_FLOAT, .number = x};
    }
    am_status s = am_key_set(k, a, &v, key);
    return s == AM_OK ? s : am_error_prefix(s, "augmentation");
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
    if (a->local_scale_min > a->local_scale_max)
        return am_error(AM_ERR_VALUE, "augmentation: local.scale_min %g is above local.scale_max %g",
                        a->local_scale_min, a->local_scale_max);
    if (a->local_views > 0 && a->view_size <= 0)
        return am_error(AM_ERR_VALUE, "augmentation: local.views = %d needs views at a common size (view_size > 0)",
                        a->local_views);
    if (a->blur_kernel < 1 || a->blur_kernel > 63 || a->blur_kernel % 2 == 0)
        return am_error(AM_ERR_VALUE, "augmentation: blur.kernel %d is not an odd integer in 1..63", a->blur_kernel);
    if (a->n_order < 0 || a->n_order > AM_AUG_COUNT)
        return am_error(AM_ERR_VALUE, "augmentation: bad order length %d", a->n_order);
    for (int i = 0; i < a->n_order; i++)
        if (a->order[i] < 0 || a->order[i] >= AM_AUG_COUNT)
            return am_error(AM_ERR_VALUE, "augmentation: order[%d] = %d is no transform", i, a->order[i]);
    for (int k = 0; k < AM_AUG_COUNT; k++)
        if (!(a->step[k].p >= 0 && a->step[k].p <= 1))
            return am_error(AM_ERR_VALUE, "augmentation: %s.p = %g is outside [0, 1]", kind_names[k], a->step[k].p);
    return AM_OK;
}
