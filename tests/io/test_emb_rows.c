/* Row metadata of embeddings files: the tensor layout (rows_json + rows_offsets) round trip,
 * eager and left in the file (AM_EMB_LAZY_META); files without offsets and with the rows in the
 * header still read; malformed metadata (cut short, lying offsets, not UTF-8) fails with one
 * line naming the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/embeddings.h"
#include "astromorph/rng.h"
#include "astromorph/safetensors.h"
#include "io/emb_rows.h"
#include "test_util.h"

enum { N = 5, D = 2 };

static void make(am_embeddings *e)
{
    CHECK_OK(am_embeddings_alloc(e, N, D));
    for (int64_t i = 0; i < N * D; i++) e->data[i] = (float)i;
    strcpy(e->meta[0].object, "M 31");
    e->meta[0].filepath = strdup("a,[b]/x.fits");
    strcpy(e->meta[1].object, "quote \" back \\ tab \t end");
    e->meta[1].extra = strdup("K={1,2};L=\"q\"");
    strcpy(e->meta[2].object, "Latin-1 \xe9 byte"); /* not UTF-8: written as U+00E9 */
    strcpy(e->meta[3].object, "M 31");
    e->meta[3].ra_deg = 10.684708333333333, e->meta[3].dec_deg = 41.26875;
    strcpy(e->meta[3].radec_from, "wcs");
    e->meta[3].hdu = 2;
    strcpy(e->meta[4].object, "\xc3\xa9t\xc3\xa9"); /* UTF-8 kept as it is */
}

/* Row i of `got` against row i of `want`, the one byte that was not UTF-8 read back as U+00E9. */
static void same_row(const am_meta *want, const am_meta *got, int64_t i)
{
    const char *obj = i == 2 ? "Latin-1 \xc3\xa9 byte" : want->object;
    CHECK(!strcmp(got->object, obj), "row %lld: object '%s', wrote '%s'", (long long)i, got->object, obj);
    CHECK(!strcmp(got->ra, want->ra) && !strcmp(got->restfreq, want->restfreq), "row %lld: ra/restfreq", (long long)i);
    CHECK(!want->filepath == !got->filepath && (!want->filepath || !strcmp(got->filepath, want->filepath)),
          "row %lld: filepath", (long long)i);
    CHECK(!want->extra == !got->extra && (!want->extra || !strcmp(got->extra, want->extra)), "row %lld: extra",
          (long long)i);
    CHECK(!strcmp(got->radec_from, want->radec_from) && got->hdu == want->hdu, "row %lld: position source / hdu",
          (long long)i);
    if (want->radec_from[0])
        CHECK(got->ra_deg == want->ra_deg && got->dec_deg == want->dec_deg, "row %lld: %.17g %.17g", (long long)i,
              got->ra_deg, got->dec_deg);
}

/* A file of N rows whose metadata is `json` in a rows_json tensor, with `off` (N + 1) when given. */
static void write_raw(const char *path, const char *json, const int64_t *off)
{
    float v[N * D] = {0};
    int64_t sh[2] = {N, D}, len = (int64_t)strlen(json), noff = N + 1;
    am_st_writer *w = am_st_writer_new();
    CHECK_OK(am_st_writer_add(w, "embeddings", AM_DT_F32, 2, sh, v));
    CHECK_OK(am_st_writer_add(w, "rows_json", AM_DT_U8, 1, &len, json));
    if (off) CHECK_OK(am_st_writer_add(w, "rows_offsets", AM_DT_I64, 1, &noff, off));
    CHECK_OK(am_st_writer_write(w, path));
    am_st_writer_free(w);
}

/* Fails to load eagerly, and lazily either at the load or at the first decode of every row. */
static void fails(const char *path, const char *needle)
{
    am_embeddings e;
    CHECK_FAILS(am_embeddings_load(&e, path), AM_ERR_FORMAT, needle);
    CHECK(strstr(am_errmsg(), path) != NULL && !strchr(am_errmsg(), '\n'), "message '%s' names no file", am_errmsg());
    am_status s = am_embeddings_load_opts(&e, path, AM_EMB_LAZY_META);
    for (int64_t i = 0; s == AM_OK && i < e.n; i++) {
        am_meta m;
        s = am_embeddings_meta(&e, i, &m);
        am_meta_free(&m);
    }
    if (s == AM_OK) s = am_embeddings_meta_all(&e);
    CHECK(s == AM_ERR_FORMAT && strstr(am_errmsg(), needle) && strstr(am_errmsg(), path), "lazily: '%s', want '%s'",
          am_errmsg(), needle);
    am_embeddings_free(&e);
}

int main(void)
{
    char path[3][512];
    for (int k = 0; k < 3; k++) snprintf(path[k], sizeof path[k], "%s/rows%d.safetensors", am_test_tmpdir(), k);
    const char *file = path[0], *again = path[1], *raw = path[2];
    am_embeddings w, e, l;
    make(&w);

    /* The tensor layout, as a large set is written. */
    am_rows_in_header_max = 0;
    CHECK_OK(am_embeddings_write(&w, file));
    am_safetensors st;
    CHECK_OK(am_st_read(&st, file));
    const am_st_entry *ro = am_st_find(&st, "rows_offsets");
    CHECK(ro && ro->dtype == AM_DT_I64 && ro->shape[0] == N + 1 && am_st_find(&st, "rows_json") &&
              !am_st_meta(&st, "rows"),
          "rows not written as rows_json + rows_offsets");
    am_st_free(&st);
    CHECK_OK(am_embeddings_load(&e, file));
    for (int64_t i = 0; i < N; i++) same_row(&w.meta[i], &e.meta[i], i);
    am_embeddings_free(&e);

    /* Left in the file: no metadata array, a row decoded on demand, OBJECT compared in place. */
    CHECK_OK(am_embeddings_load_opts(&l, file, AM_EMB_LAZY_META));
    CHECK(l.meta == NULL && l.rowtab != NULL, "lazy load decoded the metadata");
    for (int64_t i = N - 1; i >= 0; i--) {
        am_meta m;
        CHECK_OK(am_embeddings_meta(&l, i, &m));
        same_row(&w.meta[i], &m, i);
        am_meta_free(&m);
        int same = -1;
        CHECK_OK(am_embeddings_object_is(&l, i, w.meta[i].object, &same));
        CHECK(same == (i != 2), "row %lld: object_is says %d", (long long)i, same);
        CHECK_OK(am_embeddings_object_is(&l, i, "M 31", &same));
        CHECK(same == (i == 0 || i == 3), "row %lld: object_is 'M 31' says %d", (long long)i, same);
    }
    /* a selection keeps the right rows; written again, the metadata comes from the file */
    uint8_t keep[N] = {0, 1, 0, 1, 1};
    CHECK_OK(am_embeddings_select(&l, keep));
    CHECK(l.n == 3 && l.meta == NULL, "select: %lld rows", (long long)l.n);
    am_rows_in_header_max = 48 * 1000 * 1000; /* and into the header this time */
    CHECK_OK(am_embeddings_write(&l, again));
    am_embeddings_free(&l);
    CHECK_OK(am_embeddings_load_opts(&l, again, AM_EMB_LAZY_META));
    CHECK(l.n == 3 && l.data[0] == 2.0f, "rewritten selection: %lld rows, first value %g", (long long)l.n,
          (double)(l.n ? l.data[0] : -1));
    CHECK_OK(am_embeddings_meta_all(&l));
    const int64_t kept[3] = {1, 3, 4};
    for (int64_t i = 0; l.meta && i < 3; i++) same_row(&w.meta[kept[i]], &l.meta[i], kept[i]);
    am_embeddings_free(&l);
    /* float16 rows converted to float32: the metadata's table then holds the file by itself */
    CHECK_OK(am_embeddings_write_f16(&w, again));
    CHECK_OK(am_embeddings_load_opts(&l, again, AM_EMB_LAZY_META));
    CHECK(l.mapping == NULL && l.rowtab && l.data && l.data[3] == 3.0f, "F16 file not converted");
    for (int64_t i = 0; i < N; i++) {
        am_meta m;
        CHECK_OK(am_embeddings_meta(&l, i, &m));
        same_row(&w.meta[i], &m, i);
        am_meta_free(&m);
    }
    am_embeddings_free(&l);
    /* one rank's share, with the stored offsets */
    CHECK_OK(am_embeddings_read_rows(&l, file, 2, 4));
    CHECK(l.n == 2 && l.meta, "share: %lld rows", (long long)l.n);
    for (int64_t i = 0; l.meta && i < 2; i++) same_row(&w.meta[2 + i], &l.meta[i], 2 + i);
    am_embeddings_free(&l);

    /* Files of before the offsets: rows_json alone (scanned for the rows), read either way. */
    const char *old = "[{\"object\":\"a\"},{\"object\":\"b,]\"} ,\n{\"object\":\"c\\u00e9\"},{},{\"object\":\"a\"}]";
    write_raw(raw, old, NULL);
    CHECK_OK(am_embeddings_load_opts(&l, raw, AM_EMB_LAZY_META));
    const char *objs[N] = {"a", "b,]", "c\xc3\xa9", "N/A", "a"};
    for (int64_t i = 0; i < N; i++) {
        am_meta m;
        CHECK_OK(am_embeddings_meta(&l, i, &m));
        CHECK(!strcmp(m.object, objs[i]), "old file row %lld: '%s'", (long long)i, m.object);
        am_meta_free(&m);
        int same = 0;
        CHECK_OK(am_embeddings_object_is(&l, i, objs[i], &same));
        CHECK(same, "old file row %lld: object_is", (long long)i);
    }
    am_embeddings_free(&l);

    /* Malformed metadata. */
    write_raw(raw, "[{\"object\":\"a\"},{\"object\":\"b\"},{\"object\":\"c\"},{}", NULL);
    fails(raw, "cut short");
    write_raw(raw, "[{\"object\":\"a\"},{\"object\":\"b\"},{\"object\":\"c\"},{},{\"object\":\"d", NULL);
    fails(raw, "cut short");
    write_raw(raw, "[{},{},{},{},{},{}]", NULL);
    fails(raw, "array of 5 objects");
    write_raw(raw, "[{},{},{},{},{\"object\":\"bad \xff byte\"}]", NULL);
    fails(raw, "rows[4].object is not UTF-8");
    write_raw(raw, "[{},{},{},{},{\"object\":\"\xed\xa0\x80 surrogate\"}]", NULL);
    fails(raw, "not UTF-8");
    const char *five = "[{\"object\":\"a\"},{\"object\":\"b\"},{\"object\":\"c\"},{},{\"object\":\"e\"}]";
    const int64_t good[N + 1] = {1, 16, 31, 46, 49, 63};
    write_raw(raw, five, good);
    CHECK_OK(am_embeddings_load(&l, raw));
    CHECK(!strcmp(l.meta[4].object, "e") && !strcmp(l.meta[3].object, "N/A"), "hand-made offsets misread");
    am_embeddings_free(&l);
    struct {
        int64_t off[N + 1];
        const char *needle;
    } lies[] = {
        {{1, 16, 16, 46, 49, 63}, "not inside 'rows_json'"}, /* not increasing */
        {{1, 16, 31, 46, 49, 900}, "not inside 'rows_json'"}, /* past the text */
        {{1, 16, 31, 46, 49, 60}, "not inside 'rows_json'"}, /* the last not at the ']' */
        {{0, 16, 31, 46, 49, 63}, "not inside 'rows_json'"}, /* at the '[' */
        {{1, 20, 31, 46, 49, 63}, "rows[0]"}, /* inside a row */
        {{1, 12, 31, 46, 49, 63}, "rows[0]"}, /* a row cut in two */
        {{1, 31, 34, 46, 49, 63}, "rows[0] runs into the next row"}, /* two rows as one */
    };
    for (size_t k = 0; k < sizeof lies / sizeof *lies; k++) {
        write_raw(raw, five, lies[k].off);
        fails(raw, lies[k].needle);
    }
    write_raw(raw, five, NULL);
    {
        float v[N * D] = {0};
        int64_t sh[2] = {N, D}, len = (int64_t)strlen(five), n3 = 3;
        int32_t small[3] = {1, 2, 3};
        am_st_writer *ww = am_st_writer_new();
        CHECK_OK(am_st_writer_add(ww, "embeddings", AM_DT_F32, 2, sh, v));
        CHECK_OK(am_st_writer_add(ww, "rows_json", AM_DT_U8, 1, &len, five));
        CHECK_OK(am_st_writer_add(ww, "rows_offsets", AM_DT_I32, 1, &n3, small));
        CHECK_OK(am_st_writer_write(ww, raw));
        am_st_writer_free(ww);
        fails(raw, "'rows_offsets' must be I64 of shape [6]");
    }
    /* Mutations of a valid file's text and offsets (a byte changed, the text cut short, an
     * offset moved): each reads or fails with a format error naming the file, never crashes
     * (the sanitizer build runs this too). */
    {
        am_rng r;
        am_rng_init(&r, 17, 0);
        char text[128];
        int64_t off[N + 1];
        static const char bytes[] = "{}[],:\"\\ 0a\xff\xc3";
        int bad = 0;
        for (int trial = 0; trial < 300; trial++) {
            memcpy(text, five, strlen(five) + 1);
            memcpy(off, good, sizeof off);
            const uint32_t what = am_rng_below(&r, 3), at = am_rng_below(&r, (uint32_t)strlen(five));
            if (what == 0) text[at] = bytes[am_rng_below(&r, sizeof bytes - 1)];
            else if (what == 1) text[at + 1] = 0;
            else off[am_rng_below(&r, N + 1)] += (int64_t)am_rng_below(&r, 9) - 4;
            write_raw(raw, text, what == 1 ? NULL : off);
            am_status s = am_embeddings_load_opts(&l, raw, AM_EMB_LAZY_META);
            for (int64_t i = 0; s == AM_OK && i < l.n; i++) {
                am_meta m;
                int same;
                s = am_embeddings_meta(&l, i, &m);
                am_meta_free(&m);
                if (s == AM_OK) s = am_embeddings_object_is(&l, i, "a", &same);
            }
            am_embeddings_free(&l);
            if (s != AM_OK) bad++;
            CHECK(s == AM_OK || (s == AM_ERR_FORMAT && strstr(am_errmsg(), raw)), "mutation %d: %d '%s'", trial, s,
                  am_errmsg());
        }
        CHECK(bad > 100, "only %d of 300 mutations refused", bad);
    }
    am_embeddings_free(&w);
    return am_test_finish();
}
