/* FITS images into C×H×W float32 tensors with CFITSIO; every failure is one line naming the file. */
#include "astromorph/fits.h"

#include <errno.h>
#include <fitsio.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "astromorph/runtime.h"
#include "data/fits_internal.h"
#include "core/internal.h"

enum { MAX_AXES = 16 };

void am_fits_options_default(am_fits_options *o)
{
    memset(o, 0, sizeof *o);
    o->nan_policy = AM_NAN_ZERO;
    o->max_pixels = (int64_t)1 << 31;
}

static void cfitsio_text(int status, char *txt)
{
    fits_get_errstatus(status, txt);
    fits_clear_errmsg(); /* CFITSIO keeps a global message stack; we report our own line */
}

/* Names why CFITSIO could not open a file, from what the file itself looks like. */
static am_status open_failure(const char *path, int status)
{
    char base[4096];
    snprintf(base, sizeof base, "%s", path);
    struct stat sb;
    if (stat(base, &sb) != 0) {
        char *br = strrchr(base, '['); /* file.fits[ext]: look at the file part */
        if (br) *br = '\0';
        if (stat(base, &sb) != 0) {
            int e = errno;
            fits_clear_errmsg();
            return am_error(AM_ERR_IO, "%s: cannot open: %s", path, strerror(e));
        }
    }
    char txt[FLEN_STATUS];
    cfitsio_text(status, txt);
    if (S_ISDIR(sb.st_mode)) return am_error(AM_ERR_IO, "%s: is a directory, not a FITS file", path);
    if (sb.st_size == 0) return am_error(AM_ERR_FORMAT, "%s: empty file, not FITS", path);
    FILE *fp = fopen(base, "rb");
    if (!fp) return am_error(AM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char head[10] = {0};
    size_t got = fread(head, 1, sizeof head, fp);
    fclose(fp);
    /* gzip, compress, pack; zip; bzip2: CFITSIO unpacks these */
    int packed = (got >= 2 && head[0] == 0x1f) || (got >= 4 && !memcmp(head, "PK\3\4", 4)) ||
                 (got >= 3 && !memcmp(head, "BZh", 3));
    int fits = got >= 9 && memcmp(head, "SIMPLE  =", 9) == 0;
    /* CFITSIO 4.2 picks its decompressor by name: any ".Z" in the path (a folder "obs.Zwicky/")
     * makes it read a gzip file as Unix compress. */
    if (got >= 2 && head[0] == 0x1f && head[1] == 0x8b && strstr(path, ".Z"))
        return am_error(AM_ERR_FORMAT,
                        "%s: gzip file whose path contains \".Z\", which CFITSIO takes for Unix compress: "
                        "rename the folder or gunzip the file",
                        path);
    if (packed) return am_error(AM_ERR_FORMAT, "%s: compressed, but not readable as FITS (%s)", path, txt);
    if (!fits) return am_error(AM_ERR_FORMAT, "%s: not a FITS file (no SIMPLE card)", path);
    if (sb.st_size < 2880 && fits)
        return am_error(AM_ERR_FORMAT, "%s: truncated FITS file (%lld bytes, a header alone takes 2880)", path,
                        (long long)sb.st_size);
    return am_error(AM_ERR_FORMAT, "%s: cannot open as FITS (%s)", path, txt);
}

/* CFITSIO allocates a gzip file's whole uncompressed size (the trailer's ISIZE) up front: a
 * corrupt trailer can ask for 4 GiB. Refuse sizes no image within the pixel limit needs
 * (doubles plus headers); ISIZE wraps at 4 GiB, so larger genuine files pass. */
static am_status check_gzip_size(const char *path, int64_t max_pixels)
{
    if (max_pixels <= 0) return AM_OK;
    FILE *fp = fopen(path, "rb");
    if (!fp) return AM_OK; /* the open that follows reports it */
    unsigned char head[2] = {0}, tail[4] = {0};
    int gz = fread(head, 1, 2, fp) == 2 && head[0] == 0x1f && head[1] == 0x8b;
    int have_tail = gz && fseek(fp, -4, SEEK_END) == 0 && fread(tail, 1, 4, fp) == 4;
    fclose(fp);
    if (!have_tail) return AM_OK;
    uint64_t isize = tail[0] | (uint64_t)tail[1] << 8 | (uint64_t)tail[2] << 16 | (uint64_t)tail[3] << 24;
    uint64_t allowed = (uint64_t)max_pixels * 8 + ((uint64_t)1 << 20);
    if (isize > allowed)
        return am_error(AM_ERR_FORMAT,
                        "%s: gzip trailer claims %llu bytes, more than an image of at most %lld pixels needs", path,
                        (unsigned long long)isize, (long long)max_pixels);
    return AM_OK;
}

am_status am_fits_open(const char *path, int64_t max_pixels, fitsfile **out)
{
    AM_TRY(check_gzip_size(path, max_pixels));
    int st = 0;
    fitsfile *f = NULL;
    if (fits_open_file(&f, path, READONLY, &st)) {
        if (f) {
            int st2 = 0;
            fits_close_file(f, &st2);
        }
        return open_failure(path, st);
    }
    *out = f;
    return AM_OK;
}

void am_fits_close(fitsfile *f)
{
    int st = 0;
    if (f) fits_close_file(f, &st);
    fits_clear_errmsg();
}

/* Without an explicit [ext], moves to the first HDU holding an image (NAXIS > 0). */
static am_status find_image_hdu(fitsfile *f, const char *path)
{
    int st = 0, type = 0, naxis = 0;
    char txt[FLEN_STATUS];
    if (strchr(path, '[')) {
        fits_get_hdu_type(f, &type, &st);
        if (!st && type != IMAGE_HDU) {
            int num = 0;
            fits_get_hdu_num(f, &num);
            return am_error(AM_ERR_FORMAT, "%s: HDU %d is a table, not an image", path, num);
        }
        if (st) {
            cfitsio_text(st, txt);
            return am_error(AM_ERR_FORMAT, "%s: cannot read HDU (%s)", path, txt);
        }
        return AM_OK;
    }
    for (int hdu = 1;; hdu++) {
        st = 0;
        if (fits_movabs_hdu(f, hdu, &type, &st)) {
            if (st == END_OF_FILE && hdu > 1) {
                fits_clear_errmsg();
                return am_error(AM_ERR_FORMAT, "%s: no image HDU (%d HDU%s, none with pixels)", path, hdu - 1,
                                hdu - 1 == 1 ? "" : "s");
            }
            cfitsio_text(st, txt);
            return am_error(AM_ERR_FORMAT, "%s: cannot read HDU %d (%s)", path, hdu, txt);
        }
        if (type != IMAGE_HDU) continue;
        if (fits_get_img_dim(f, &naxis, &st)) {
            cfitsio_text(st, txt);
            return am_error(AM_ERR_FORMAT, "%s: HDU %d has a bad image header (%s)", path, hdu, txt);
        }
        if (naxis > 0) return AM_OK;
    }
}

/* The image's C×H×W from its axes: axes beyond the second of length 1 are squeezed, one other
 * becomes channels. */
static am_status image_shape(fitsfile *f, const char *path, int64_t max_pixels, int64_t shape[3], int64_t *numel)
{
    int st = 0, bitpix = 0, naxis = 0;
    LONGLONG naxes[MAX_AXES] = {0};
    char txt[FLEN_STATUS];
    if (fits_get_img_dim(f, &naxis, &st)) {
        cfitsio_text(st, txt);
        return am_error(AM_ERR_FORMAT, "%s: bad image header (%s)", path, txt);
    }
    if (naxis > MAX_AXES) return am_error(AM_ERR_SHAPE, "%s: %d axes, at most %d supported", path, naxis, MAX_AXES);
    if (fits_get_img_paramll(f, MAX_AXES, &bitpix, &naxis, naxes, &st)) {
        cfitsio_text(st, txt);
        return am_error(AM_ERR_FORMAT, "%s: bad image header (%s)", path, txt);
    }
    if (naxis == 0) return am_error(AM_ERR_SHAPE, "%s: the HDU holds no pixels (NAXIS = 0)", path);
    for (int k = 0; k < naxis; k++)
        if (naxes[k] <= 0)
            return am_error(AM_ERR_SHAPE, "%s: axis %d has length %lld", path, k + 1, (long long)naxes[k]);
    if (naxis < 2) return am_error(AM_ERR_SHAPE, "%s: 1-D data (%lld values), not an image", path, (long long)naxes[0]);
    int64_t c = 1;
    int channel_axis = 0;
    for (int k = 2; k < naxis; k++) {
        if (naxes[k] == 1) continue;
        if (channel_axis)
            return am_error(AM_ERR_SHAPE,
                            "%s: axes %d and %d both longer than 1; only one besides the image plane can be channels",
                            path, channel_axis, k + 1);
        channel_axis = k + 1;
        c = naxes[k];
    }
    shape[0] = c;
    shape[1] = naxes[1];
    shape[2] = naxes[0];
    double total = (double)c * (double)naxes[0] * (double)naxes[1];
    if (total > 4e18) /* int64 would overflow */
        return am_error(AM_ERR_SHAPE, "%s: %lldx%lldx%lld image is too large", path, (long long)c, (long long)naxes[1],
                        (long long)naxes[0]);
    if (max_pixels > 0 && total > (double)max_pixels)
        return am_error(AM_ERR_SHAPE, "%s: %lldx%lldx%lld image is larger than the limit of %lld pixels", path,
                        (long long)c, (long long)naxes[1], (long long)naxes[0], (long long)max_pixels);
    *numel = c * naxes[0] * naxes[1];
    return AM_OK;
}

/* An uncompressed file shorter than its header promises is truncated: say so before
 * allocating for it. */
static am_status check_length(fitsfile *f, const char *path)
{
    int st = 0;
    if (fits_is_compressed_image(f, &st)) return AM_OK;
    LONGLONG headstart = 0, datastart = 0, dataend = 0;
    st = 0;
    if (fits_get_hduaddrll(f, &headstart, &datastart, &dataend, &st)) return AM_OK;
    char base[4096];
    snprintf(base, sizeof base, "%s", path);
    char *br = strrchr(base, '[');
    if (br && !am_file_exists(base)) *br = '\0';
    FILE *fp = fopen(base, "rb");
    if (!fp) return AM_OK;
    unsigned char head[9] = {0};
    size_t got = fread(head, 1, sizeof head, fp);
    int plain = got == 9 && memcmp(head, "SIMPLE  =", 9) == 0; /* not gzip, .Z, zip, ... */
    long long size = -1;
    if (plain && fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
    fclose(fp);
    /* The last block may lack its padding; the pixels themselves must be there. */
    if (size >= 0 && (long long)dataend - 2879 > size) {
        return am_error(AM_ERR_FORMAT, "%s: truncated: the header promises data up to byte %lld, the file has %lld",
                        path, (long long)dataend, size);
    }
    return AM_OK;
}

static am_status pixel_error(const char *path, int st, const char *txt)
{
    if (st == END_OF_FILE || st == READ_ERROR)
        return am_error(AM_ERR_FORMAT, "%s: truncated or unreadable pixel data (%s)", path, txt);
    return am_error(AM_ERR_FORMAT, "%s: cannot read pixels (%s)", path, txt);
}

/* What the child that decodes a compressed image reports, after the pixels in the shared map. */
typedef struct decode_result {
    int status;
    char txt[FLEN_STATUS];
} decode_result;

/* Tile-compressed images are decoded in a child process. CFITSIO 4.2.0's decoders trust the
 * tiles (fits_rdecomp_short reads and writes past its buffers on a corrupt Rice tile), and a
 * fault there would end the whole run; in a child it ends only the child, and the image is
 * refused with a message. The child opens the file anew (it must not move the parent's file
 * offset) and writes the pixels into memory shared with the parent. */
static am_status read_compressed(fitsfile *f, const char *path, int64_t numel, float *out)
{
    int hdu = 0;
    fits_get_hdu_num(f, &hdu);
    size_t bytes = (size_t)numel * sizeof(float), total = bytes + sizeof(decode_result);
    void *map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) return am_error(AM_ERR_NOMEM, "%s: no memory to decode the compressed image", path);
    decode_result *res = (decode_result *)((char *)map + bytes);
    res->status = -1;
    fflush(NULL); /* the child must not write out the parent's buffered output again */
    pid_t pid = fork();
    if (pid < 0) {
        munmap(map, total);
        return am_error(AM_ERR_IO, "%s: cannot start the decoder process: %s", path, strerror(errno));
    }
    if (pid == 0) {
        fitsfile *g = NULL;
        int st = 0, anynul = 0;
        float nulval = NAN;
        if (!fits_open_file(&g, path, READONLY, &st) && !fits_movabs_hdu(g, hdu, NULL, &st))
            fits_read_img(g, TFLOAT, 1, (LONGLONG)numel, &nulval, (float *)map, &anynul, &st);
        if (st) fits_get_errstatus(st, res->txt);
        res->status = st;
        _exit(0);
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {}
    am_status s = AM_OK;
    if (WIFSIGNALED(ws))
        s = am_error(AM_ERR_FORMAT, "%s: corrupt compressed image (decoding its tiles crashed: signal %d)", path,
                     WTERMSIG(ws));
    else if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0 || res->status < 0)
        s = am_error(AM_ERR_FORMAT, "%s: corrupt compressed image (its decoder failed)", path);
    else if (res->status == END_OF_FILE || res->status == READ_ERROR) s = pixel_error(path, res->status, res->txt);
    else if (res->status) s = am_error(AM_ERR_FORMAT, "%s: corrupt compressed image (%s)", path, res->txt);
    else memcpy(out, map, bytes);
    munmap(map, total);
    return s;
}

static am_status read_pixels(fitsfile *f, const char *path, const int64_t shape[3], int64_t numel, am_tensor *image)
{
    AM_TRY(am_tensor_alloc(image, 3, shape) == AM_OK
               ? AM_OK
               : am_error(AM_ERR_NOMEM, "%s: out of memory for a %lldx%lldx%lld image", path, (long long)shape[0],
                          (long long)shape[1], (long long)shape[2]));
    int st = 0, anynul = 0;
    float nulval = NAN; /* BLANK pixels and IEEE NaN both come back as NaN */
    if (fits_is_compressed_image(f, &st)) {
        am_status s = read_compressed(f, path, numel, image->data);
        if (s != AM_OK) am_tensor_free(image);
        return s;
    }
    st = 0;
    if (fits_read_img(f, TFLOAT, 1, (LONGLONG)numel, &nulval, image->data, &anynul, &st)) {
        char txt[FLEN_STATUS];
        cfitsio_text(st, txt);
        am_tensor_free(image);
        return pixel_error(path, st, txt);
    }
    return AM_OK;
}

am_status am_fits_read_hdu_pixels(fitsfile *f, const char *path, int64_t max_pixels, am_tensor *image)
{
    int64_t shape[3], numel = 0;
    AM_TRY(find_image_hdu(f, path));
    AM_TRY(image_shape(f, path, max_pixels, shape, &numel));
    AM_TRY(check_length(f, path));
    return read_pixels(f, path, shape, numel, image);
}

am_status am_fits_read_raw(const char *path, const am_fits_options *opt, am_tensor *image)
{
    am_fits_options def;
    if (!opt) {
        am_fits_options_default(&def);
        opt = &def;
    }
    memset(image, 0, sizeof *image);
    fitsfile *f = NULL;
    am_fits_lock();
    am_status s = am_fits_open(path, opt->max_pixels, &f);
    if (s == AM_OK) s = am_fits_read_hdu_pixels(f, path, opt->max_pixels, image);
    am_fits_close(f);
    am_fits_unlock();
    return s;
}

am_status am_fits_read(const char *path, const am_fits_options *opt, am_tensor *image, am_meta *meta)
{
    am_fits_options def;
    if (!opt) {
        am_fits_options_default(&def);
        opt = &def;
    }
    memset(image, 0, sizeof *image);
    if (meta) am_meta_init(meta);
    fitsfile *f = NULL;
    am_fits_lock();
    am_status s = am_fits_open(path, opt->max_pixels, &f);
    if (s == AM_OK) s = am_fits_read_hdu_pixels(f, path, opt->max_pixels, image);
    if (s == AM_OK && meta) s = am_fits_header_meta(f, path, opt, meta);
    am_fits_close(f);
    am_fits_unlock();
    if (s == AM_OK) s = am_image_check_channels(image, opt->max_channels, path);
    if (s == AM_OK) s = am_image_clean(image, opt->nan_policy, path, NULL);
    if (s != AM_OK) {
        am_tensor_free(image);
        if (meta) am_meta_free(meta);
    }
    return s;
}

am_status am_fits_read_meta(const char *path, const am_fits_options *opt, am_meta *meta)
{
    am_fits_options def;
    if (!opt) {
        am_fits_options_default(&def);
        opt = &def;
    }
    am_meta_init(meta);
    fitsfile *f = NULL;
    am_fits_lock();
    am_status s = am_fits_open(path, opt->max_pixels, &f);
    if (s == AM_OK) s = find_image_hdu(f, path);
    if (s == AM_OK) s = am_fits_header_meta(f, path, opt, meta);
    am_fits_close(f);
    am_fits_unlock();
    if (s != AM_OK) am_meta_free(meta);
    return s;
}

am_status am_image_check_channels(const am_tensor *image, int max_channels, const char *name)
{
    if (max_channels > 0 && image->ndim == 3 && image->shape[0] > max_channels)
        return am_error(AM_ERR_SHAPE, "%s: %lld channels, the network takes at most %d", name,
                        (long long)image->shape[0], max_channels);
    return AM_OK;
}
