/* The [augmentation] table's keys (rows of the settings schema, src/core/schema.h), offsets
 * into am_augment; shared with the settings reader, not part of the library's API. */
#ifndef AM_DATA_AUGMENT_INTERNAL_H
#define AM_DATA_AUGMENT_INTERNAL_H

#include "../core/schema.h"

extern const am_key am_augment_keys[];

#endif
