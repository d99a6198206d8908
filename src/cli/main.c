/* astromorph command-line entry point: finds the command (or its alias) and hands it the rest of
 * the arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "astromorph/dist.h"
#include "astromorph/runtime.h"
#include "cli/commands.h"

typedef struct {
    const char *name, *alias;
    int (*run)(int argc, char **argv);
    const char *summary;
    int mpi; /* shares its work over MPI ranks; the others run as one process */
} command;

static const command commands[] = {
    {"training", "train", am_cmd_training, "train a BYOL model on FITS images (-c settings.toml)", 1},
    {"inference", "infer", am_cmd_inference, "embeddings, k-means labels, TensorBoard projector, CSV export", 1},
    {"similar", NULL, am_cmd_similar, "the images most similar to one image", 1},
    {"project", NULL, am_cmd_project, "t-SNE or PCA map of the embeddings", 0},
    {"cluster", NULL, am_cmd_cluster, "k-means clusters of the embeddings", 1},
    {"outliers", NULL, am_cmd_outliers, "rank images by how unusual their embedding is", 1},
    {"index", NULL, am_cmd_index, "a FAISS index beside the embeddings for similar, project, outliers", 0},
    {"evaluate", NULL, am_cmd_evaluate, "how well embeddings group labelled images (kNN, linear probe)", 0},
    {"morphology", NULL, am_cmd_morphology, "classic morphology statistics (C, A, S, Gini, M20, ...) per image", 0},
    {"explore", NULL, am_cmd_explore, "an explorer page: map, look-alikes, outliers (any browser, offline)", 0},
    {"curate", NULL, am_cmd_curate, "archive maps into clean cutouts around every source (SEP, DBSCAN, WCS)", 0},
    {"settings", NULL, am_cmd_settings, "every settings key with its default, or a file's effective settings", 0},
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

/* Over MPI, ranks other than 0 keep quiet (rank 0 prints and logs for the job); their own
 * stderr stays here for a failure only they know of. */
static FILE *rank_err;

static void rank_sink(am_log_level level, const char *msg, void *user)
{
    if (level == AM_LOG_ERROR && rank_err) fprintf(rank_err, "error: rank %d: %s\n", am_dist_rank(), msg);
}

static void quiet_other_ranks(void)
{
    if (am_dist_rank() == 0) return;
    int fd = dup(STDERR_FILENO);
    rank_err = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (rank_err) setvbuf(rank_err, NULL, _IOLBF, 0);
    if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) {
        /* nothing to do: the output then stays on the terminal */
    }
    am_log_set_sink(rank_sink, NULL);
}

int am_cli_fail(const char *cmd)
{
    am_log(AM_LOG_DEBUG, "failed: %s", am_errmsg()); /* the log file keeps the reason too */
    if (am_dist_size() > 1 && !am_dist_failure_agreed()) {
        /* only this rank knows: it says so and ends the job, or the others would wait for it */
        fprintf(rank_err ? rank_err : stderr, "astromorph %s: rank %d: %s\n", cmd, am_dist_rank(), am_errmsg());
        fflush(NULL);
        am_dist_abort(1);
    }
    if (am_dist_rank() == 0) fprintf(stderr, "astromorph %s: %s\n", cmd, am_errmsg());
    return 1;
}

static int main_command(int argc, char **argv);

static int run_command(const command *c, int argc, char **argv)
{
    if (am_dist_size() > 1 && !c->mpi) {
        if (am_dist_rank() == 0)
            fprintf(stderr,
                    "astromorph %s: runs as one process; start it without mpirun (training, inference, similar, "
                    "outliers and cluster share their work over ranks)\n",
                    c->name);
        return 2;
    }
    return c->run(argc, argv);
}

/* Threads that spin while they wait collapse a run when another process shares the cores
 * (bench/README.md, 2 cores, one busy process beside: amm 45 -> 80 images/s when they wait
 * passively, ResNet18 5.6 -> 8.4), but alone spinning is 7-16 % faster. libgomp reads its wait
 * policy once, as it loads, so a command that finds another process running as it starts (the
 * kernel's count of runnable tasks, not the load average, which still holds our previous
 * command) sets the passive policy and starts itself again. A user's own setting is kept. */
static void wait_policy(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    /* five looks 10 ms apart, all busy: a process starting beside us in a pipeline does not count */
    for (int look = 0; look < 5; look++) {
        FILE *fp = fopen("/proc/loadavg", "r");
        int running = 0;
        if (!fp) return;
        if (fscanf(fp, "%*f %*f %*f %d/", &running) != 1) running = 0;
        fclose(fp);
        if (running <= 1) return; /* only this process: the cores are ours, spin */
        if (look < 4) nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    }
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv);
    unsetenv("OMP_WAIT_POLICY"); /* could not: run as we are */
}

int main(int argc, char **argv)
{
    wait_policy(argv);
    if (am_dist_init(&argc, &argv) != AM_OK) {
        fprintf(stderr, "astromorph: %s\n", am_errmsg());
        return 1;
    }
    quiet_other_ranks();
    int rc = main_command(argc, argv);
    fflush(NULL);
    am_dist_finalize();
    return rc;
}

static int main_command(int argc, char **argv)
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
        printf("astromorph %s%s\n", am_version(), am_dist_built_with_mpi() ? " (with MPI)" : "");
        return 0;
    }
    for (int i = 0; i < N_COMMANDS; i++) {
        const command *c = &commands[i];
        if (strcmp(argv[1], c->name) != 0 && !(c->alias && strcmp(argv[1], c->alias) == 0)) continue;
        argv[1] = (char *)c->name;
        return run_command(c, argc - 1, argv + 1);
    }
    fprintf(stderr, "astromorph: unknown command '%s' (try --help)\n", argv[1]);
    return 2;
}
