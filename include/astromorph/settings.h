/* Settings files of the pipeline commands: the original package's TOML keys (settings.py,
 * example_settings.toml) plus ours, checked as strictly as the original's pydantic models.
 * Keys a file leaves out get our measured defaults (am_train_settings_default,
 * am_byol_options_default); `defaults = "original"` gives the original package's instead. */
#ifndef ASTROMORPH_SETTINGS_H
#define ASTROMORPH_SETTINGS_H

#include <stdio.h>

#include "astromorph/augment.h"
#include "astromorph/byol.h"
#include "astromorph/curate.h"
#include "astromorph/dataset.h"
#include "astromorph/hybrid.h"
#include "astromorph/models.h"
#include "astromorph/status.h"
#include "astromorph/train.h"

typedef enum { AM_SETTINGS_TRAINING, AM_SETTINGS_INFERENCE } am_settings_command;

/* Command-line values that override the file (NULL: not given). */
typedef struct am_settings_overrides {
    const char *datafile;
    const char *maskfile;
    const char *trained_network_name;
    int resume; /* 1: --resume given */
} am_settings_overrides;

typedef struct am_settings {
    char *source; /* the settings file, or NULL when there is none */
    int original_defaults; /* defaults = "original" */
    char *datafile; /* list of FITS paths, a folder, or (with maskfile) the large image */
    char *maskfile; /* NULL: none */
    char *trained_network_name; /* inference: the model file */
    char *network_name; /* "n_layer_resnet" | "amm" */
    char *last_layer; /* [network_settings] last_layer ("layer4") */
    char *pretrained; /* [network_settings] pretrained: torchvision ResNet18 weights, or NULL */
    am_pooling pooling; /* [network_settings] pooling of the last feature map ("average") */
    int amm_width; /* [network_settings] amm_width: amm's channel counts times this (1) */
    int channels; /* [network_settings] channels: 0 "all", 1 "sum", 2 "auto" (am_settings_channel_sum) */
    int stacksize; /* [data_settings] stacksize (1) */
    char **extra_keys; /* [data_settings] extra_keys: more FITS header keys for the outputs */
    int n_extra_keys;
    am_dataset_options data; /* [data_settings] nan_policy, skip_bad_files, cache_mb, ... */
    am_augment augment; /* [augmentation] */
    am_byol_options byol; /* [byol_settings] */
    char *hidden_layer; /* [byol_settings] hidden_layer when given (byol.hidden_layer points here) */
    int representation_size; /* as written in the file (0: not given; the network decides) */
    am_train_settings train; /* epochs, learning_rate, gamma, batch_size, schedule, ... */
    int exponential_lr;
    int core_limit; /* 0: all cores */
    int resume;
    int export_to_csv;
    int n_clusters; /* k of the k-means labels (10) */
    int sprite; /* projector sprite on/off (true) */
    int morphology; /* inference adds the morphology statistics (true; false in the original's) */
    int morphology_each; /* morphology_channels = "each": per channel (columns <name>_c<k>); "sum" (default) */
    int precision; /* 0 "fp32" (default), 1 "bf16", 2 "auto" (am_precision_auto) */
    int embeddings_f16; /* embeddings_dtype = "f16": exported/<model>.safetensors stores F16 ("f32", default) */
    double hybrid_weight; /* the statistics' share of the hybrid embedding; 0: learned alone */
    am_hybrid_scale hybrid_learned_scale, hybrid_stats_scale; /* how each block is scaled ("columns") */
    am_curate_options curation; /* [curation]: astromorph curate -c */
    char *curation_output; /* [curation] output: the cutouts' folder */
} am_settings;

/* Reads and checks `path` (may be NULL for inference driven by options alone) for `cmd`, then
 * applies the overrides and checks again what depends on them (files exist). Errors are one
 * line: "settings.toml:4:10: epochs = 0 must be > 0", "settings.toml:3:1: unknown key 'epoch'
 * (did you mean 'epochs'?)", "settings.toml: missing required key 'datafile'". */
am_status am_settings_load(am_settings *s, const char *path, am_settings_command cmd, const am_settings_overrides *ov);
void am_settings_free(am_settings *s);

/* Every effective setting, one "key = value" line each, in TOML form (for the training log). */
void am_settings_print(const am_settings *s, FILE *fp);

/* The settings that shape a training run, as a text (new; free with free()): every line of
 * am_settings_print except those a resumed run may change (epochs, to extend a run; where
 * the data and outputs are; threads; reading and inference options). */
char *am_settings_fingerprint(const am_settings *s);
/* The fingerprint of a run at the defaults s starts from (ours, or the original's): what a key
 * that a checkpoint lacks meant when the checkpoint was written (new; free with free()). */
char *am_settings_fingerprint_defaults(const am_settings *s);

/* precision as the engine runs it ("auto" resolved for this CPU: am_precision_auto). */
am_precision am_settings_precision(const am_settings *s);

/* Whether the network sees the sum of an image's channels (channels = "sum", or "auto" with 2 to
 * AM_MORPH_MAX_BANDS of them) rather than every channel. */
int am_settings_channel_sum(const am_settings *s, int64_t channels);

/* The i-th key a settings file may hold (from 0; NULL past the last) and, in *table (may be
 * NULL), its table: "" the top level, "network_settings", "data_settings", "byol_settings",
 * "augmentation" (whose keys are dotted: "rotation.p"). */
const char *am_settings_key_at(int i, const char **table);

typedef enum { AM_SETTINGS_REFERENCE_TOML, AM_SETTINGS_REFERENCE_MARKDOWN } am_settings_reference_format;
/* Every key with our default, the original's, the allowed values and what it does: as a TOML
 * file (examples/settings/reference.toml) or a Markdown table (docs/pipeline.md). */
am_status am_settings_reference(FILE *fp, am_settings_reference_format format);

/* Levenshtein distance between two short strings (for "did you mean"). */
int am_edit_distance(const char *a, const char *b);

#endif
