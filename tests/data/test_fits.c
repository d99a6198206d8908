/* FITS reading: every BITPIX with scaling and BLANK, cubes, squeezed axes, extensions,
 * compression, NaN policies, metadata, and every kind of bad file named in one line. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "astromorph/fits.h"
#include "fits_files.h"
#include "test_util.h"

static const char *dir;

static void test_sample(void)
{
    am_tensor img;
    am_meta m;
    const char *path = am_test_path("data/sample/stel_m83.fits");
    CHECK_OK(am_fits_read(path, NULL, &img, &m));
    CHECK(img.ndim == 3 && img.shape[0] == 1 && img.shape[1] == 128 && img.shape[2] == 128, "sample shape");
    CHECK(am_tensor_all_finite(&img), "sample finite");
    float lo = 1e9f, hi = -1e9f;
    for (int64_t i = 0; i < am_tensor_numel(&img); i++) {
        lo = fminf(lo, img.data[i]);
        hi = fmaxf(hi, img.data[i]);
    }
    CHECK(lo >= 0 && hi <= 255 && hi > lo, "8-bit sample range [%g, %g]", lo, hi);
    CHECK(m.filepath && !strcmp(m.filepath, path), "filepath %s", m.filepath);
    am_tensor_free(&img);
    am_meta_free(&m);
}

/* Each BITPIX, values through BSCALE/BZERO: physical = raw * bscale + bzero. */
static void test_bitpix(void)
{
    const int bitpix[] = {BYTE_IMG, SHORT_IMG, LONG_IMG, LONGLONG_IMG, FLOAT_IMG, DOUBLE_IMG};
    long naxes[2] = {5, 3};
    double raw[15];
    for (int i = 0; i < 15; i++) raw[i] = i * 7 % 15;
    for (int b = 0; b < 6; b++) {
        for (int scaled = 0; scaled < 2; scaled++) {
            char name[64];
            snprintf(name, sizeof name, "bitpix%d_%d.fits", bitpix[b], scaled);
            const char *p = tf_path(dir, name);
            double bscale = scaled ? 0.5 : 1, bzero = scaled ? -3 : 0;
            CHECK(tf_write(p, bitpix[b], 2, naxes, raw, bscale, bzero, -1) == 0, "write %s", name);
            am_tensor img;
            CHECK_OK(am_fits_read(p, NULL, &img, NULL));
            CHECK(img.shape[0] == 1 && img.shape[1] == 3 && img.shape[2] == 5, "%s shape", name);
            float want[15];
            for (int i = 0; i < 15; i++) want[i] = (float)(raw[i] * bscale + bzero);
            CHECK(am_test_close(name, img.data, want, 15, 1e-6, 1), "%s values", name);
            am_tensor_free(&img);
        }
    }
}

static void test_blank_and_nan_policies(void)
{
    long naxes[2] = {4, 2};
    double raw[8] = {10, 99, 30, 40, 50, 60, 70, 80}; /* 99 is BLANK */
    const char *p = tf_path(dir, "blank.fits");
    CHECK(tf_write(p, SHORT_IMG, 2, naxes, raw, 1, 0, 99) == 0, "write blank");
    am_tensor img;
    CHECK_OK(am_fits_read_raw(p, NULL, &img));
    CHECK(isnan(img.data[1]) && img.data[0] == 10, "BLANK becomes NaN raw: %g", img.data[1]);
    am_tensor_free(&img);

    am_fits_options o;
    am_fits_options_default(&o);
    const am_nan_policy pol[3] = {AM_NAN_ZERO, AM_NAN_MIN, AM_NAN_MEDIAN};
    const float want[3] = {0, 10, 50}; /* finite 10 30 40 50 60 70 80: median 50 */
    for (int k = 0; k < 3; k++) {
        o.nan_policy = pol[k];
        CHECK_OK(am_fits_read(p, &o, &img, NULL));
        CHECK(img.data[1] == want[k], "policy %s: %g, want %g", am_nan_policy_name(pol[k]), img.data[1], want[k]);
        CHECK(am_tensor_all_finite(&img), "clean after policy");
        am_tensor_free(&img);
    }

    /* float image with NaN and Inf */
    double fraw[6] = {1, NAN, 3, INFINITY, -INFINITY, 5};
    long n2[2] = {3, 2};
    const char *pf = tf_path(dir, "nanf.fits");
    CHECK(tf_write(pf, FLOAT_IMG, 2, n2, fraw, 1, 0, -1) == 0, "write nan float");
    o.nan_policy = AM_NAN_MEDIAN;
    CHECK_OK(am_fits_read(pf, &o, &img, NULL));
    CHECK(img.data[1] == 3 && img.data[3] == 3 && img.data[4] == 3, "median fill of NaN/Inf: %g %g %g", img.data[1],
          img.data[3], img.data[4]);
    am_tensor_free(&img);

    am_nan_policy np;
    CHECK_OK(am_nan_policy_parse("median", &np));
    CHECK(np == AM_NAN_MEDIAN, "parse median");
    CHECK_FAILS(am_nan_policy_parse("mean", &np), AM_ERR_VALUE, "\"mean\"");

    /* all NaN, and constant, are refused by name */
    double allnan[6] = {NAN, NAN, NAN, NAN, NAN, NAN}, flat[6] = {2, 2, NAN, 2, 2, 2};
    const char *pn = tf_path(dir, "allnan.fits"), *pc = tf_path(dir, "flat.fits");
    tf_write(pn, DOUBLE_IMG, 2, n2, allnan, 1, 0, -1);
    tf_write(pc, FLOAT_IMG, 2, n2, flat, 1, 0, -1);
    CHECK_FAILS(am_fits_read(pn, NULL, &img, NULL), AM_ERR_NUMERIC, "allnan.fits: all pixels are NaN");
    CHECK_FAILS(am_fits_read(pc, NULL, &img, NULL), AM_ERR_NUMERIC, "flat.fits: constant image");
}

static void test_cubes_and_axes(void)
{
    double raw[2 * 3 * 4];
    for (int i = 0; i < 24; i++) raw[i] = i;
    long cube[3] = {4, 3, 2};
    const char *p = tf_path(dir, "cube.fits");
    tf_write(p, FLOAT_IMG, 3, cube, raw, 1, 0, -1);
    am_tensor img;
    CHECK_OK(am_fits_read(p, NULL, &img, NULL));
    CHECK(img.shape[0] == 2 && img.shape[1] == 3 && img.shape[2] == 4, "cube -> 2x3x4");
    CHECK(img.data[12] == 12 && img.data[5] == 5, "cube order: plane 1 starts at 12");
    am_tensor_free(&img);

    long alma[4] = {4, 3, 1, 1};
    p = tf_path(dir, "alma.fits");
    tf_write(p, FLOAT_IMG, 4, alma, raw, 1, 0, -1);
    CHECK_OK(am_fits_read(p, NULL, &img, NULL));
    CHECK(img.shape[0] == 1 && img.shape[1] == 3 && img.shape[2] == 4, "4-D 1x1 squeezed");
    am_tensor_free(&img);

    long stokes[4] = {4, 3, 1, 2}; /* freq 1, two Stokes planes: channels */
    p = tf_path(dir, "stokes.fits");
    tf_write(p, FLOAT_IMG, 4, stokes, raw, 1, 0, -1);
    CHECK_OK(am_fits_read(p, NULL, &img, NULL));
    CHECK(img.shape[0] == 2 && img.data[12] == 12, "4-D with one long extra axis");
    am_tensor_free(&img);

    long two[4] = {3, 2, 2, 2};
    p = tf_path(dir, "twoaxes.fits");
    tf_write(p, FLOAT_IMG, 4, two, raw, 1, 0, -1);
    CHECK_FAILS(am_fits_read(p, NULL, &img, NULL), AM_ERR_SHAPE, "twoaxes.fits: axes 3 and 4");

    long one[1] = {6};
    p = tf_path(dir, "spectrum.fits");
    tf_write(p, FLOAT_IMG, 1, one, raw, 1, 0, -1);
    CHECK_FAILS(am_fits_read(p, NULL, &img, NULL), AM_ERR_SHAPE, "spectrum.fits: 1-D data");

    long zero[2] = {0, 5};
    p = tf_path(dir, "zeroaxis.fits");
    tf_write(p, FLOAT_IMG, 2, zero, NULL, 1, 0, -1);
    CHECK_FAILS(am_fits_read(p, NULL, &img, NULL), AM_ERR_SHAPE, "zeroaxis.fits: axis 1 has length 0");

    /* More channels than the network takes */
    am_fits_options o;
    am_fits_options_default(&o);
    o.max_channels = 1;
    CHECK_FAILS(am_fits_read(tf_path(dir, "cube.fits"), &o, &img, NULL), AM_ERR_SHAPE,
                "cube.fits: 2 channels, the network takes at most 1");
    am_tensor t;
    CHECK_OK(am_tensor_alloc(&t, 3, (int64_t[]){4, 2, 2}));
    CHECK_FAILS(am_image_check_channels(&t, 3, "x.fits"), AM_ERR_SHAPE,
                "x.fits: 4 channels, the network takes at most 3");
    CHECK_OK(am_image_check_channels(&t, 4, "x.fits"));
    CHECK_OK(am_image_check_channels(&t, 0, "x.fits"));
    am_tensor_free(&t);

    /* A pixel limit stops a header that claims a huge image before any allocation */
    o.max_channels = 0;
    o.max_pixels = 10;
    CHECK_FAILS(am_fits_read(tf_path(dir, "cube.fits"), &o, &img, NULL), AM_ERR_SHAPE, "larger than the limit");
}

/* Primary header empty, images in extensions; a table; [ext] selection by number and name. */
static void test_extensions(void)
{
    const char *p = tf_path(dir, "ext.fits");
    int st = 0;
    fitsfile *f = tf_create(p, &st);
    fits_create_img(f, BYTE_IMG, 0, NULL, &st);
    fits_write_key(f, TSTRING, "OBJECT", "NGC 1234", NULL, &st);
    char *ttype[] = {"A"}, *tform[] = {"1E"};
    fits_create_tbl(f, BINARY_TBL, 0, 1, ttype, tform, NULL, "CAT", &st);
    long nx[2] = {3, 2};
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {9, 8, 7, 6, 5, 4};
    fits_create_img(f, FLOAT_IMG, 2, nx, &st);
    fits_write_img(f, TFLOAT, 1, 6, a, &st);
    fits_write_key(f, TSTRING, "EXTNAME", "FIRST", NULL, &st);
    fits_write_key(f, TSTRING, "OBSRA", "10:00:00", NULL, &st);
    fits_create_img(f, FLOAT_IMG, 2, nx, &st);
    fits_write_img(f, TFLOAT, 1, 6, b, &st);
    fits_write_key(f, TSTRING, "EXTNAME", "SCI", NULL, &st);
    fits_close_file(f, &st);
    CHECK(st == 0, "write ext file %d", st);

    am_tensor img;
    am_meta m;
    CHECK_OK(am_fits_read(p, NULL, &img, &m));
    CHECK(img.data[0] == 1, "first image HDU is read: %g", img.data[0]);
    CHECK(!strcmp(m.object, "NGC 1234"), "OBJECT from the primary header: %s", m.object);
    CHECK(!strcmp(m.ra, "10:00:00"), "OBSRA from the image HDU: %s", m.ra);
    am_tensor_free(&img);
    am_meta_free(&m);
    char q[1100];
    snprintf(q, sizeof q, "%s[3]", p);
    CHECK_OK(am_fits_read(q, NULL, &img, &m));
    CHECK(img.data[0] == 9, "[3] is the second image: %g", img.data[0]);
    CHECK(!strcmp(m.filepath, q), "filepath keeps [ext]");
    am_tensor_free(&img);
    am_meta_free(&m);
    snprintf(q, sizeof q, "%s[SCI]", p);
    CHECK_OK(am_fits_read(q, NULL, &img, NULL));
    CHECK(img.data[0] == 9, "[SCI] by EXTNAME");
    am_tensor_free(&img);
    snprintf(q, sizeof q, "%s[1]", p);
    CHECK_FAILS(am_fits_read(q, NULL, &img, NULL), AM_ERR_FORMAT, "is a table, not an image");
    snprintf(q, sizeof q, "%s[0]", p);
    CHECK_FAILS(am_fits_read(q, NULL, &img, NULL), AM_ERR_SHAPE, "ext.fits[0]: the HDU holds no pixels");
    snprintf(q, sizeof q, "%s[7]", p);
    CHECK_FAILS(am_fits_read(q, NULL, &img, NULL), AM_ERR_FORMAT, "ext.fits[7]");

    /* Only a table: no image HDU */
    p = tf_path(dir, "table.fits");
    st = 0;
    f = tf_create(p, &st);
    fits_create_img(f, BYTE_IMG, 0, NULL, &st);
    fits_create_tbl(f, BINARY_TBL, 0, 1, ttype, tform, NULL, "CAT", &st);
    fits_close_file(f, &st);
    CHECK_FAILS(am_fits_read(p, NULL, &img, NULL), AM_ERR_FORMAT, "table.fits: no image HDU");
}

static void test_compressed(void)
{
    double raw[64 * 48];
    for (int i = 0; i < 64 * 48; i++) raw[i] = (i % 64) * 3 + (i / 64);
    long nx[2] = {64, 48};
    /* Tile-compressed (.fz): CFITSIO writes it when asked with [compress]; compressed images
     * take only their own pixel type. */
    char fz[1100];
    snprintf(fz, sizeof fz, "%s[compress R]", tf_path(dir, "rice.fits.fz"));
    short sraw[64 * 48];
    float want[64 * 48];
    for (int i = 0; i < 64 * 48; i++) want[i] = sraw[i] = (short)raw[i];
    int st = 0;
    fitsfile *f = tf_create(fz, &st);
    fits_create_img(f, SHORT_IMG, 2, nx, &st);
    fits_write_img(f, TSHORT, 1, 64 * 48, sraw, &st);
    fits_close_file(f, &st);
    CHECK(st == 0, "write .fz: %d", st);
    am_tensor img;
    am_status s = am_fits_read(tf_path(dir, "rice.fits.fz"), NULL, &img, NULL);
    CHECK(s == AM_OK, ".fz: %s", am_errmsg());
    if (s == AM_OK) {
        CHECK(img.shape[1] == 48 && img.shape[2] == 64, ".fz shape");
        CHECK(am_test_close(".fz", img.data, want, 64 * 48, 0, 1), ".fz values");
        am_tensor_free(&img);
    }
    /* gzip: written plain, then gzipped */
    const char *plain = tf_path(dir, "gz.fits");
    tf_write(plain, FLOAT_IMG, 2, nx, raw, 1, 0, -1);
    char cmd[2300];
    snprintf(cmd, sizeof cmd, "gzip -f '%s'", plain);
    CHECK(system(cmd) == 0, "gzip");
    s = am_fits_read(tf_path(dir, "gz.fits.gz"), NULL, &img, NULL);
    CHECK(s == AM_OK, ".gz: %s", am_errmsg());
    if (s == AM_OK) {
        CHECK(am_test_close(".gz", img.data, want, 64 * 48, 0, 1), ".gz values");
        am_tensor_free(&img);
    }
    /* CFITSIO misreads a gzip file under a path with ".Z": a clear message, not a mystery. */
    char zdir[1100], zpath[1200];
    snprintf(zdir, sizeof zdir, "%s/obs.Zwicky", dir);
    snprintf(zpath, sizeof zpath, "%s/gz.fits.gz", zdir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s'", zdir, tf_path(dir, "gz.fits.gz"), zpath);
    CHECK(system(cmd) == 0, "copy under .Z folder");
    s = am_fits_read(zpath, NULL, &img, NULL);
    if (s == AM_OK) am_tensor_free(&img); /* a fixed CFITSIO reads it: fine too */
    else CHECK_FAILS(s, AM_ERR_FORMAT, "rename the folder or gunzip the file");
    /* gzip around something that is not FITS */
    const char *txt = tf_path(dir, "words.fits");
    tf_write_bytes(txt, "no FITS here\n", 13);
    snprintf(cmd, sizeof cmd, "gzip -f '%s'", txt);
    CHECK(system(cmd) == 0, "gzip words");
    CHECK_FAILS(am_fits_read(tf_path(dir, "words.fits.gz"), NULL, &img, NULL), AM_ERR_FORMAT,
                "words.fits.gz: compressed, but not readable as FITS");
    /* A gzip trailer claiming gigabytes is refused before CFITSIO allocates them */
    const char *gz = tf_path(dir, "gz.fits.gz");
    long n = tf_file_size(gz);
    char *bytes = malloc((size_t)n);
    FILE *fp = fopen(gz, "rb");
    CHECK(fread(bytes, 1, (size_t)n, fp) == (size_t)n, "read gz");
    fclose(fp);
    memcpy(bytes + n - 4, "\xff\xff\xff\xf0", 4);
    const char *liar = tf_path(dir, "liar.fits.gz");
    tf_write_bytes(liar, bytes, (size_t)n);
    free(bytes);
    am_fits_options o;
    am_fits_options_default(&o);
    o.max_pixels = 1 << 20;
    CHECK_FAILS(am_fits_read(liar, &o, &img, NULL), AM_ERR_FORMAT,
                "liar.fits.gz: gzip trailer claims 4043309055 bytes");
}

/* A header card's integer value in a FITS header block (0 when absent). */
static long card_long(const char *hdr, size_t len, const char *key)
{
    for (size_t at = 0; at + 80 <= len; at += 80)
        if (!strncmp(hdr + at, key, strlen(key)) && hdr[at + 8] == '=') return strtol(hdr + at + 10, NULL, 10);
    return 0;
}

/* A corrupt Rice tile (issue 13): CFITSIO 4.2.0 crashes decoding it (SIGSEGV in
 * fits_rdecomp_short); the reader must refuse the image with one line naming the file and go on. */
static void test_corrupt_tile(void)
{
    enum { S = 512 };
    static short pix[S * S];
    for (int i = 0; i < S * S; i++) pix[i] = (short)((i * 7919) % 3001);
    char fz[1100];
    snprintf(fz, sizeof fz, "%s[compress R %d,%d]", tf_path(dir, "bad_tile.fits.fz"), S, S);
    int st = 0;
    long nx[2] = {S, S};
    fitsfile *f = tf_create(fz, &st);
    fits_create_img(f, SHORT_IMG, 2, nx, &st);
    fits_write_img(f, TSHORT, 1, S * S, pix, &st);
    fits_close_file(f, &st);
    CHECK(st == 0, "write the Rice image: %d", st);
    const char *path = tf_path(dir, "bad_tile.fits.fz");
    long n = tf_file_size(path);
    char *b = malloc((size_t)n);
    FILE *fp = fopen(path, "rb");
    CHECK(b && fp && fread(b, 1, (size_t)n, fp) == (size_t)n, "read back");
    if (fp) fclose(fp);
    /* the second header (the compressed image's binary table), its end, then row 0's descriptor
     * of COMPRESSED_DATA (count, offset into the heap) */
    size_t h2 = 0, end = 0;
    for (size_t at = 0; at + 80 <= (size_t)n; at += 80)
        if (!strncmp(b + at, "END     ", 8) && at % 80 == 0) {
            h2 = (at / 2880 + 1) * 2880;
            break;
        }
    for (size_t at = h2; at + 80 <= (size_t)n; at += 80)
        if (!strncmp(b + at, "END     ", 8)) {
            end = (at / 2880 + 1) * 2880;
            break;
        }
    int ok = h2 && end && strstr(b + h2, "COMPRESSED_DATA") != NULL;
    CHECK(ok, "found the compressed tile table");
    if (ok) {
        long naxis1 = card_long(b + h2, end - h2, "NAXIS1"), naxis2 = card_long(b + h2, end - h2, "NAXIS2");
        long theap = card_long(b + h2, end - h2, "THEAP");
        if (!theap) theap = naxis1 * naxis2;
        const unsigned char *d = (const unsigned char *)b + end;
        long count = (long)d[0] << 24 | d[1] << 16 | d[2] << 8 | d[3],
             off = (long)d[4] << 24 | d[5] << 16 | d[6] << 8 | d[7];
        size_t tile = end + (size_t)theap + (size_t)off;
        CHECK(count > 8 && tile + (size_t)count <= (size_t)n, "tile of %ld bytes at %zu", count, tile);
        if (count > 8 && tile + (size_t)count <= (size_t)n) {
            memset(b + tile, 0, (size_t)count);
            b[tile + 2] = 0x10;
        }
        tf_write_bytes(path, b, (size_t)n);
    }
    free(b);
    am_tensor img;
    CHECK_FAILS(am_fits_read(path, NULL, &img, NULL), AM_ERR_FORMAT, "bad_tile.fits.fz: corrupt compressed image");
    /* the process goes on reading: the good .fz still reads */
    am_status s = am_fits_read(tf_path(dir, "rice.fits.fz"), NULL, &img, NULL);
    CHECK(s == AM_OK, "after a corrupt tile, a good .fz: %s", am_errmsg());
    if (s == AM_OK) am_tensor_free(&img);
}

static void test_metadata(void)
{
    const char *p = tf_path(dir, "meta.fits");
    int st = 0;
    long nx[2] = {2, 2};
    float a[4] = {1, 2, 3, 4};
    double dec = -12.5;
    fitsfile *f = tf_create(p, &st);
    fits_create_img(f, FLOAT_IMG, 2, nx, &st);
    fits_write_img(f, TFLOAT, 1, 4, a, &st);
    fits_write_key(f, TSTRING, "OBJECT", "M 83 'Southern'", NULL, &st);
    fits_write_key(f, TDOUBLE, "OBSDEC", &dec, NULL, &st);
    fits_write_key(f, TSTRING, "RESTFRQ", "   ", NULL, &st);
    fits_write_key(f, TSTRING, "TELESCOP", "ALMA", NULL, &st);
    fits_close_file(f, &st);
    am_fits_options o;
    am_fits_options_default(&o);
    const char *keys[] = {"TELESCOP", "INSTRUME"};
    o.extra_keys = keys;
    o.n_extra_keys = 2;
    am_tensor img;
    am_meta m;
    CHECK_OK(am_fits_read(p, &o, &img, &m));
    CHECK(!strcmp(m.object, "M 83 'Southern'"), "quoted OBJECT: [%s]", m.object);
    CHECK(!strcmp(m.ra, "N/A"), "absent OBSRA: %s", m.ra);
    CHECK(atof(m.dec) == -12.5, "numeric OBSDEC: %s", m.dec);
    CHECK(!strcmp(m.restfreq, "N/A"), "blank RESTFRQ: [%s]", m.restfreq);
    CHECK(m.extra && !strcmp(m.extra, "TELESCOP=ALMA;INSTRUME=N/A"), "extra: %s", m.extra ? m.extra : "(null)");
    am_tensor_free(&img);
    am_meta_free(&m);
    CHECK_OK(am_fits_read_meta(p, NULL, &m));
    CHECK(!strcmp(m.object, "M 83 'Southern'") && !m.extra, "meta only");
    am_meta_free(&m);

    /* am_fits_write round trip, with metadata */
    am_tensor t;
    CHECK_OK(am_tensor_alloc(&t, 3, (int64_t[]){2, 3, 4}));
    for (int i = 0; i < 24; i++) t.data[i] = (float)i * 0.25f;
    am_meta wm;
    am_meta_init(&wm);
    strcpy(wm.object, "Written");
    const char *pw = tf_path(dir, "written.fits");
    CHECK_OK(am_fits_write(pw, &t, &wm));
    CHECK_OK(am_fits_read(pw, NULL, &img, &m));
    CHECK(am_tensor_same_shape(&img, &t) && am_test_close("roundtrip", img.data, t.data, 24, 0, 1), "roundtrip");
    CHECK(!strcmp(m.object, "Written"), "written OBJECT");
    am_tensor_free(&img);
    am_meta_free(&m);
    am_tensor_free(&t);
}

/* Every kind of bad file: one line naming the file and the problem. */
static void test_bad_files(void)
{
    am_tensor img;
    am_meta m;
    const char *missing = tf_path(dir, "missing.fits");
    CHECK_FAILS(am_fits_read(missing, NULL, &img, &m), AM_ERR_IO, "missing.fits: cannot open: No such file");
    CHECK_FAILS(am_fits_read(dir, NULL, &img, NULL), AM_ERR_IO, "is a directory");

    const char *empty = tf_path(dir, "empty.fits");
    tf_write_bytes(empty, "", 0);
    CHECK_FAILS(am_fits_read(empty, NULL, &img, NULL), AM_ERR_FORMAT, "empty.fits: empty file");

    const char *text = tf_path(dir, "notes.fits");
    const char *words = "This is not FITS at all, just some words in a text file.\n";
    tf_write_bytes(text, words, strlen(words));
    CHECK_FAILS(am_fits_read(text, NULL, &img, NULL), AM_ERR_FORMAT, "notes.fits: not a FITS file");

    const char *png = tf_path(dir, "png.fits");
    unsigned char sig[3000] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    tf_write_bytes(png, sig, sizeof sig);
    CHECK_FAILS(am_fits_read(png, NULL, &img, NULL), AM_ERR_FORMAT, "png.fits: not a FITS file");

    /* A good 100x100 file cut short inside the header and inside the data */
    double raw[100 * 100];
    for (int i = 0; i < 10000; i++) raw[i] = i;
    long nx[2] = {100, 100};
    const char *good = tf_path(dir, "good.fits");
    tf_write(good, FLOAT_IMG, 2, nx, raw, 1, 0, -1);
    const char *cut_head = tf_path(dir, "cut_header.fits"), *cut_data = tf_path(dir, "cut_data.fits");
    tf_truncate_copy(good, cut_head, 1000);
    tf_truncate_copy(good, cut_data, 2880 + 20000);
    CHECK_FAILS(am_fits_read(cut_head, NULL, &img, NULL), AM_ERR_FORMAT, "cut_header.fits: truncated");
    CHECK_FAILS(am_fits_read(cut_data, NULL, &img, NULL), AM_ERR_FORMAT, "cut_data.fits: truncated");

    /* A corrupt header: NAXIS card garbled */
    FILE *fp = fopen(good, "rb");
    char block[2880 * 2];
    size_t got = fread(block, 1, sizeof block, fp);
    fclose(fp);
    char *naxis = strstr(block, "NAXIS   =");
    if (naxis) memcpy(naxis + 10, "          banana", 16);
    const char *bad_head = tf_path(dir, "bad_header.fits");
    tf_write_bytes(bad_head, block, got);
    CHECK_FAILS(am_fits_read(bad_head, NULL, &img, NULL), AM_ERR_FORMAT, "bad_header.fits: ");

    /* Random bytes after a valid SIMPLE card */
    const char *garbage = tf_path(dir, "garbage.fits");
    char junk[2880];
    memset(junk, '#', sizeof junk);
    memcpy(junk, "SIMPLE  =                    T", 30);
    tf_write_bytes(garbage, junk, sizeof junk);
    CHECK_FAILS(am_fits_read(garbage, NULL, &img, NULL), AM_ERR_FORMAT, "garbage.fits: ");

    /* The message is a single line */
    CHECK(strchr(am_errmsg(), '\n') == NULL, "one line: %s", am_errmsg());
    /* a good file still reads after all that */
    CHECK_OK(am_fits_read(good, NULL, &img, NULL));
    am_tensor_free(&img);
}

int main(void)
{
    dir = am_test_tmpdir();
    test_sample();
    test_bitpix();
    test_blank_and_nan_policies();
    test_cubes_and_axes();
    test_extensions();
    test_compressed();
    test_corrupt_tile();
    test_metadata();
    test_bad_files();
    return am_test_finish();
}
