/* safetensors: round trip, and every kind of malformed file rejected with a clear error. */
#include <stdlib.h>
#include <string.h>

#include "astromorph/safetensors.h"
#include "test_util.h"

static void write_raw(const char *path, const char *header, const void *data, size_t dlen, int64_t hlen_override)
{
    FILE *fp = fopen(path, "wb");
    uint64_t hlen = hlen_override >= 0 ? (uint64_t)hlen_override : strlen(header);
    for (int i = 0; i < 8; i++) fputc((int)((hlen >> (8 * i)) & 0xff), fp);
    fwrite(header, 1, strlen(header), fp);
    if (dlen) fwrite(data, 1, dlen, fp);
    fclose(fp);
}

static void test_round_trip(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/rt.safetensors", am_test_tmpdir());
    am_st_writer *w = am_st_writer_new();
    am_tensor a;
    CHECK_OK(am_tensor_alloc4(&a, 2, 3, 4, 5));
    for (int i = 0; i < 120; i++) a.data[i] = (float)i * 0.25f - 7;
    int64_t nbt = 17, one[1] = {1};
    CHECK_OK(am_st_writer_add_f32(w, "layer1.0.conv1.weight", &a));
    CHECK_OK(am_st_writer_add(w, "bn1.num_batches_tracked", AM_DT_I64, 0, one, &nbt));
    CHECK_OK(am_st_writer_meta(w, "network", "amm"));
    CHECK_OK(am_st_writer_meta(w, "format_version", "1"));
    CHECK_FAILS(am_st_writer_add_f32(w, "layer1.0.conv1.weight", &a), AM_ERR_VALUE, "duplicate");
    CHECK_OK(am_st_writer_write(w, path));
    am_st_writer_free(w);

    am_safetensors st;
    CHECK_OK(am_st_read(&st, path));
    CHECK(st.count == 2, "count %zu", st.count);
    am_tensor b;
    CHECK_OK(am_st_get_f32(&st, "layer1.0.conv1.weight", &b));
    CHECK(am_tensor_same_shape(&a, &b) && memcmp(a.data, b.data, 120 * 4) == 0, "tensor round trip");
    float v;
    CHECK_OK(am_st_copy_f32(&st, "bn1.num_batches_tracked", &v, 1));
    CHECK(v == 17, "i64 value %g", v);
    CHECK(am_st_find(&st, "bn1.num_batches_tracked")->ndim == 0, "scalar rank");
    CHECK(st.meta_count == 2 && strcmp(am_st_meta(&st, "network"), "amm") == 0, "metadata");
    CHECK(am_st_meta(&st, "absent") == NULL, "absent metadata");
    CHECK_FAILS(am_st_get_f32(&st, "nope", &b), AM_ERR_NOTFOUND, "nope");
    /* Header length is a multiple of 8 (padding). */
    FILE *fp = fopen(path, "rb");
    unsigned char len8[8];
    CHECK(fread(len8, 1, 8, fp) == 8, "read");
    fclose(fp);
    CHECK(len8[0] % 8 == 0, "header padded to 8 bytes (%d)", len8[0]);
    am_st_free(&st);
    am_tensor_free(&a);
    am_tensor_free(&b);
}

/* am_st_writer_add copies at once; am_st_writer_add_ref writes the caller's memory as it is at
 * am_st_writer_write: a change in between shows in the second only. */
static void test_ref(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ref.safetensors", am_test_tmpdir());
    float copied[3] = {1, 2, 3}, shared[3] = {4, 5, 6};
    int64_t three[1] = {3};
    am_st_writer *w = am_st_writer_new();
    CHECK_OK(am_st_writer_add(w, "copied", AM_DT_F32, 1, three, copied));
    CHECK_OK(am_st_writer_add_ref(w, "shared", AM_DT_F32, 1, three, shared));
    CHECK_FAILS(am_st_writer_add_ref(w, "shared", AM_DT_F32, 1, three, shared), AM_ERR_VALUE, "duplicate");
    copied[1] = shared[1] = -1;
    CHECK_OK(am_st_writer_write(w, path));
    am_st_writer_free(w);
    am_safetensors st;
    CHECK_OK(am_st_read(&st, path));
    float a[3], b[3];
    CHECK_OK(am_st_copy_f32(&st, "copied", a, 3));
    CHECK_OK(am_st_copy_f32(&st, "shared", b, 3));
    CHECK(a[0] == 1 && a[1] == 2 && a[2] == 3, "a copy keeps the values when added: %g %g %g", a[0], a[1], a[2]);
    CHECK(b[0] == 4 && b[1] == -1 && b[2] == 6, "a reference writes the values at write time: %g %g %g", b[0], b[1],
          b[2]);
    am_st_free(&st);
}

static void test_bad_files(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bad.safetensors", am_test_tmpdir());
    am_safetensors st;
    float data[4] = {1, 2, 3, 4};
    struct {
        const char *header;
        size_t dlen;
        int64_t hlen;
        const char *needle;
    } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, -1, "truncated"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, 1000, "exceeds"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16, -1, "do not match"},
        {"{\"a\":{\"dtype\":\"Q7\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, -1, "unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],"
         "\"data_offsets\":[4,12]}}",
         16, -1, "overlaps"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
         "\"data_offsets\":[8,16]}}",
         16, -1, "duplicate"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16, -1, "bad shape"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]}}", 16, -1, "data_offsets"},
        {"{\"a\":", 16, -1, "JSON"},
        {"[1,2]", 16, -1, "JSON object"},
        {"{\"__metadata__\":{\"k\":3}}", 0, -1, "not a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_raw(path, cases[i].header, data, cases[i].dlen, cases[i].hlen);
        CHECK_FAILS(am_st_read(&st, path), AM_ERR_FORMAT, cases[i].needle);
        CHECK(strstr(am_errmsg(), path) != NULL, "case %zu: message names the file: %s", i, am_errmsg());
    }
    FILE *fp = fopen(path, "wb");
    fputs("abc", fp);
    fclose(fp);
    CHECK_FAILS(am_st_read(&st, path), AM_ERR_FORMAT, "too short");
    CHECK_FAILS(am_st_read(&st, "/nonexistent.safetensors"), AM_ERR_IO, "/nonexistent.safetensors");
    /* Every truncation of a valid file is rejected without a crash. */
    write_raw(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", data, 16, -1);
    fp = fopen(path, "rb");
    unsigned char whole[256];
    size_t n = fread(whole, 1, sizeof whole, fp);
    fclose(fp);
    CHECK_OK(am_st_parse(&st, whole, n, "whole"));
    am_st_free(&st);
    int rejected = 0;
    for (size_t k = 0; k < n; k++) rejected += am_st_parse(&st, whole, k, "cut") != AM_OK;
    CHECK(rejected == (int)n, "every truncation rejected (%d of %zu)", rejected, n);
}

int main(void)
{
    test_round_trip();
    test_ref();
    test_bad_files();
    return am_test_finish();
}
