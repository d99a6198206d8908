/* A small test harness: checks that record failures and go on, tensor comparison with a
 * tolerance relative to the tensor's scale (printing the worst element), fixture loading. */
#ifndef AM_TEST_UTIL_H
#define AM_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>

#include "astromorph/safetensors.h"
#include "astromorph/status.h"
#include "astromorph/tensor.h"

extern int am_test_failures;
extern int am_test_checks;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        am_test_checks++;                                                                                              \
        if (!(cond)) {                                                                                                 \
            am_test_failures++;                                                                                        \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                            \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
        }                                                                                                              \
    } while (0)

/* Checks that an am_status expression is AM_OK, printing am_errmsg() otherwise. */
#define CHECK_OK(expr)                                                                                                 \
    do {                                                                                                               \
        am_status chk_s_ = (expr);                                                                                     \
        CHECK(chk_s_ == AM_OK, "%s -> %s: %s", #expr, am_status_name(chk_s_), am_errmsg());                            \
    } while (0)

/* Checks that expr fails with `code` and that the message contains `needle` (may be NULL). */
#define CHECK_FAILS(expr, code, needle) am_test_check_fails((expr), (code), (needle), #expr, __FILE__, __LINE__)
void am_test_check_fails(am_status got, am_status code, const char *needle, const char *what, const char *file,
                         int line);

/* max|got - want| <= rtol * max(max|want|, floor): true on success; prints the worst element
 * (flat index and NCHW-style coordinates) otherwise. */
int am_test_close(const char *what, const float *got, const float *want, int64_t n, double rtol, double floor);
int am_test_close_tensor(const char *what, const am_tensor *got, const am_tensor *want, double rtol);

/* Absolute path of a file in the source tree. Returned pointer is to a static rotating buffer. */
const char *am_test_path(const char *relative);
/* A fresh empty temporary directory (removed by am_test_finish unless AM_KEEP_TMP is set). */
const char *am_test_tmpdir(void);

/* A whole file as a NUL-terminated string (its length in *len if len); NULL if unreadable.
 * The caller frees it. */
char *am_test_slurp(const char *path, size_t *len);

/* Loads a fixture file tests/fixtures/<name>.safetensors; aborts the test on failure. */
void am_test_fixture(am_safetensors *st, const char *name);
/* Loads a tensor from a fixture; aborts the test if absent. */
void am_test_fixture_tensor(const am_safetensors *st, const char *name, am_tensor *out);

/* Prints the summary; returns the process exit status. */
int am_test_finish(void);
/* As am_test_finish, for a test that could not run (all or part): says why and returns CTest's
 * skip code (77) when nothing that did run failed, 1 otherwise. */
#define AM_TEST_SKIP 77
int am_test_skip(const char *why);

#endif
