/* `astromorph curate IMAGE... -o DIR [options]` (or the same from a [curation] table with -c):
 * archive maps into clean fixed-size cutouts for training (am_curate_image,
 * include/astromorph/curate.h), then DIR/files.txt and DIR/curation.csv. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/curate.h"
#include "astromorph/settings.h"
#include "cli/commands.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: astromorph curate IMAGE... -o DIR [options]\n"
                "       astromorph curate -c FILE [IMAGE...]   (the [curation] table; datafile lists the maps)\n\n"
                "Cuts clean fixed-size cutouts around every source of large maps (2-D, or 4-D ALMA\n"
                "products with NaN outside the primary beam), with the parent's WCS and provenance in\n"
                "each header; DIR/files.txt lists them for training, DIR/curation.csv reports every\n"
                "source kept or rejected and why.\n\n"
                "  -o, --output DIR        where the cutouts go\n"
                "  --pb FILE               the primary-beam response of the one IMAGE (noise flattened by\n"
                "                          it); a map named *.pbcor.fits finds its *.pb.fits by itself\n"
                "  --nsigma N              detection and clipping threshold in RMS (3)\n"
                "  --size S                cutout side in pixels (100)\n"
                "  --grouping dbscan|sep   DBSCAN on above-threshold pixels (the paper's) or SEP (dbscan)\n"
                "  --eps E --min-samples K DBSCAN's radius (1.5 pixels) and core count (4)\n"
                "  --min-pixels P          smallest group kept (5)\n"
                "  --min-separation D      closer groups are one source (size / 4)\n"
                "  --no-clip               keep values below the threshold\n"
                "  --scale linear|log|asinh  of the cutouts, in units of the RMS (linear)\n"
                "  -c, --configfile FILE   settings with a [curation] table\n"
                "  -h, --help              this help\n");
}

static int parse_choice(const char *v, const char *const *names, int *out, const char *opt)
{
    for (int i = 0; names[i]; i++)
        if (!strcmp(v, names[i])) return *out = i, 0;
    fprintf(stderr, "astromorph curate: %s %s: not one of the choices (try --help)\n", opt, v);
    return 2;
}

static int parse_number(const char *v, double lo, double hi, double *out, const char *opt)
{
    char *end;
    double x = strtod(v, &end);
    if (*end || end == v || !(x >= lo && x <= hi)) {
        fprintf(stderr, "astromorph curate: %s %s: must be a number from %g to %g\n", opt, v, lo, hi);
        return 2;
    }
    *out = x;
    return 0;
}

int am_cmd_curate(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"pb", required_argument, NULL, 'p'},
                                         {"nsigma", required_argument, NULL, 'n'},
                                         {"size", required_argument, NULL, 's'},
                                         {"grouping", required_argument, NULL, 'g'},
                                         {"eps", required_argument, NULL, 'e'},
                                         {"min-samples", required_argument, NULL, 'k'},
                                         {"min-pixels", required_argument, NULL, 'm'},
                                         {"min-separation", required_argument, NULL, 'd'},
                                         {"no-clip", no_argument, NULL, 'C'},
                                         {"scale", required_argument, NULL, 'S'},
                                         {"configfile", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const groupings[] = {"dbscan", "sep", NULL}, *const scales[] = {"linear", "log", "asinh", NULL};
    /* options are applied after the file's [curation] table, so they win */
    const char *outdir = NULL, *pb = NULL, *config = NULL;
    double nsigma = 0, size = 0, eps = 0, ksamp = 0, minpix = 0, minsep = -1;
    int grouping = -1, scale = -1, noclip = 0, c, rc = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:c:h", opts, NULL)) != -1 && !rc) {
        switch (c) {
        case 'o': outdir = optarg; break;
        case 'p': pb = optarg; break;
        case 'c': config = optarg; break;
        case 'n': rc = parse_number(optarg, 1e-3, 1000, &nsigma, "--nsigma"); break;
        case 's': rc = parse_number(optarg, 8, 4096, &size, "--size"); break;
        case 'e': rc = parse_number(optarg, 1, 100, &eps, "--eps"); break;
        case 'k': rc = parse_number(optarg, 1, 10000, &ksamp, "--min-samples"); break;
        case 'm': rc = parse_number(optarg, 1, 1e9, &minpix, "--min-pixels"); break;
        case 'd': rc = parse_number(optarg, 0, 1e6, &minsep, "--min-separation"); break;
        case 'g': rc = parse_choice(optarg, groupings, &grouping, "--grouping"); break;
        case 'S': rc = parse_choice(optarg, scales, &scale, "--scale"); break;
        case 'C': noclip = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (rc) return rc;
    am_settings s;
    int have_settings = 0;
    if (config) {
        /* the settings' datafile (when no IMAGE is given) lists the maps */
        am_settings_overrides ov = {.datafile = optind < argc ? argv[optind] : NULL};
        if (am_settings_load(&s, config, AM_SETTINGS_TRAINING, &ov) != AM_OK) return am_cli_fail("curate");
        have_settings = 1;
    }
    am_curate_options o;
    if (have_settings) o = s.curation;
    else am_curate_options_default(&o);
    if (!outdir && have_settings) outdir = s.curation_output;
    if (nsigma > 0) o.nsigma = nsigma;
    if (size > 0) o.size = (int)size;
    if (eps > 0) o.eps = eps;
    if (ksamp > 0) o.min_samples = (int)ksamp;
    if (minpix > 0) o.min_pixels = (int)minpix;
    if (minsep >= 0) o.min_separation = minsep;
    if (grouping >= 0) o.grouping = (am_grouping)grouping;
    if (scale >= 0) o.scale = (am_curate_scale)scale;
    if (noclip) o.clip = 0;
    int nimages = argc - optind;
    const char *list = nimages == 0 && have_settings ? s.datafile : NULL;
    if (!outdir || (nimages == 0 && !list)) {
        fprintf(stderr, "astromorph curate: give the maps and -o DIR (or -c FILE with datafile and [curation] "
                        "output; try --help)\n");
        if (have_settings) am_settings_free(&s);
        return 2;
    }
    if (pb && nimages != 1) {
        fprintf(stderr, "astromorph curate: --pb names the primary beam of one map; give one IMAGE\n");
        if (have_settings) am_settings_free(&s);
        return 2;
    }
    am_curate_report rep = {0};
    am_status st = AM_OK;
    if (list) st = am_curate_datafile(list, outdir, &o, &rep);
    for (int i = optind; st == AM_OK && i < argc; i++) st = am_curate_image(argv[i], pb, outdir, &o, &rep);
    if (st == AM_OK) st = am_curate_report_write(&rep, outdir);
    if (st == AM_OK) printf("%d cutout(s) of %d source(s) in %s/ (files.txt, curation.csv)\n", rep.kept, rep.n, outdir);
    am_curate_report_free(&rep);
    if (have_settings) am_settings_free(&s);
    return st == AM_OK ? 0 : am_cli_fail("curate");
}
