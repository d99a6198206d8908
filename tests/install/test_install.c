/* `make install` as a user of the library meets it: installed into a fresh prefix, a program
 * outside the tree builds with `pkg-config --cflags --libs astromorph` alone (the example that
 * trains a custom CNN with the trainer's Adam, and one that includes the umbrella header) and
 * runs. Skips (77) where cc or pkg-config is missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "astromorph/runtime.h"
#include "test_util.h"

static char out[1 << 14];

/* Runs a shell command, its output into out; returns its exit status. */
static int sh(const char *cmd)
{
    char full[8192];
    snprintf(full, sizeof full, "( %s ) 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

int main(void)
{
    const char *build = getenv("AM_BUILD_DIR");
    CHECK(build != NULL, "AM_BUILD_DIR is not set (ctest sets it to the build folder)");
    if (!build) return am_test_finish();
    if (sh("command -v cc && command -v pkg-config") != 0) return am_test_skip("cc and pkg-config are needed");
    const char *dir = am_test_tmpdir();
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cmake --install '%s' --prefix '%s/prefix'", build, dir);
    CHECK(sh(cmd) == 0, "cmake --install: %s", out);
    snprintf(cmd, sizeof cmd,
             "test -f '%s/prefix/lib/libastromorph.a' && test -f '%s/prefix/include/astromorph.h' && "
             "test -x '%s/prefix/bin/astromorph'",
             dir, dir, dir);
    CHECK(sh(cmd) == 0, "the library, the umbrella header and the program are installed");
    /* a program of one's own, away from the source tree */
    char src[700];
    snprintf(src, sizeof src, "%s/mine.c", dir);
    FILE *fp = fopen(src, "w");
    fprintf(fp, "#include <astromorph.h>\n#include <stdio.h>\n#include <string.h>\n"
                "int main(void)\n{\n    am_adam a;\n    memset(&a, 0, sizeof a);\n    am_adam_free(&a);\n"
                "    printf(\"astromorph %%s\\n\", am_version());\n    return 0;\n}\n");
    fclose(fp);
    /* a sanitizer build's library needs its runtime linked in as well */
    const char *san = getenv("AM_SANITIZE") ? "-fsanitize=address,undefined" : "";
    snprintf(cmd, sizeof cmd,
             "cd '%s' && cp '%s' . && export PKG_CONFIG_PATH='%s/prefix/lib/pkgconfig' && "
             "cc -std=c11 -Wall -Werror %s mine.c -o mine $(pkg-config --cflags --libs astromorph) && "
             "cc -std=c11 -Wall -Werror %s custom_cnn.c -o custom_cnn $(pkg-config --cflags --libs astromorph) && "
             "./mine && ./custom_cnn",
             dir, am_test_path("examples/custom_cnn.c"), dir, san, san);
    int rc = sh(cmd);
    char want[64];
    snprintf(want, sizeof want, "astromorph %s\n", am_version());
    CHECK(rc == 0 && strstr(out, want), "builds with pkg-config alone and says its version: %s", out);
    /* the custom CNN learns with the public Adam */
    double first = 0, last = 0;
    const char *l = strstr(out, "loss ");
    while (l && strstr(l + 1, "loss ")) l = strstr(l + 1, "loss "); /* the summary line is the last */
    CHECK(l && sscanf(l, "loss %lf -> %lf", &first, &last) == 2 && last < 0.5 * first,
          "the example's loss falls by half or more: %s", l ? l : out);
    return am_test_finish();
}
