/* Status codes and error messages, in the manner of CFITSIO and SEP: every fallible function
 * returns an am_status; on failure, am_errmsg() holds a one-line reason naming the file, key
 * or tensor at fault. The message is thread-local. */
#ifndef ASTROMORPH_STATUS_H
#define ASTROMORPH_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    AM_OK = 0,
    AM_ERR_NOMEM, /* allocation failed */
    AM_ERR_IO, /* a file could not be opened, read or written */
    AM_ERR_FORMAT, /* a file's content is malformed (FITS, TOML, safetensors, ...) */
    AM_ERR_VALUE, /* an argument or setting has a bad value */
    AM_ERR_SHAPE, /* tensor shapes do not fit */
    AM_ERR_NOTFOUND, /* a named thing (key, tensor, layer, file) does not exist */
    AM_ERR_BACKEND, /* oneDNN / BLAS / LAPACK reported a failure */
    AM_ERR_NUMERIC, /* a NaN or Inf where a finite number is needed */
    AM_ERR_INTERRUPTED /* stopped on request (Ctrl-C) */
} am_status;

/* Sets the thread's error message (printf-style) and returns code, so that
 * `return am_error(AM_ERR_IO, "%s: cannot open", path);` reads naturally. */
am_status am_error(am_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the current message with more context: "context: old message". Returns code. */
am_status am_error_prefix(am_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *am_errmsg(void);
/* strerror(errno), or that of EIO when errno is 0: the reason a write failed. */
const char *am_errno_text(void);
void am_clear_error(void);
const char *am_status_name(am_status s);

/* Evaluate an expression returning am_status; return it from the caller on failure. */
#define AM_TRY(expr)                                                                                                   \
    do {                                                                                                               \
        am_status am_try_s_ = (expr);                                                                                  \
        if (am_try_s_ != AM_OK) return am_try_s_;                                                                      \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
