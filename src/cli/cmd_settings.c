/* `astromorph settings [--markdown] [-c FILE]`: every settings key with our default, the
 * original's, the allowed values and what it does (the reference), or the effective settings
 * of one file. */
#include <getopt.h>
#include <stdio.h>

#include "astromorph/settings.h"
#include "cli/commands.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: astromorph settings [--markdown] [-c FILE]\n\n"
                "Prints every settings key with its default (ours and the original package's), the\n"
                "values it allows and what it does, as a TOML file to start from.\n\n"
                "  --markdown             the same as a Markdown table\n"
                "  -c, --configfile FILE  instead: the settings training would use with FILE\n"
                "  -h, --help             this help\n");
}

int am_cmd_settings(int argc, char **argv)
{
    static const struct option opts[] = {{"configfile", required_argument, NULL, 'c'},
                                         {"markdown", no_argument, NULL, 'm'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config = NULL;
    int markdown = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'm': markdown = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "astromorph settings: unexpected argument '%s' (try --help)\n", argv[optind]);
        return 2;
    }
    if (config) {
        am_settings s;
        if (am_settings_load(&s, config, AM_SETTINGS_TRAINING, NULL) != AM_OK) return am_cli_fail("settings");
        am_settings_print(&s, stdout);
        am_settings_free(&s);
        return 0;
    }
    if (am_settings_reference(stdout, markdown ? AM_SETTINGS_REFERENCE_MARKDOWN : AM_SETTINGS_REFERENCE_TOML) != AM_OK)
        return am_cli_fail("settings");
    return fflush(stdout) == 0 ? 0 : 1;
}
