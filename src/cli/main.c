/* astromorph command-line entry point: finds the command (or its alias) and hands it the rest of
 * the arguments. */
#include <stdio.h>
#include <string.h>

#include "astromorph/runtime.h"
#include "cli/commands.h"

typedef struct {
    const char *name, *alias;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"training", "train", am_cmd_training, "train a BYOL model on FITS images (-c settings.toml)"},
    {"inference", "infer", am_cmd_inference, "embeddings, k-means labels, TensorBoard projector, CSV export"},
    {"similar", NULL, am_cmd_similar, "the images most similar to one image"},
    {"project", NULL, am_cmd_project, "t-SNE or PCA map of the embeddings"},
    {"cluster", NULL, am_cmd_cluster, "k-means clusters of the embeddings"},
    {"outliers", NULL, am_cmd_outliers, "rank images by how unusual their embedding is"},
    {"evaluate", NULL, am_cmd_evaluate, "how well embeddings group labelled images (kNN, linear probe)"},
    {"morphology", NULL, am_cmd_morphology, "classic morphology statistics (C, A, S, Gini, M20, ...) per image"},
    {"explore", NULL, am_cmd_explore, "an explorer page: map, look-alikes, outliers (any browser, offline)"},
    {"curate", NULL, am_cmd_curate, "archive maps into clean cutouts around every source (SEP, DBSCAN, WCS)"},
    {"settings", NULL, am_cmd_settings, "every settings key with its default, or a file's effective settings"},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *fp)
{
    fprintf(fp, "usage: astromorph COMMAND [options]\n\n"
                "Self-supervised (BYOL) morphology analysis of astronomical FITS images.\n\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++) {
        char name[40];
        if (commands[i].alias) snprintf(name, sizeof name, "%s, %s", commands[i].name, commands[i].alias);
        else snprintf(name, sizeof name, "%s", commands[i].name);
        fprintf(fp, "  %-20s %s\n", name, commands[i].summary);
    }
    fprintf(fp, "\noptions:\n  -h, --help           this help\n  --version            the version\n"
                "\nrun 'astromorph COMMAND --help' for a command's options.\n");
}

int am_cli_fail(const char *cmd)
{
    am_log(AM_LOG_DEBUG, "failed: %s", am_errmsg()); /* the log file keeps the reason too */
    fprintf(stderr, "astromorph %s: %s\n", cmd, am_errmsg());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("astromorph %s\n", am_version());
        return 0;
    }
    for (int i = 0; i < N_COMMANDS; i++) {
        const command *c = &commands[i];
        if (strcmp(argv[1], c->name) != 0 && !(c->alias && strcmp(argv[1], c->alias) == 0)) continue;
        argv[1] = (char *)c->name;
        return c->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "astromorph: unknown command '%s' (try --help)\n", argv[1]);
    return 2;
}
