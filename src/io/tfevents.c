/* TensorBoard event files: TFRecord framing around Event protobufs encoded by hand, so no
 * protobuf library is needed. Field numbers from tensorflow/core/util/event.proto and
 * tensorflow/core/framework/summary.proto. */
#include "astromorph/tfevents.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "astromorph/runtime.h"
#include "core/internal.h"
#include "io/crc32c.h"

struct am_tfevents {
    FILE *fp;
    char *path;
};

/* ---- CRC-32C, reflected polynomial 0x82F63B78, one table lookup per byte ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc_table[i] = c;
    }
}

uint32_t am_crc32c(const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t am_crc32c_masked(const void *data, size_t n)
{
    uint32_t c = am_crc32c(data, n);
    return ((c >> 15) | (c << 17)) + 0xA282EAD8u;
}

/* ---- protobuf wire format: just what an Event needs ---- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static int put(buf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 128;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) return -1;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
    return 0;
}

static int put_varint(buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t k = 0;
    do {
        tmp[k++] = (uint8_t)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return put(b, tmp, k);
}

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_BYTES = 2, WIRE_FIXED32 = 5 };

static int put_key(buf *b, unsigned field, unsigned wire) { return put_varint(b, ((uint64_t)field << 3) | wire); }

static int put_le(buf *b, uint64_t v, int bytes)
{
    uint8_t tmp[8];
    for (int i = 0; i < bytes; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    return put(b, tmp, (size_t)bytes);
}

static int put_double(buf *b, unsigned field, double x)
{
    uint64_t v;
    memcpy(&v, &x, sizeof v);
    return put_key(b, field, WIRE_FIXED64) || put_le(b, v, 8);
}

static int put_float(buf *b, unsigned field, float x)
{
    uint32_t v;
    memcpy(&v, &x, sizeof v);
    return put_key(b, field, WIRE_FIXED32) || put_le(b, v, 4);
}

static int put_bytes(buf *b, unsigned field, const void *data, size_t n)
{
    return put_key(b, field, WIRE_BYTES) || put_varint(b, n) || put(b, data, n);
}

/* Event: wall_time = 1 (double), step = 2 (int64), file_version = 3 (string), summary = 5.
 * Summary: value = 1 (repeated). Summary.Value: tag = 1 (string), simple_value = 2 (float). */
enum { EV_WALL_TIME = 1, EV_STEP = 2, EV_FILE_VERSION = 3, EV_SUMMARY = 5 };
enum { SUMMARY_VALUE = 1, VALUE_TAG = 1, VALUE_SIMPLE = 2 };

static am_status write_record(am_tfevents *w, const buf *ev)
{
    uint8_t head[12];
    uint64_t len = ev->n;
    for (int i = 0; i < 8; i++) head[i] = (uint8_t)(len >> (8 * i));
    uint32_t c = am_crc32c_masked(head, 8);
    for (int i = 0; i < 4; i++) head[8 + i] = (uint8_t)(c >> (8 * i));
    uint8_t tail[4];
    c = am_crc32c_masked(ev->p, ev->n);
    for (int i = 0; i < 4; i++) tail[i] = (uint8_t)(c >> (8 * i));
    /* Flushed per record: TensorBoard reads the file while the run goes on. */
    if (fwrite(head, 1, sizeof head, w->fp) != sizeof head || fwrite(ev->p, 1, ev->n, w->fp) != ev->n ||
        fwrite(tail, 1, sizeof tail, w->fp) != sizeof tail || fflush(w->fp) != 0)
        return am_error(AM_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
    return AM_OK;
}

static double now_seconds(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}

/* Opens a name nobody else has: O_EXCL, adding .1, .2, ... when two writers start in one second. */
static am_status create_file(am_tfevents *w, const char *logdir, long t)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0 || !host[0]) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    for (char *h = host; *h; h++)
        if (*h == '/') *h = '_';
    size_t n = strlen(logdir) + strlen(host) + 64;
    w->path = malloc(n);
    if (!w->path) return am_error(AM_ERR_NOMEM, "%s: out of memory", logdir);
    for (int k = 0; k < 1000; k++) {
        if (k == 0) snprintf(w->path, n, "%s/events.out.tfevents.%010ld.%s", logdir, t, host);
        else snprintf(w->path, n, "%s/events.out.tfevents.%010ld.%s.%d", logdir, t, host, k);
        int fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0 && errno == EEXIST) continue;
        if (fd < 0) return am_error(AM_ERR_IO, "%s: cannot create: %s", w->path, strerror(errno));
        w->fp = fdopen(fd, "wb");
        if (!w->fp) {
            close(fd);
            return am_error(AM_ERR_IO, "%s: cannot open: %s", w->path, strerror(errno));
        }
        return AM_OK;
    }
    return am_error(AM_ERR_IO, "%s: no free event file name", logdir);
}

am_status am_tfevents_open(am_tfevents **out, const char *logdir)
{
    *out = NULL;
    if (!logdir || !logdir[0]) return am_error(AM_ERR_VALUE, "tfevents: empty log directory");
    AM_TRY(am_mkdirs(logdir));
    am_tfevents *w = calloc(1, sizeof *w);
    if (!w) return am_error(AM_ERR_NOMEM, "%s: out of memory", logdir);
    double t = now_seconds();
    am_status s = create_file(w, logdir, (long)t);
    if (s == AM_OK) {
        static const char version[] = "brain.Event:2";
        buf ev = {0};
        if (put_double(&ev, EV_WALL_TIME, t) || put_bytes(&ev, EV_FILE_VERSION, version, sizeof version - 1))
            s = am_error(AM_ERR_NOMEM, "%s: out of memory", w->path);
        else s = write_record(w, &ev);
        free(ev.p);
    }
    if (s != AM_OK) {
        if (w->fp) fclose(w->fp);
        if (w->path) remove(w->path);
        free(w->path);
        free(w);
        return s;
    }
    *out = w;
    return AM_OK;
}

am_status am_tfevents_scalar_at(am_tfevents *w, const char *tag, int64_t step, double value, double wall_time)
{
    if (!w || !w->fp) return am_error(AM_ERR_VALUE, "tfevents: writer not open");
    if (!tag || !tag[0]) return am_error(AM_ERR_VALUE, "%s: empty scalar tag", w->path);
    buf val = {0}, sum = {0}, ev = {0};
    int bad = put_bytes(&val, VALUE_TAG, tag, strlen(tag)) || put_float(&val, VALUE_SIMPLE, (float)value) ||
              put_bytes(&sum, SUMMARY_VALUE, val.p, val.n) || put_double(&ev, EV_WALL_TIME, wall_time) ||
              put_key(&ev, EV_STEP, WIRE_VARINT) || put_varint(&ev, (uint64_t)step) ||
              put_bytes(&ev, EV_SUMMARY, sum.p, sum.n);
    am_status s = bad ? am_error(AM_ERR_NOMEM, "%s: out of memory", w->path) : write_record(w, &ev);
    free(val.p);
    free(sum.p);
    free(ev.p);
    return s;
}

am_status am_tfevents_scalar(am_tfevents *w, const char *tag, int64_t step, double value)
{
    return am_tfevents_scalar_at(w, tag, step, value, now_seconds());
}

const char *am_tfevents_path(const am_tfevents *w) { return w ? w->path : NULL; }

am_status am_tfevents_close(am_tfevents *w)
{
    if (!w) return AM_OK;
    am_status s = AM_OK;
    if (w->fp && fclose(w->fp) != 0) s = am_error(AM_ERR_IO, "%s: close failed: %s", w->path, strerror(errno));
    free(w->path);
    free(w);
    return s;
}
