/* `astromorph training [DATA] [-c FILE] [--resume [CHECKPOINT]] [--check]`: the options, then
 * am_pipeline_train (src/pipeline/train.c) does the run. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "astromorph/pipeline.h"
#include "astromorph/runtime.h"
#include "astromorph/settings.h"
#include "cli/commands.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: astromorph training -c FILE [--resume [CHECKPOINT]] [--check]\n"
                "       astromorph training DATA [-c FILE] [--resume [CHECKPOINT]] [--check]\n\n"
                "Trains a BYOL model on the images listed in the settings file's datafile, or on DATA (a\n"
                "folder of FITS files or a list of them) with our defaults for every key not given.\n\n"
                "  -c, --configfile FILE  settings (TOML; the original package's files work unchanged)\n"
                "  --resume [CHECKPOINT]  continue an interrupted run (default: the newest\n"
                "                         saved_models/checkpoint_*.safetensors); also resume = true\n"
                "  --check                check the settings and the data, print them, and stop\n"
                "  -h, --help             this help\n\n"
                "Writes logs/<time>.log, runs/<time>/ (TensorBoard scalars),\n"
                "saved_models/improved_net_e_<epochs>_<time>.safetensors and beside it the settings it\n"
                "used (.toml, for -c to repeat the run). Ctrl-C saves a checkpoint.\n");
}

int am_cmd_training(int argc, char **argv)
{
    const double started = am_monotonic_seconds();
    static const struct option opts[] = {{"configfile", required_argument, NULL, 'c'},
                                         {"resume", optional_argument, NULL, 'r'},
                                         {"check", no_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config = NULL, *resume_from = NULL;
    int resume = 0, check = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'r':
            resume = 1;
            /* --resume FILE as well as --resume=FILE */
            if (!optarg && optind < argc && argv[optind][0] != '-') resume_from = argv[optind++];
            else resume_from = optarg;
            break;
        case 'k': check = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    const char *data = optind < argc ? argv[optind++] : NULL;
    if (optind < argc) {
        fprintf(stderr, "astromorph training: unexpected argument '%s' (try --help)\n", argv[optind]);
        return 2;
    }
    if (!config && !data) {
        fprintf(stderr, "astromorph training: give the images (a folder or a list) or a settings file: -c FILE "
                        "(try --help)\n");
        return 2;
    }
    am_settings s;
    am_settings_overrides ov = {.resume = resume, .datafile = data};
    if (am_settings_load(&s, config, AM_SETTINGS_TRAINING, &ov) != AM_OK) return am_cli_fail("training");
    am_train_run run = {.resume_from = resume_from, .check_only = check, .started = started};
    am_status st = am_pipeline_train(&s, &run);
    am_settings_free(&s);
    am_run_log_close();
    if (st == AM_ERR_INTERRUPTED) return 130;
    if (st != AM_OK) return am_cli_fail("training");
    if (check) printf("settings and data are fine\n");
    else printf("%s\n", run.model_path);
    return 0;
}
