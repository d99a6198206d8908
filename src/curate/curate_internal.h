/* Shared inside src/curate: the pixel grouping. */
#ifndef AM_CURATE_INTERNAL_H
#define AM_CURATE_INTERNAL_H

#include "astromorph/status.h"

/* DBSCAN over the pixels marked in `above` (w x h): label[p] = group (0..) or -1 (below the
 * threshold, or noise: above it but reachable from no core pixel); *ngroups groups. */
am_status am_dbscan_pixels(const unsigned char *above, int w, int h, double eps, int min_samples, int *label,
                           int *ngroups);

#endif
