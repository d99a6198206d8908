/* The settings file's tables of keys (settings_keys.c), for the reader, the dump and the
 * reference (settings.c, settings_reference.c). Not part of the library's API. */
#ifndef AM_PIPELINE_SETTINGS_INTERNAL_H
#define AM_PIPELINE_SETTINGS_INTERNAL_H

#include <stddef.h>

#include "../core/schema.h"
#include "astromorph/settings.h"

typedef struct am_settings_table {
    const char *name; /* "" the top level, "network_settings", ..., "augmentation"; NULL ends */
    const am_key *keys; /* rows; offsets from base */
    size_t base; /* where the table's struct is inside am_settings */
    const char *doc;
} am_settings_table;

const am_settings_table *am_settings_tables(void);

/* Our defaults (original = 0) or the original package's, before any file is read. */
void am_settings_defaults(am_settings *s, int original);

/* The values that follow from others once the file is read: the network (amm) for training under
 * our defaults, last_layer, hidden_layer from the BYOL options, the BYOL's seed. */
am_status am_settings_complete(am_settings *s, am_settings_command cmd);

#endif
