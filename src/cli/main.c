/* astromorph command-line entry point: dispatches to one file per command. */
#include <stdio.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: astromorph COMMAND [options]\n"
                "  training   train a model (-c settings.toml)\n"
                "  inference  compute embeddings with a trained model\n"
                "run 'astromorph COMMAND --help' for a command's options\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("astromorph %s\n", AM_VERSION);
        return 0;
    }
    fprintf(stderr, "astromorph: unknown command '%s' (try --help)\n", argv[1]);
    return 2;
}
