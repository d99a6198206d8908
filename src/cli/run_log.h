/* What the pipeline commands share: a log that goes to the terminal and to logs/<time>.log,
 * the run's time label, the failure line. */
#ifndef AM_CLI_RUN_LOG_H
#define AM_CLI_RUN_LOG_H

#include <stdio.h>

#include "astromorph/status.h"

/* "YYYYmmdd_HHMM" of now, local time (the original's start_time). */
void am_cli_time_label(char out[16]);

/* Routes am_log: INFO and above to stderr, everything (with a time stamp) to the log file when
 * one is open. am_cli_log_open appends to path (creating its folder); am_cli_log_close closes
 * the file and keeps INFO on the terminal (also usable with no file open). */
am_status am_cli_log_open(const char *path);
void am_cli_log_close(void);
FILE *am_cli_log_file(void); /* NULL when no file is open */

/* Reports a failed command: "astromorph <cmd>: <am_errmsg()>"; returns the exit status 1. */
int am_cli_fail(const char *cmd);

#endif
