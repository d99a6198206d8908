/* `astromorph morphology`: the classic non-parametric morphology statistics of every image of a
 * data set, as a `;`-separated table (include/astromorph/morphology.h has the definitions). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/dataset.h"
#include "astromorph/embeddings.h"
#include "astromorph/morphology.h"
#include "astromorph/progress.h"
#include "astromorph/runtime.h"
#include "cli/commands.h"
#include "astromorph/pipeline.h"
#include "astromorph/settings.h"
#include "io/csv_internal.h"

enum { OPT_THRESHOLD = 1000, OPT_PER_CHANNEL, OPT_MIN_PIXELS };

static void usage(FILE *fp)
{
    fprintf(fp, "usage: astromorph morphology DATA [-o table.csv] [--threshold 3] [--min-pixels 5] [--per-channel]\n"
                "       astromorph morphology -c settings.toml [...]\n\n"
                "Classic morphology statistics of every image: concentration C = 5 log10(r80/r20),\n"
                "asymmetry A, smoothness S, Gini, M20, ellipticity and orientation (degrees from +x\n"
                "towards +y), r20/r50/r80 and area (pixels), flux, centroid, an 8-bin radial profile;\n"
                "over all the source's components (radio lobes, merging galaxies): their number, the\n"
                "main one's flux share, the largest angular size (las), the Fanaroff-Riley ratio, the\n"
                "brightest spot's offset from the centre, the bend and the m = 1, 2, 3 Fourier\n"
                "amplitudes; then flags (1 no source, 2 too few pixels, 4 touches the edge, 8 no noise\n"
                "measured); for images of 2 to 5 bands their colours (colour_0_1 = -2.5 log10 of band 0's\n"
                "flux over band 1's) and colour gradients (within r50 minus beyond). The source is\n"
                "the 8-connected region above background + threshold x noise sigma with the most flux\n"
                "near the centre. Undefined values are written as nan.\n\n"
                "  DATA                 a FITS file, a folder of them, or a list (as `datafile`)\n"
                "  -c FILE              take the data and its reading options from a settings file\n"
                "  -o FILE              write the table there (default: standard output)\n"
                "  --threshold N        segmentation threshold in noise sigmas (default 3)\n"
                "  --min-pixels N       smallest source measured (default 5)\n"
                "  --per-channel        one row per channel (default: the channels' sum)\n"
                "  -h, --help           this help\n");
}

/* One row: the statistics, then the colours of the bands (none per channel). */
static am_status write_row(FILE *fp, int64_t i, const am_meta *meta, int channel, const am_morphology *m)
{
    double v[64];
    int n = am_morphology_row(m, v);
    fprintf(fp, "%lld;", (long long)i);
    am_csv_field(fp, meta->object);
    fputc(';', fp);
    am_csv_field(fp, meta->filepath ? meta->filepath : "N/A");
    fprintf(fp, ";%d", channel);
    for (int k = 0; k < n - 1; k++) fprintf(fp, isnan(v[k]) ? ";nan" : ";%.6g", v[k]);
    fprintf(fp, ";%d", m->flags);
    for (int k = 0; k < m->ncolours; k++) fprintf(fp, isnan(m->colour[k]) ? ";nan" : ";%.6g", m->colour[k]);
    fputc('\n', fp);
    return ferror(fp) ? am_error(AM_ERR_IO, "write failed: %s", am_errno_text()) : AM_OK;
}

static am_status run(const char *data, const am_dataset_options *dopt, const am_morph_options *mo, int per_channel,
                     const char *output)
{
    am_dataset *ds;
    AM_TRY(am_dataset_open(&ds, data, dopt));
    am_atomic_file af;
    FILE *fp = stdout;
    am_status s = AM_OK;
    if (output) {
        if ((s = am_atomic_open(&af, output, 0)) != AM_OK) {
            am_dataset_free(ds);
            return s;
        }
        fp = af.fp;
    }
    int64_t n = am_dataset_size(ds), bands = 0;
    fputs("index;object;filepath;channel", fp);
    for (int k = 0; am_morphology_columns[k]; k++) fprintf(fp, ";%s", am_morphology_columns[k]);
    int64_t shape[3] = {1, 0, 0};
    if (n > 0 && !per_channel && (s = am_dataset_item_shape_read(ds, 0, shape)) != AM_OK)
        s = am_error_prefix(s, "%s", am_dataset_name(ds, 0));
    if (!per_channel) bands = shape[0];
    for (int k = 0; k < am_morphology_colour_count(bands); k++) {
        char name[64];
        am_morphology_colour_name(bands, k, name, sizeof name);
        fprintf(fp, ";%s", name);
    }
    fputc('\n', fp);
    am_progress *bar = NULL;
    if (output && am_progress_create(&bar, "morphology", n, stderr, AM_PROGRESS_AUTO) != AM_OK) bar = NULL;
    for (int64_t i = 0; i < n && s == AM_OK; i++) {
        am_tensor img;
        am_meta meta;
        if ((s = am_dataset_get(ds, i, &img, &meta)) != AM_OK) break;
        int64_t c = img.shape[0], hw = img.shape[1] * img.shape[2];
        if (!per_channel && c != bands)
            s = am_error(AM_ERR_SHAPE, "%s: %lld channel(s), the first image %lld (one table has one set of colours)",
                         am_dataset_name(ds, i), (long long)c, (long long)bands);
        for (int64_t k = 0; k < (per_channel ? c : 1) && s == AM_OK; k++) {
            am_morphology m;
            s = per_channel ? am_morphology_measure(img.data + k * hw, img.shape[1], img.shape[2], mo, &m)
                            : am_morphology_measure_image(&img, mo, &m);
            if (s != AM_OK) s = am_error_prefix(s, "%s", am_dataset_name(ds, i));
            if (s == AM_OK) s = write_row(fp, i, &meta, per_channel ? (int)k : -1, &m);
            if (s != AM_OK && !output) s = am_error_prefix(s, "standard output");
        }
        am_tensor_free(&img);
        am_meta_free(&meta);
        if (bar) am_progress_update(bar, i + 1, NAN);
    }
    am_progress_finish(bar);
    if (output) {
        if (s == AM_OK && ferror(fp)) s = am_error(AM_ERR_IO, "%s: write failed: %s", output, am_errno_text());
        if (s == AM_OK) s = am_atomic_commit(&af);
        else am_atomic_abort(&af);
    } else if (s == AM_OK && (fflush(stdout) != 0 || ferror(stdout))) {
        s = am_error(AM_ERR_IO, "standard output: write failed: %s", am_errno_text());
    }
    am_dataset_free(ds);
    return s;
}

int am_cmd_morphology(int argc, char **argv)
{
    static const struct option opts[] = {{"configfile", required_argument, NULL, 'c'},
                                         {"threshold", required_argument, NULL, OPT_THRESHOLD},
                                         {"min-pixels", required_argument, NULL, OPT_MIN_PIXELS},
                                         {"per-channel", no_argument, NULL, OPT_PER_CHANNEL},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config = NULL, *output = NULL;
    int per_channel = 0, c;
    am_morph_options mo;
    am_morph_options_default(&mo);
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:o:h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'c': config = optarg; break;
        case 'o': output = optarg; break;
        case OPT_PER_CHANNEL: per_channel = 1; break;
        case OPT_THRESHOLD:
            mo.threshold_sigma = strtod(optarg, &end);
            if (end == optarg || *end || !(mo.threshold_sigma > 0) || !isfinite(mo.threshold_sigma)) {
                fprintf(stderr, "astromorph morphology: --threshold %s: not a positive number\n", optarg);
                return 2;
            }
            break;
        case OPT_MIN_PIXELS:
            mo.min_pixels = (int)strtol(optarg, &end, 10);
            if (end == optarg || *end || mo.min_pixels < 1) {
                fprintf(stderr, "astromorph morphology: --min-pixels %s: not an integer >= 1\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    const char *data = optind < argc ? argv[optind++] : NULL;
    if (optind < argc) {
        fprintf(stderr, "astromorph morphology: unexpected argument '%s' (try --help)\n", argv[optind]);
        return 2;
    }
    if (!data == !config) {
        fprintf(stderr, "astromorph morphology: give the images (DATA) or a settings file (-c), one of the two\n");
        return 2;
    }
    am_run_log_close();
    am_dataset_options dopt;
    am_dataset_options_default(&dopt);
    dopt.prefetch = 0;
    am_settings s;
    int have_settings = 0;
    if (config) {
        if (am_settings_load(&s, config, AM_SETTINGS_INFERENCE, NULL) != AM_OK) return am_cli_fail("morphology");
        have_settings = 1;
        dopt = s.data;
        data = s.datafile;
    }
    am_status st = run(data, &dopt, &mo, per_channel, output);
    if (have_settings) am_settings_free(&s);
    return st == AM_OK ? 0 : am_cli_fail("morphology");
}
