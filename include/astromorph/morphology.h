/* Classic non-parametric morphology of a source in an image, as astronomers read it (Conselice
 * 2003; Lotz, Primack & Madau 2004; the definitions of statmorph, Rodriguez-Gomez et al. 2019):
 * concentration, asymmetry, smoothness, Gini, M20, ellipticity and orientation from second
 * moments, the radii holding 20/50/80 % of the flux, and a radial profile. Interpretable axes
 * beside the learned embeddings, and a baseline they must beat.
 *
 * The source is segmented above a noise threshold (the noise fitted as for the thumbnails,
 * am_thumb_noise_fit): the 8-connected region above background + threshold_sigma·σ with the most
 * flux near the image centre. Every statistic is measured on that region's background-subtracted
 * pixels, about their flux-weighted centroid (which minimises the total second moment, as M20
 * wants). x is the column, y the row (FITS order, y up). */
#ifndef ASTROMORPH_MORPHOLOGY_H
#define ASTROMORPH_MORPHOLOGY_H

#include <stddef.h>
#include <stdint.h>

#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { AM_MORPH_PROFILE_BINS = 8, AM_MORPH_MAX_BANDS = 5, AM_MORPH_MAX_COLOURS = 2 * (AM_MORPH_MAX_BANDS - 1) };

/* Flags: why statistics are missing (NaN) or less trustworthy. */
enum {
    AM_MORPH_NO_SOURCE = 1, /* nothing above the threshold: every statistic NaN */
    AM_MORPH_FEW_PIXELS = 2, /* fewer than min_pixels in the source: every statistic NaN */
    AM_MORPH_EDGE = 4, /* the source touches the image border: radii and profile truncated */
    AM_MORPH_NO_NOISE = 8 /* no noise could be measured (σ = 0): threshold 1e-4 of the peak */
};

typedef struct am_morph_options {
    double threshold_sigma; /* 3 */
    int min_pixels; /* 5 */
    double background; /* NaN (default): fitted; else the image's known background level */
    double sigma; /* NaN (default): fitted; else the known noise σ (e.g. a map's RMS) */
} am_morph_options;

void am_morph_options_default(am_morph_options *o);

typedef struct am_morphology {
    double concentration; /* C = 5 log10(r80 / r20) */
    double asymmetry; /* A = Σ|I - I180| / Σ|I| over the source, minus the noise's expected share */
    double smoothness; /* S = Σ max(I - boxcar(I), 0) / Σ I, boxcar of width ≈ r50 / 2 (odd, >= 3) */
    double gini; /* G of the source's pixel values (0 even, 1 all in one pixel) */
    double m20; /* log10 of the second moment of the brightest pixels holding 20 % of
                              the flux over the total second moment */
    double ellipticity; /* 1 - b/a from the second moments */
    double orientation; /* degrees from +x towards +y of the major axis, in (-90, 90] */
    double r20, r50, r80; /* pixels: radii about the centroid holding 20/50/80 % of the source flux */
    double area; /* source pixels */
    double flux; /* background-subtracted flux of the source, in image units */
    double xc, yc; /* centroid (pixels, 0-based) */
    double sigma; /* noise σ used for the threshold */
    double sn_per_pixel; /* mean signal-to-noise of the source's pixels (statmorph's reliability
                              measure: below about 2.5 the statistics are biased; NaN when σ = 0) */
    /* Mean intensity in annuli with edges at r/r50 = 0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4 over the
     * whole image, in units of the source's mean intensity within r50 (scale-free). */
    double profile[AM_MORPH_PROFILE_BINS];
    /* The source's structure over all its components (radio lobes, merging galaxies), which the
     * statistics above, measured on one region, miss. The components are the 8-connected regions
     * above the threshold with at least min_pixels pixels and 2 % of the main region's flux whose
     * centroid lies within 0.35 of the image's shorter side from its centre, the main region
     * always among them; I, x, y and the angle φ below run over their pixels, about their joint
     * flux-weighted centroid C. */
    double components; /* how many */
    double main_fraction; /* the main region's share of their flux */
    double las; /* largest angular size, pixels: the widest of 32 projections of the pixels' centres */
    double fr_ratio; /* Fanaroff & Riley's ratio: the distance between the brightest pixel and the
                        brightest on the other side of the host (the image centre: cutouts are
                        centred on their target; a 3×3 mean finds the pixels) over the las; small
                        for edge-darkened (FRI), towards 1 for edge-brightened (FRII) */
    double peak_offset; /* distance of the brightest pixel from the host over las / 2, at most 1 */
    double bend; /* 1 + cos of the angle at the host between those two pixels: 0 straight, towards
                    1 bent; 0 where fr_ratio <= 0.2 (one peak, whose angle is noise) */
    double fourier[3]; /* |Σ I e^{imφ}| / Σ I for m = 1, 2, 3: lopsided, bipolar, three-armed */
    /* Colours of an image of 2 to AM_MORPH_MAX_BANDS channels (bands of one field, in the order
     * of the file: g, r, i gives g - r, r - i), measured on the main region of the channels'
     * sum with each band's own background taken off: colour[k] = -2.5 log10(F_k / F_{k+1}) over
     * the region, colour[bands - 1 + k] the same within r50 minus beyond it (a bluer or redder
     * centre). NaN where a band's flux is not positive. ncolours = 2 (bands - 1), 0 for one
     * channel or for more than AM_MORPH_MAX_BANDS (a spectral cube, whose channels are not
     * bands). */
    int ncolours;
    double colour[AM_MORPH_MAX_COLOURS];
    int flags;
} am_morphology;

/* Measures one h × w plane. Bad input (empty, non-finite everywhere) is an error; a plane
 * without a usable source is not: its statistics are NaN and flags say why. */
am_status am_morphology_measure(const float *img, int64_t h, int64_t w, const am_morph_options *o, am_morphology *m);

/* The same for a C×H×W image: measured on the sum of its channels (the `image` tensor of
 * include/astromorph/tensor.h, 3-D), with the colours of its bands (2 to AM_MORPH_MAX_BANDS). */
struct am_tensor;
am_status am_morphology_measure_image(const struct am_tensor *image, const am_morph_options *o, am_morphology *m);

/* The statistics as a feature vector for comparisons (baseline, hybrid): C, A, S, G, M20,
 * ellipticity, log10 area, log10 r50, then the profile's bins (AM_MORPH_FEATURES_V1 values: the
 * first version's vector, which models fitted before the structure statistics use), then
 * log2 components, main_fraction, log10 las, fr_ratio, peak_offset, bend and the three Fourier
 * amplitudes (AM_MORPH_FEATURES in all; NaN where undefined). The orientation is left out: it
 * is not a property of the shape. */
enum { AM_MORPH_FEATURES_V1 = 8 + AM_MORPH_PROFILE_BINS, AM_MORPH_FEATURES = AM_MORPH_FEATURES_V1 + 9 };
void am_morphology_features(const am_morphology *m, float *out);
/* How many colours an image of this many channels has (2 (channels - 1) for 2 to
 * AM_MORPH_MAX_BANDS, else 0), and the length of am_morphology_features_all's vector for it. */
int am_morphology_colour_count(int64_t channels);
int am_morphology_feature_count(int64_t channels);
/* am_morphology_features, then the m->ncolours colours (docs/quality.md, seventh round: colour
 * beside the shape is what separates a spiral from an elliptical of the same profile). */
void am_morphology_features_all(const am_morphology *m, float *out);
/* The table column of colour k of an image of this many channels: "colour_0_1" (band 0 minus
 * band 1, magnitudes), then "colour_gradient_0_1" (within r50 minus beyond it). */
void am_morphology_colour_name(int64_t channels, int k, char *buf, size_t size);
/* Names of the table columns am_morphology_row writes, in order (NULL-terminated). */
extern const char *const am_morphology_columns[];
/* The values of those columns (as many as names, NaN where undefined; flags as a number). */
int am_morphology_row(const am_morphology *m, double *out);

#ifdef __cplusplus
}
#endif
#endif
