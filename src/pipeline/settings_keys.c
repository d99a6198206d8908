/* Every key of a settings file, as rows of the settings schema (src/core/schema.h): where its
 * value lives in am_settings, its type and range, and what it means. Reading, checking, the
 * effective-settings dump, "did you mean", the resume fingerprint, `astromorph settings` and the
 * key list of docs/pipeline.md all come from these rows. Defaults are not written here: they are
 * what am_train_settings_default and the other _default functions set (ours) and their
 * _original twins (the original package's), read back through the rows. */
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../data/augment_internal.h"
#include "settings_internal.h"

/* extra_keys: an array of FITS keywords; the dataset options point at the copies. */
static am_status set_extra_keys(void *base, const am_key *k, const am_key_value *v, const char *name)
{
    (void)k;
    am_settings *s = base;
    if (v->kind != AM_VALUE_LIST)
        return am_error(AM_ERR_VALUE, "%s must be an array of strings, not %s", name, am_value_what(v));
    char **keys = calloc(v->n + 1, sizeof *keys);
    if (!keys) return am_error(AM_ERR_NOMEM, "settings: out of memory");
    for (size_t i = 0; i < v->n; i++) {
        size_t len = strlen(v->items[i]);
        if (len == 0 || len > 8 || !(keys[i] = strdup(v->items[i]))) {
            for (size_t j = 0; j < i; j++) free(keys[j]);
            free(keys);
            if (len == 0 || len > 8)
                return am_error(AM_ERR_VALUE, "%s[%zu] = \"%.40s\": must be a FITS keyword (1 to 8 characters)", name,
                                i, v->items[i]);
            return am_error(AM_ERR_NOMEM, "settings: out of memory");
        }
    }
    for (int i = 0; i < s->n_extra_keys; i++) free(s->extra_keys[i]);
    free(s->extra_keys);
    s->extra_keys = keys;
    s->n_extra_keys = (int)v->n;
    s->data.fits.extra_keys = (const char *const *)s->extra_keys;
    s->data.fits.n_extra_keys = s->n_extra_keys;
    return AM_OK;
}

static int format_extra_keys(const void *base, const am_key *k, char *buf, size_t size)
{
    (void)k;
    const am_settings *s = base;
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < s->n_extra_keys && n < size; i++) {
        char q[64];
        am_toml_quote(s->extra_keys[i], q, sizeof q);
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", q);
    }
    if (n < size) snprintf(buf + n, size - n, "]");
    return 1;
}

#define S(field) offsetof(am_settings, field)
#define E(field) AM_KEY_ENUM_AT(am_settings, field)
#define INTS 1, INT_MAX
#define ORIG AM_KEY_ORIGINAL
#define FREE AM_KEY_FREE

static const char *const defaults_names[] = {"ours", "original", NULL};
static const char *const network_names[] = {"n_layer_resnet", "amm", NULL};
static const char *const schedule_names[] = {"constant", "exponential", "cosine", NULL};
static const char *const optimizer_names[] = {"adam", "adamw", NULL};
static const char *const ema_names[] = {"constant", "cosine", NULL};
static const char *const batchnorm_names[] = {"compat", "train", "frozen", NULL};
static const char *const channels_names[] = {"sum", "each", NULL};
static const char *const layer_names[] = {"layer1", "layer2", "layer3", "layer4", NULL};
static const char *const nan_names[] = {"zero", "min", "median", NULL};
static const char *const mask_names[] = {"auto", "binary", "labels", NULL};
static const char *const loss_names[] = {"one_way", "symmetric", NULL};
static const char *const precision_names[] = {"fp32", "bf16", "auto", NULL};
static const char *const emb_dtype_names[] = {"f32", "f16", NULL};
static const char *const pooling_names[] = {"average", "intensity", "gem", NULL}; /* am_pooling's order */
static const char *const input_names[] = {"all", "sum", "auto", NULL};

static const am_key root_keys[] = {
    /* the original package's keys */
    {"datafile", AM_KEY_TEXT, S(datafile), 0, 0, ORIG | FREE | AM_KEY_REQUIRED,
     .doc = "list of FITS files (one per line), or a folder of *.fits", .example = "\"files.txt\""},
    {"maskfile", AM_KEY_TEXT, S(maskfile), 0, 0, ORIG | FREE,
     .doc = "with it, datafile is one large image cut into objects by this mask", .example = "\"mask.fits\""},
    {"epochs", AM_KEY_INT, S(train.epochs), INTS, ORIG | FREE, .doc = "passes over the training split"},
    {"learning_rate", AM_KEY_FLOAT, S(train.learning_rate), 0, 10, ORIG | AM_KEY_OPEN_LO,
     .doc = "the optimizer's step size"},
    {"exponential_lr", AM_KEY_BOOL, S(exponential_lr), 0, 0, ORIG,
     .doc = "ExponentialLR stepped per epoch with gamma (the same as lr_schedule = \"exponential\")"},
    {"gamma", AM_KEY_FLOAT, S(train.gamma), 0, 1, ORIG | AM_KEY_OPEN_LO | AM_KEY_OPEN_HI,
     .doc = "the exponential schedule's factor per epoch"},
    {"batch_size", AM_KEY_INT, S(train.batch_size), INTS, ORIG, .doc = "images per optimizer step"},
    {"core_limit", AM_KEY_INT, S(core_limit), 0, 4096, ORIG | FREE, .doc = "threads; 0: all cores"},
    {"network_name", AM_KEY_NAME, S(network_name), 0, 0, ORIG, .choices = network_names,
     .doc = "the network (training; inference takes it from the model)"},
    {"trained_network_name", AM_KEY_TEXT, S(trained_network_name), 0, 0, ORIG | FREE,
     .doc = "inference: the model file (or -n)",
     .example = "\"saved_models/improved_net_e_10_20240101_1200.safetensors\""},
    {"export_to_csv", AM_KEY_BOOL, S(export_to_csv), 0, 0, ORIG | FREE,
     .doc = "inference: also write exported/<model>.csv"},
    /* ours */
    {"defaults", AM_KEY_CHOICE, E(original_defaults), 0, 0, FREE, .choices = defaults_names,
     .doc = "the defaults of every key a file leaves out: ours (measured) or the original package's"},
    {"seed", AM_KEY_U64, S(train.seed), 0, (double)INT64_MAX, 0,
     .doc = "split, shuffles, augmentations and initialisation"},
    {"lr_schedule", AM_KEY_CHOICE, E(train.schedule), 0, 0, 0, .choices = schedule_names,
     .doc = "\"cosine\": linear warm-up over warmup_epochs, then cosine to learning_rate * min_lr_ratio"},
    {"warmup_epochs", AM_KEY_INT, S(train.warmup_epochs), 0, INT_MAX, 0, .doc = "epochs of linear warm-up"},
    {"min_lr_ratio", AM_KEY_FLOAT, S(train.min_lr_ratio), 0, 1, 0, .doc = "where the cosine schedule ends"},
    {"weight_decay", AM_KEY_FLOAT, S(train.weight_decay), 0, 1, 0, .doc = "Adam's L2 term, or AdamW's decoupled decay"},
    {"optimizer", AM_KEY_CHOICE, E(train.optimizer), 0, 0, 0, .choices = optimizer_names, .doc = "the optimizer"},
    {"ema_schedule", AM_KEY_CHOICE, E(train.ema), 0, 0, 0, .choices = ema_names,
     .doc = "\"cosine\": the target's decay goes from moving_average_decay to 1"},
    {"batchnorm", AM_KEY_CHOICE, E(train.norm), 0, 0, 0, .choices = batchnorm_names,
     .doc = "\"compat\": the original's (eval after the first test pass); \"train\"; \"frozen\""},
    {"images_per_forward", AM_KEY_INT, S(train.images_per_forward), 1, 1024, 0,
     .doc = "images sharing one forward pass (equal-size ones when view_size = 0)"},
    {"replicas", AM_KEY_INT, S(train.replicas), 0, 256, FREE,
     .doc = "model copies training side by side (per MPI rank); 0: 1 for ResNet18-sized models, else 2"},
    {"test_fraction", AM_KEY_FLOAT, S(train.test_fraction), 0, 1, AM_KEY_OPEN_HI,
     .doc = "share of the images held out as the test split"},
    {"checkpoint_every", AM_KEY_INT, S(train.checkpoint_every), 0, INT_MAX, FREE,
     .doc = "epochs between checkpoints (one is always written at the end and on Ctrl-C)"},
    {"resume", AM_KEY_BOOL, S(resume), 0, 0, FREE, .doc = "continue the newest checkpoint (the same as --resume)"},
    {"n_clusters", AM_KEY_INT, S(n_clusters), 1, 100000, FREE, .doc = "inference: k of the k-means labels"},
    {"projector_sprite", AM_KEY_BOOL, S(sprite), 0, 0, FREE,
     .doc = "inference: thumbnails in the TensorBoard projector"},
    {"morphology", AM_KEY_BOOL, S(morphology), 0, 0, FREE,
     .doc = "inference: morphology statistics beside the embeddings (docs/analysis.md)"},
    {"morphology_channels", AM_KEY_CHOICE, E(morphology_each), 0, 0, FREE, .choices = channels_names,
     .doc = "\"sum\": of the channels' sum; \"each\": per channel (columns <name>_c<k>)"},
    {"hybrid_weight", AM_KEY_FLOAT, S(hybrid_weight), 0, 1, FREE,
     .doc = "the statistics' share of the hybrid embedding; 0: the learned features alone (docs/quality.md)"},
    {"hybrid_learned_scale", AM_KEY_CHOICE, E(hybrid_learned_scale), 0, 0, FREE, .choices = am_hybrid_scale_names,
     .doc = "the hybrid's learned block: each column to unit spread (\"columns\"), one scale for the whole block "
            "(\"block\": keeps its shape), or per column by median and MAD (\"robust\")"},
    {"hybrid_stats_scale", AM_KEY_CHOICE, E(hybrid_stats_scale), 0, 0, FREE, .choices = am_hybrid_scale_names,
     .doc = "the hybrid's statistics block, scaled as hybrid_learned_scale says"},
    {"embeddings_dtype", AM_KEY_CHOICE, E(embeddings_f16), 0, 0, FREE, .choices = emb_dtype_names,
     .doc = "inference: exported/<model>.safetensors stores the embeddings as \"f32\" or \"f16\" (half the "
            "bytes; the analysis commands read either)"},
    {"precision", AM_KEY_CHOICE, E(precision), 0, 0, 0, .choices = precision_names,
     .doc = "convolutions in \"fp32\", \"bf16\" (FP32 master weights), or \"auto\": bf16 only where the CPU has AMX"},
    {NULL}};

static const am_key network_keys[] = {
    {"last_layer", AM_KEY_NAME, S(last_layer), 0, 0, ORIG, .choices = layer_names,
     .doc = "n_layer_resnet: the last residual stage kept"},
    {"pretrained", AM_KEY_TEXT, S(pretrained), 0, 0, 0,
     .doc = "start from a model of astromorph training (same network and channels) or torchvision ResNet18 weights",
     .example = "\"start.safetensors\""},
    {"pooling", AM_KEY_CHOICE, E(pooling), 0, 0, 0, .choices = pooling_names,
     .doc = "the last feature map to the embedding: its average, weighted by the input's intensity, or GeM (p = 3)"},
    {"amm_width", AM_KEY_INT, S(amm_width), 1, AM_AMM_WIDTH_MAX, 0,
     .doc = "amm: every channel count (conv1, layer1, layer2, the fc's input) times this; the embedding is 128 x "
            "amm_width wide"},
    {"channels", AM_KEY_CHOICE, E(channels), 0, 0, 0, .choices = input_names,
     .doc = "what the network sees of a multi-channel image: every channel, their sum (the bands' colours then "
            "enter the hybrid as statistics), or \"auto\": the sum for 2 to 5 channels (bands), every channel of "
            "a cube with more"},
    {NULL}};

static const am_key data_keys[] = {
    {"stacksize", AM_KEY_INT, S(stacksize), 1, 64, ORIG,
     .doc = "channels repeated this many times (3 for an RGB-pretrained ResNet)"},
    {"nan_policy", AM_KEY_CHOICE, E(data.fits.nan_policy), 0, 0, 0, .choices = nan_names,
     .doc = "NaN and Inf pixels become this"},
    {"skip_bad_files", AM_KEY_BOOL, S(data.skip_bad_files), 0, 0, FREE,
     .doc = "leave unreadable files out with a warning instead of stopping"},
    {"extra_keys", AM_KEY_CUSTOM, 0, 0, 0, 0, .doc = "more FITS header keys carried into the outputs",
     .set = set_extra_keys, .format = format_extra_keys, .rule = "FITS keywords of 1 to 8 characters"},
    {"cache_mb", AM_KEY_MEGABYTES, S(data.cache_bytes), 0, 1 << 20, FREE,
     .doc = "MiB of decoded images kept in memory"},
    {"prefetch", AM_KEY_INT, S(data.prefetch), 0, 1024, FREE, .doc = "images read ahead by a background thread"},
    {"min_object_size", AM_KEY_INT, S(data.min_object_size), INTS, 0,
     .doc = "mask objects: smallest bounding-box side"},
    {"min_object_pixels", AM_KEY_INT64, S(data.min_object_pixels), 1, (double)INT64_MAX, 0,
     .doc = "mask objects: fewest pixels"},
    {"mask_mode", AM_KEY_CHOICE, E(data.mask_mode), 0, 0, 0, .choices = mask_names,
     .doc = "\"binary\": connected groups; \"labels\": integer values; \"auto\": by the mask"},
    {NULL}};

static const am_key byol_keys[] = {
    {"representation_size", AM_KEY_INT, S(representation_size), 1, 1 << 20, ORIG | AM_KEY_UNSET_0,
     .doc = "the embedding's width; taken from the network when left out (a mismatch is a warning)", .example = "128"},
    {"projection_size", AM_KEY_INT, S(byol.projection_size), 1, 1 << 20, 0, .doc = "the projector's output"},
    {"projection_hidden_size", AM_KEY_INT, S(byol.projection_hidden_size), 1, 1 << 20, 0,
     .doc = "the projector's and predictor's hidden width"},
    {"use_momentum", AM_KEY_BOOL, S(byol.use_momentum), 0, 0, 0,
     .doc = "the target is an EMA copy; false: the online encoder itself"},
    {"moving_average_decay", AM_KEY_FLOAT, S(byol.moving_average_decay), 0, 1, AM_KEY_OPEN_HI,
     .doc = "the target's EMA decay"},
    {"loss", AM_KEY_CHOICE, E(byol.loss), 0, 0, 0, .choices = loss_names,
     .doc = "\"one_way\": the original's; \"symmetric\": the BYOL paper's"},
    {"variance_weight", AM_KEY_FLOAT, S(byol.variance_weight), 0, 100, 0,
     .doc = "VICReg's variance term on each forward's embeddings (against dimensional collapse); 0: BYOL alone"},
    {"covariance_weight", AM_KEY_FLOAT, S(byol.covariance_weight), 0, 100, 0,
     .doc = "VICReg's covariance term on each forward's embeddings; 0: none"},
    {"hidden_layer", AM_KEY_TEXT, S(hidden_layer), 0, 0, 0, .doc = "the module whose output is the embedding"},
    {NULL}};

static const char *const grouping_names[] = {"dbscan", "sep", NULL};
static const char *const scale_names[] = {"linear", "log", "asinh", NULL};
#define C(field) offsetof(am_settings, curation.field)

static const am_key curation_keys[] = {
    {"output", AM_KEY_TEXT, S(curation_output), 0, 0, FREE,
     .doc = "the folder of the cutouts, files.txt and curation.csv", .example = "\"cutouts\""},
    {"nsigma", AM_KEY_FLOAT, C(nsigma), 0, 1000, FREE | AM_KEY_OPEN_LO,
     .doc = "detection and clipping threshold, in RMS"},
    {"size", AM_KEY_INT, C(size), 8, 4096, FREE, .doc = "cutout side in pixels"},
    {"grouping", AM_KEY_CHOICE, AM_KEY_ENUM_AT(am_settings, curation.grouping), 0, 0, FREE, .choices = grouping_names,
     .doc = "\"dbscan\": DBSCAN on above-threshold pixels (the paper's); \"sep\": SEP's extraction, deblended"},
    {"eps", AM_KEY_FLOAT, C(eps), 1, 100, FREE, .doc = "DBSCAN radius in pixels"},
    {"min_samples", AM_KEY_INT, C(min_samples), 1, 10000, FREE,
     .doc = "DBSCAN: above-threshold pixels within eps that make a core pixel"},
    {"min_pixels", AM_KEY_INT, C(min_pixels), 1, 1 << 30, FREE, .doc = "the smallest group kept, in pixels"},
    {"min_separation", AM_KEY_FLOAT, C(min_separation), 0, 1e6, FREE | AM_KEY_ZERO_OK,
     .doc = "groups closer than this (pixels) are one source; 0: size / 4"},
    {"clip", AM_KEY_BOOL, C(clip), 0, 0, FREE, .doc = "cutout pixels below nsigma x RMS set to 0"},
    {"scale", AM_KEY_CHOICE, AM_KEY_ENUM_AT(am_settings, curation.scale), 0, 0, FREE, .choices = scale_names,
     .doc = "of the cutouts, in units of the RMS (log: the paper's cloud maps)"},
    {"background_tile", AM_KEY_INT, C(background_tile), 8, 1 << 16, FREE, .doc = "SEP's background tile, in pixels"},
    {NULL}};

/* the augment module's rows, inside am_settings at .augment */
static const am_settings_table tables[] = {
    {"", root_keys, 0, NULL},
    {"network_settings", network_keys, 0, "the network"},
    {"data_settings", data_keys, 0, "reading the images"},
    {"byol_settings", byol_keys, 0, "BYOL around the network"},
    {"augmentation", am_augment_keys, offsetof(am_settings, augment),
     "the views BYOL compares: every transform and parameter can be set"},
    {"curation", curation_keys, 0, "astromorph curate -c: archive maps into cutouts"},
    {NULL, NULL, 0, NULL}};

const am_settings_table *am_settings_tables(void) { return tables; }
