/* The commands of the astromorph program, one file each (src/cli/cmd_<name>.c). Each is called
 * as a program of its own: argv[0] is the command name, argv[1..] its options. It returns the
 * exit status: 0 on success, non-zero after printing a one-line reason to stderr. */
#ifndef AM_CLI_COMMANDS_H
#define AM_CLI_COMMANDS_H

int am_cmd_training(int argc, char **argv);
int am_cmd_inference(int argc, char **argv);
/* The analysis commands (issue 7). */
int am_cmd_similar(int argc, char **argv);
int am_cmd_project(int argc, char **argv);
int am_cmd_cluster(int argc, char **argv);
int am_cmd_outliers(int argc, char **argv);
/* The saved nearest-neighbour index they use (issue 17). */
int am_cmd_index(int argc, char **argv);
/* Quality against labels (issue 12). */
int am_cmd_evaluate(int argc, char **argv);
/* Classic morphology statistics (issue 20). */
int am_cmd_morphology(int argc, char **argv);

/* The explorer page (issue 19). */
int am_cmd_explore(int argc, char **argv);
/* Archive maps into cutouts (issue 18). */
int am_cmd_curate(int argc, char **argv);
/* Every settings key, or a file's effective settings. */
int am_cmd_settings(int argc, char **argv);

/* Reports a failed command: "astromorph <cmd>: <am_errmsg()>" on stderr (and in the run's log);
 * returns the exit status 1. */
int am_cli_fail(const char *cmd);

#endif
