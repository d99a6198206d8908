/* Datasets: file lists and directories, validation reporting every bad file, the cache, read-
 * ahead giving the same items, in-memory images. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "astromorph/dataset.h"
#include "astromorph/rng.h"
#include "astromorph/runtime.h"
#include "fits_files.h"
#include "test_util.h"

static const char *dir;
static int n_warn, n_err;

static void count_logs(am_log_level level, const char *msg, void *user)
{
    (void)msg;
    (void)user;
    if (level == AM_LOG_WARN) n_warn++;
    if (level == AM_LOG_ERROR) n_err++;
}

static void write_ramp(const char *path, long w, long h, double offset)
{
    double *raw = malloc((size_t)(w * h) * sizeof *raw);
    for (long i = 0; i < w * h; i++) raw[i] = offset + (double)(i % w) + 0.5 * (double)(i / w);
    long nx[2] = {w, h};
    tf_write(path, FLOAT_IMG, 2, nx, raw, 1, 0, -1);
    free(raw);
}

static void write_text(const char *path, const char *text) { tf_write_bytes(path, text, strlen(text)); }

static void test_list_and_directory(void)
{
    char sub[1100];
    snprintf(sub, sizeof sub, "%s/imgs", dir);
    mkdir(sub, 0755);
    write_ramp(tf_path(sub, "b.fits"), 6, 5, 0);
    write_ramp(tf_path(sub, "a.fits"), 7, 4, 1);
    write_ramp(tf_path(sub, "c.FITS.gz.part"), 3, 3, 2); /* has .FITS in its name */
    write_text(tf_path(sub, "notes.txt"), "not an image\n");
    char list[3000];
    snprintf(list, sizeof list, "# training images\n\n  imgs/a.fits  \n%s\n   # indented comment\nimgs/b.fits\n",
             am_test_path("data/sample/stel_m83.fits"));
    const char *lp = tf_path(dir, "files.txt");
    write_text(lp, list);

    am_dataset *ds = NULL;
    CHECK_OK(am_dataset_open(&ds, lp, NULL));
    if (ds) {
        CHECK(am_dataset_size(ds) == 3, "3 entries, got %lld", (long long)am_dataset_size(ds));
        CHECK(!strcmp(am_dataset_name(ds, 0), tf_path(dir, "imgs/a.fits")), "relative to the list: %s",
              am_dataset_name(ds, 0));
        CHECK(!strcmp(am_dataset_name(ds, 1), am_test_path("data/sample/stel_m83.fits")), "absolute kept");
        am_tensor img;
        am_meta m;
        CHECK_OK(am_dataset_get(ds, 0, &img, &m));
        CHECK(img.shape[1] == 4 && img.shape[2] == 7 && img.data[1] == 2.0f, "item 0 read");
        CHECK(!strcmp(m.filepath, am_dataset_name(ds, 0)), "meta filepath");
        am_tensor_free(&img);
        am_meta_free(&m);
        int64_t shape[3];
        CHECK_OK(am_dataset_item_shape(ds, 0, shape));
        CHECK(shape[0] == 1 && shape[1] == 4 && shape[2] == 7, "shape known after reading");
        CHECK_FAILS(am_dataset_item_shape(ds, 2, shape), AM_ERR_NOTFOUND, "b.fits");
        CHECK_FAILS(am_dataset_get(ds, 3, &img, NULL), AM_ERR_VALUE, "out of range");
        am_dataset_free(ds);
    }

    CHECK_OK(am_dataset_open(&ds, sub, NULL));
    if (ds) {
        CHECK(am_dataset_size(ds) == 3, "directory: *.fits* only, got %lld", (long long)am_dataset_size(ds));
        CHECK(strstr(am_dataset_name(ds, 0), "/a.fits") && strstr(am_dataset_name(ds, 1), "/b.fits"), "sorted");
        am_dataset_free(ds);
    }
    CHECK_OK(am_dataset_open(&ds, tf_path(sub, "a.fits"), NULL));
    if (ds) {
        CHECK(am_dataset_size(ds) == 1 && strstr(am_dataset_name(ds, 0), "a.fits"), "a FITS file is a dataset of one");
        am_dataset_free(ds);
    }
    const char *el = tf_path(dir, "empty_list.txt");
    write_text(el, "# nothing\n\n");
    CHECK_FAILS(am_dataset_open(&ds, el, NULL), AM_ERR_VALUE, "empty_list.txt: the data file list names no images");
    CHECK_FAILS(am_dataset_open(&ds, tf_path(dir, "nolist.txt"), NULL), AM_ERR_IO, "nolist.txt: cannot open");
    char emptydir[1100];
    snprintf(emptydir, sizeof emptydir, "%s/nothing", dir);
    mkdir(emptydir, 0755);
    CHECK_FAILS(am_dataset_open(&ds, emptydir, NULL), AM_ERR_NOTFOUND, "nothing: no *.fits* files");
}

static void test_validation(void)
{
    char bad[1100];
    snprintf(bad, sizeof bad, "%s/bad", dir);
    mkdir(bad, 0755);
    write_ramp(tf_path(bad, "good1.fits"), 8, 8, 0);
    write_ramp(tf_path(bad, "good2.fits"), 9, 7, 0);
    write_text(tf_path(bad, "text.fits"), "hello, I am not a FITS file, honest\n");
    write_ramp(tf_path(bad, "full.fits"), 100, 100, 0);
    tf_truncate_copy(tf_path(bad, "full.fits"), tf_path(bad, "truncated.fits"), 9000);
    remove(tf_path(bad, "full.fits"));
    long zero[2] = {0, 4};
    tf_write(tf_path(bad, "zero.fits"), FLOAT_IMG, 2, zero, NULL, 1, 0, -1);
    long cube[3] = {4, 4, 3};
    double craw[48];
    for (int i = 0; i < 48; i++) craw[i] = i;
    tf_write(tf_path(bad, "cube.fits"), FLOAT_IMG, 3, cube, craw, 1, 0, -1);
    double nan4[4] = {NAN, NAN, NAN, NAN}, flat4[4] = {3, 3, 3, 3};
    long two[2] = {2, 2};
    tf_write(tf_path(bad, "nan.fits"), FLOAT_IMG, 2, two, nan4, 1, 0, -1);
    tf_write(tf_path(bad, "flat.fits"), FLOAT_IMG, 2, two, flat4, 1, 0, -1);
    int st = 0;
    char *ttype[] = {"A"}, *tform[] = {"1E"};
    fitsfile *f = tf_create(tf_path(bad, "table.fits"), &st);
    fits_create_img(f, BYTE_IMG, 0, NULL, &st);
    fits_create_tbl(f, BINARY_TBL, 0, 1, ttype, tform, NULL, "CAT", &st);
    fits_close_file(f, &st);
    const char *lp = tf_path(bad, "list.txt");
    write_text(lp, "good1.fits\nmissing.fits\ntext.fits\ntruncated.fits\nzero.fits\ncube.fits\nnan.fits\nflat.fits\n"
                   "table.fits\ngood2.fits\n");

    am_dataset_options o;
    am_dataset_options_default(&o);
    o.fits.max_channels = 1;
    am_dataset *ds = NULL;
    CHECK_OK(am_dataset_open(&ds, lp, &o));
    if (!ds) return;
    char *report = NULL;
    n_warn = n_err = 0;
    am_log_set_sink(count_logs, NULL);
    CHECK_FAILS(am_dataset_validate(ds, &report), AM_ERR_IO, "list.txt: 6 of 10 images are bad (first: ");
    CHECK(strstr(am_errmsg(), "missing.fits: cannot open") != NULL, "first bad named: %s", am_errmsg());
    CHECK(n_err == 6 && n_warn == 2, "one line per bad file (%d errors) and per left-out image (%d warnings)", n_err,
          n_warn);
    const char *want[6] = {"missing.fits: cannot open",
                           "text.fits: not a FITS file",
                           "truncated.fits: truncated",
                           "zero.fits: axis 1 has length 0",
                           "cube.fits: 3 channels, the network takes at most 1",
                           "table.fits: no image HDU"};
    for (int k = 0; k < 6; k++) CHECK(report && strstr(report, want[k]), "report names %s", want[k]);
    int lines = 0;
    for (const char *p = report; p && *p; p++) lines += *p == '\n';
    CHECK(lines == 6, "report has one line per bad file: %d\n%s", lines, report ? report : "");
    free(report);
    CHECK(am_dataset_size(ds) == 10, "nothing removed on failure");
    am_dataset_free(ds);

    o.skip_bad_files = 1;
    CHECK_OK(am_dataset_open(&ds, lp, &o));
    n_warn = n_err = 0;
    CHECK_OK(am_dataset_validate(ds, NULL));
    am_log_set_sink(NULL, NULL);
    CHECK(n_warn == 8 && n_err == 0, "skip: warnings %d, errors %d", n_warn, n_err);
    CHECK(am_dataset_size(ds) == 2 && am_dataset_n_skipped(ds) == 8, "2 kept, 8 skipped");
    CHECK(strstr(am_dataset_name(ds, 1), "good2.fits") != NULL, "order kept after skipping");
    int64_t shape[3];
    CHECK_OK(am_dataset_item_shape(ds, 1, shape));
    CHECK(shape[1] == 7 && shape[2] == 9, "shapes known after validation");
    am_dataset_stats s0, s1;
    am_dataset_get_stats(ds, &s0);
    am_tensor img;
    CHECK_OK(am_dataset_get(ds, 1, &img, NULL));
    am_dataset_get_stats(ds, &s1);
    CHECK(s1.hits == s0.hits + 1, "validated images are served from the cache");
    am_tensor_free(&img);
    am_dataset_free(ds);

    /* a 3-channel cube among 2-D maps: with skip_bad_files it is left out by name, as a file of
     * the wrong channel count; without, validation leaves it to the network (training refuses) */
    lp = tf_path(bad, "mixed.txt");
    write_text(lp, "good1.fits\ncube.fits\ngood2.fits\n");
    am_dataset_options_default(&o);
    o.skip_bad_files = 1;
    CHECK_OK(am_dataset_open(&ds, lp, &o));
    char *rep = NULL;
    CHECK_OK(am_dataset_validate(ds, &rep));
    CHECK(am_dataset_size(ds) == 2 && am_dataset_n_skipped(ds) == 1 && rep &&
              strstr(rep, "cube.fits: 3 channel(s), the other images 1"),
          "the odd channel count named and left out: %s", rep ? rep : "");
    free(rep);
    am_dataset_free(ds);
    o.skip_bad_files = 0;
    CHECK_OK(am_dataset_open(&ds, lp, &o));
    CHECK_OK(am_dataset_validate(ds, NULL));
    CHECK(am_dataset_size(ds) == 3, "without skip_bad_files nothing is left out here");
    am_dataset_free(ds);
}

static void test_cache_and_prefetch(void)
{
    const char *sample = am_test_path("data/sample");
    am_dataset_options o;
    am_dataset_options_default(&o);
    o.prefetch = 0;
    o.cache_bytes = 0;
    am_dataset *plain = NULL, *ahead = NULL;
    CHECK_OK(am_dataset_open(&plain, sample, &o));
    o.prefetch = 6;
    o.cache_bytes = 3 * 128 * 128 * 4; /* three sample images */
    CHECK_OK(am_dataset_open(&ahead, sample, &o));
    if (!plain || !ahead) return;
    int64_t n = am_dataset_size(plain);
    CHECK(n == 124 && am_dataset_size(ahead) == n, "124 sample images, got %lld", (long long)n);
    int64_t *order = malloc((size_t)n * sizeof *order);
    for (int64_t i = 0; i < n; i++) order[i] = i;
    am_rng r;
    am_rng_init(&r, 5, 0);
    am_rng_shuffle(&r, order, n);
    am_dataset_prefetch(ahead, order, n);
    int same = 1;
    for (int64_t k = 0; k < n; k++) {
        am_tensor a, b;
        am_meta ma, mb;
        am_status sa = am_dataset_get(plain, order[k], &a, &ma), sb = am_dataset_get(ahead, order[k], &b, &mb);
        if (sa != AM_OK || sb != AM_OK) {
            same = 0;
            break;
        }
        same &= am_tensor_same_shape(&a, &b) && !memcmp(a.data, b.data, (size_t)am_tensor_numel(&a) * 4);
        same &= !strcmp(ma.filepath, mb.filepath) && !strcmp(ma.object, mb.object);
        am_tensor_free(&a);
        am_tensor_free(&b);
        am_meta_free(&ma);
        am_meta_free(&mb);
        nanosleep(&(struct timespec){0, 2000000}, NULL); /* the training step the reading overlaps */
    }
    CHECK(same, "read-ahead gives the same items");
    am_dataset_stats st;
    am_dataset_get_stats(ahead, &st);
    CHECK(st.prefetched > n / 4, "the thread read ahead %lld of %lld", (long long)st.prefetched, (long long)n);
    CHECK(st.hits + st.misses == n, "every get counted");
    CHECK(st.cached_bytes <= o.cache_bytes, "cache bound held: %zu", st.cached_bytes);
    am_dataset_get_stats(plain, &st);
    CHECK(st.misses == n && st.hits == 0 && st.cached_bytes == 0, "no cache: every get reads");
    am_dataset_free(ahead);

    /* LRU: with room for two, the least recently used goes */
    o.prefetch = 0;
    o.cache_bytes = 2 * 128 * 128 * 4;
    CHECK_OK(am_dataset_open(&ahead, sample, &o));
    int64_t seq[6] = {0, 1, 0, 2, 0, 1}; /* misses: 0 1 - 2 - 1 (1 evicted by 2) */
    for (int k = 0; k < 6; k++) {
        am_tensor t;
        CHECK_OK(am_dataset_get(ahead, seq[k], &t, NULL));
        am_tensor_free(&t);
    }
    am_dataset_get_stats(ahead, &st);
    CHECK(st.misses == 4 && st.hits == 2, "LRU: %lld misses, %lld hits", (long long)st.misses, (long long)st.hits);
    am_meta m;
    CHECK_OK(am_dataset_get_meta(ahead, 5, &m));
    CHECK(m.filepath && strstr(m.filepath, ".fits"), "meta alone");
    am_meta_free(&m);
    am_dataset_free(ahead);
    am_dataset_free(plain);
    free(order);
}

/* Several threads asking at once, with read-ahead and a cache too small for all: same images. */
static void test_concurrent_gets(void)
{
    am_dataset_options o;
    am_dataset_options_default(&o);
    o.prefetch = 3;
    o.cache_bytes = 5 * 128 * 128 * 4;
    am_dataset *ds = NULL;
    CHECK_OK(am_dataset_open(&ds, am_test_path("data/sample"), &o));
    if (!ds) return;
    enum { N = 40 };
    static double sums[2][N];
    for (int i = 0; i < N; i++) {
        am_tensor t;
        sums[0][i] = -1;
        if (am_dataset_get(ds, i, &t, NULL) != AM_OK) continue;
        double acc = 0;
        for (int64_t k = 0; k < am_tensor_numel(&t); k++) acc += t.data[k] * (double)(k % 97 + 1);
        sums[0][i] = acc;
        am_tensor_free(&t);
    }
    int64_t order[N];
    for (int i = 0; i < N; i++) order[i] = (i * 17) % N;
    am_dataset_prefetch(ds, order, N);
    int failures = 0;
#pragma omp parallel for schedule(dynamic) num_threads(4) reduction(+ : failures)
    for (int j = 0; j < 3 * N; j++) {
        int i = (int)order[j % N];
        am_tensor t;
        if (am_dataset_get(ds, i, &t, NULL) != AM_OK) {
            failures++;
            continue;
        }
        double acc = 0;
        for (int64_t k = 0; k < am_tensor_numel(&t); k++) acc += t.data[k] * (double)(k % 97 + 1);
        if (acc != sums[0][i]) failures++;
        am_tensor_free(&t);
    }
    CHECK(failures == 0, "concurrent gets: %d wrong or failed", failures);
    am_dataset_stats st;
    am_dataset_get_stats(ds, &st);
    CHECK(st.cached_bytes <= o.cache_bytes, "cache bound under concurrency: %zu", st.cached_bytes);
    am_dataset_free(ds);
}

static void test_from_images(void)
{
    am_tensor imgs[2];
    am_tensor_alloc(&imgs[0], 3, (int64_t[]){1, 3, 4});
    am_tensor_alloc(&imgs[1], 3, (int64_t[]){2, 5, 2});
    for (int i = 0; i < 12; i++) imgs[0].data[i] = (float)i;
    for (int i = 0; i < 20; i++) imgs[1].data[i] = (float)(i % 3);
    imgs[1].data[4] = NAN;
    am_dataset *ds = NULL;
    CHECK_OK(am_dataset_from_images(&ds, imgs, NULL, 2, NULL));
    if (ds) {
        am_tensor t;
        CHECK_OK(am_dataset_get(ds, 1, &t, NULL));
        CHECK(t.shape[0] == 2 && t.data[4] == 0.0f, "in memory, NaN cleaned");
        am_tensor_free(&t);
        CHECK_OK(am_dataset_validate(ds, NULL));
        am_dataset_free(ds);
    }
    for (int i = 0; i < 12; i++) imgs[0].data[i] = 1.0f;
    CHECK_FAILS(am_dataset_from_images(&ds, imgs, NULL, 2, NULL), AM_ERR_NUMERIC, "image 0: constant image");
    am_tensor_free(&imgs[0]);
    am_tensor_free(&imgs[1]);
}

int main(void)
{
    dir = am_test_tmpdir();
    test_list_and_directory();
    test_validation();
    test_cache_and_prefetch();
    test_concurrent_gets();
    test_from_images();
    return am_test_finish();
}
