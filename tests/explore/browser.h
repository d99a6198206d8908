/* What the explorer's browser tests share: finding Chromium and Node, and running
 * tests/explore/drive_explorer.mjs on a page folder (header-only: each test is one program). */
#ifndef AM_TESTS_EXPLORE_BROWSER_H
#define AM_TESTS_EXPLORE_BROWSER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

/* The first of names on the PATH, or NULL. */
static const char *find_program(const char *const *names)
{
    for (int i = 0; names[i]; i++) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", names[i]);
        if (system(cmd) == 0) return names[i];
    }
    return NULL;
}

/* Chromium, Node and the CLI under test ($AM_CLI, set by ctest): 1 when all are there; else 0
 * with *rc the test's exit code (77, skipped, without a browser). */
static int browser_test_start(const char **chrome, const char **node, const char **cli, int *rc)
{
    static const char *const chromes[] = {"chromium", "chromium-browser", NULL}, *const nodes[] = {"node", "nodejs",
                                                                                                   NULL};
    *chrome = find_program(chromes), *node = find_program(nodes), *cli = getenv("AM_CLI");
    if (!*chrome || !*node) {
        *rc = am_test_skip("no chromium or node: the browser test did not run (scripts/install-deps --browser)");
        return 0;
    }
    CHECK(*cli != NULL, "AM_CLI is not set (ctest sets it)");
    if (!*cli) *rc = am_test_finish();
    return *cli != NULL;
}

/* Runs the driver on page_dir with the expectations (JSON); screenshots go to
 * $AM_BUILD_DIR/<shots> (out of the repository). 1 when it printed "explorer ok". */
static int drive_page(const char *chrome, const char *node, const char *page_dir, const char *shots, const char *expect)
{
    const char *build = getenv("AM_BUILD_DIR");
    char out[700], cmd[8192];
    snprintf(out, sizeof out, "%s/%s", build ? build : am_test_tmpdir(), shots);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && rm -f '%s/selection.csv' && %s '%s' %s '%s' '%s' '%s'", out, out, node,
             am_test_path("tests/explore/drive_explorer.mjs"), chrome, page_dir, out, expect);
    FILE *p = popen(cmd, "r");
    char line[4096] = "";
    int ok = 0;
    while (p && fgets(line, sizeof line, p)) {
        fputs(line, stderr);
        ok |= !strncmp(line, "explorer ok", 11);
    }
    int rc = p ? pclose(p) : -1;
    CHECK(ok && rc == 0, "the page in Chromium: %s", line);
    return ok && rc == 0;
}

#endif
