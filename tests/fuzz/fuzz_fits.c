/* libFuzzer target for the FITS loader: mutated files must give either a clean, finite,
 * non-constant C×H×W image or a one-line error naming the file, never a crash or a leak.
 * The reader's own sources are compiled in here so that libFuzzer sees their coverage (the
 * library itself is built without coverage instrumentation).
 *
 * Run (CFITSIO asks calloc for absurd sizes on some corrupt table headers and copes with
 * NULL, so let the allocator return NULL instead of aborting):
 *   make fuzz && mkdir -p corpus && cp data/sample/stel_m83.fits corpus/
 *   ASAN_OPTIONS=allocator_may_return_null=1 build-fuzz/fuzz_fits corpus -max_total_time=60 \
 *       -max_len=24000 -malloc_limit_mb=65536 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../src/data/fits_meta.c"
#include "../../src/data/fits_read.c"
#include "../../src/data/image_clean.c"

static const char *fuzz_path(void)
{
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_fits_%d.fits", (int)getpid());
    return path;
}

static void check_failure(am_status s, const char *path)
{
    const char *msg = am_errmsg();
    /* the one-line contract: names the file, no newline */
    if (s == AM_OK || strncmp(msg, path, strlen(path)) != 0 || strchr(msg, '\n')) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Tile-compressed images are included: their tiles are decoded in a child process
     * (fits_read.c), so CFITSIO's faults on corrupt tiles become a refused file here too. */
    const char *path = fuzz_path();
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    if (size) fwrite(data, 1, size, fp);
    fclose(fp);

    am_fits_options o;
    am_fits_options_default(&o);
    o.max_pixels = (int64_t)1 << 20; /* headers may claim anything: stay within libFuzzer's memory */
    static const char *const keys[] = {"TELESCOP", "BUNIT"};
    o.extra_keys = keys;
    o.n_extra_keys = 2;
    o.nan_policy = (am_nan_policy)(size % 3);

    am_tensor img;
    am_meta meta;
    am_status s = am_fits_read(path, &o, &img, &meta);
    if (s == AM_OK) {
        if (img.ndim != 3 || am_tensor_numel(&img) <= 0 || !am_tensor_all_finite(&img)) __builtin_trap();
        if (!meta.filepath || strcmp(meta.filepath, path) != 0) __builtin_trap();
        float lo = img.data[0], hi = img.data[0];
        for (int64_t i = 1; i < am_tensor_numel(&img); i++) {
            lo = img.data[i] < lo ? img.data[i] : lo;
            hi = img.data[i] > hi ? img.data[i] : hi;
        }
        if (!(hi > lo)) __builtin_trap(); /* constant images must be refused */
        am_tensor_free(&img);
        am_meta_free(&meta);
    } else {
        check_failure(s, path);
    }

    s = am_fits_read_raw(path, &o, &img);
    if (s == AM_OK) am_tensor_free(&img);
    else check_failure(s, path);

    s = am_fits_read_meta(path, &o, &meta);
    if (s == AM_OK) am_meta_free(&meta);
    else check_failure(s, path);
    return 0;
}
