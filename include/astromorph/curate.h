/* Curation of archive maps into training cutouts, as the paper prepared the ALMA archive: from
 * large images (2-D maps, or 4-D ALMA products with NaN outside the primary beam) to clean
 * fixed-size cutouts around every source, with WCS and provenance in their headers, and a report
 * of every source kept or rejected and why.
 *
 *   1. level correction: a primary-beam-corrected image times its primary-beam response (the
 *      `.pb` image) has flat noise, so one threshold fits the whole map;
 *   2. background and noise: SEP's tiled background and RMS (NaN pixels ignored);
 *   3. detection: pixels above nsigma x RMS, grouped by DBSCAN on their positions (the paper's
 *      way: core pixels have min_samples such pixels within eps), or SEP's extraction with
 *      deblending; groups smaller than min_pixels are rejected, groups whose centres lie within
 *      min_separation of a brighter one are merged into it (one cutout per source);
 *   4. cutouts of size x size around each group's flux-weighted centre (moved inside the map
 *      when it fits, NaN-padded otherwise), background subtracted, optionally clipped below
 *      nsigma x RMS to 0 and scaled (log or asinh, in units of the RMS);
 *   5. each cutout a FITS file with the parent's header, CRPIX moved by the cutout's offset (so
 *      its WCS is the parent's), and provenance keys; files.txt lists them for training and
 *      curation.csv reports every group. */
#ifndef ASTROMORPH_CURATE_H
#define ASTROMORPH_CURATE_H

#include "astromorph/status.h"

typedef enum { AM_GROUP_DBSCAN = 0, AM_GROUP_SEP } am_grouping;
typedef enum { AM_SCALE_LINEAR = 0, AM_SCALE_LOG, AM_SCALE_ASINH } am_curate_scale;

typedef struct am_curate_options {
    double nsigma; /* detection and clipping threshold in RMS units (3) */
    int size; /* cutout side in pixels (100) */
    am_grouping grouping; /* DBSCAN (the paper's) or SEP */
    double eps; /* DBSCAN radius in pixels (1.5: the 8 neighbours) */
    int min_samples; /* DBSCAN: above-threshold pixels within eps for a core pixel (4) */
    int min_pixels; /* smallest group kept (5) */
    double min_separation; /* groups closer than this (pixels) are one source (size / 4 when 0) */
    int clip; /* cutout pixels below nsigma x RMS set to 0 (1) */
    am_curate_scale scale; /* of the cutouts (linear) */
    int background_tile; /* SEP background tile side in pixels (64) */
} am_curate_options;

void am_curate_options_default(am_curate_options *o);

/* One group of the map: where it is, what it is, and what became of it. */
typedef struct am_curate_source {
    char parent[1024]; /* the map */
    int id; /* 1.. within its map, brightest first */
    double x, y; /* flux-weighted centre, 0-based pixels of the map */
    double ra, dec; /* degrees from the map's WCS (NAN without one) */
    long npix; /* pixels above the threshold */
    double flux; /* their summed background-subtracted value */
    double peak_snr; /* brightest pixel / RMS there */
    int kept;
    char reason[64]; /* why not kept ("merged into 2", "7 pixels < min_pixels 10") */
    char cutout[1024]; /* the cutout written, "" when none */
} am_curate_source;

typedef struct am_curate_report {
    am_curate_source *src;
    int n, cap;
    int kept;
} am_curate_report;

/* Curates `image` (with `pb`, its primary-beam response; NULL: X.pb.fits beside an X.pbcor.fits,
 * or none) into folder `outdir` (made when absent): <image name>_src<NNN>.fits cutouts, each
 * written under a temporary name and renamed; every group is added to rep. */
am_status am_curate_image(const char *image, const char *pb, const char *outdir, const am_curate_options *o,
                          am_curate_report *rep);
/* Every map of a datafile (a list, a folder or one FITS file, read as training reads it). */
am_status am_curate_datafile(const char *datafile, const char *outdir, const am_curate_options *o,
                             am_curate_report *rep);
/* outdir/curation.csv (a row per group) and outdir/files.txt (the kept cutouts, for training). */
am_status am_curate_report_write(const am_curate_report *rep, const char *outdir);
void am_curate_report_free(am_curate_report *rep);

#endif
