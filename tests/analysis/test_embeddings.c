/* Embeddings container: safetensors and CSV round trips, the original's CSV layout, and clear
 * errors on malformed files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/embeddings.h"
#include "astromorph/rng.h"
#include "astromorph/safetensors.h"
#include "test_util.h"

static void make_sample(am_embeddings *e)
{
    CHECK_OK(am_embeddings_alloc(e, 4, 3));
    for (int64_t i = 0; i < 12; i++) e->data[i] = (float)(i * 0.1 - 0.55) / 3.0f;
    e->data[5] = 1e-30f;
    strcpy(e->meta[0].object, "NGC 1333");
    strcpy(e->meta[0].ra, "52.2971");
    strcpy(e->meta[0].dec, "31.3117");
    strcpy(e->meta[0].restfreq, "230538000000.0");
    e->meta[0].filepath = strdup("data/ngc1333.fits");
    strcpy(e->meta[1].object, "semi;colon \"quoted\"");
    e->meta[1].filepath = strdup("dir with\nnewline/x.fits");
    e->meta[2].extra = strdup("LABEL=3;BOX=1,2,3,4");
    int32_t lab[4] = {2, 0, 1, 2};
    CHECK_OK(am_embeddings_set_labels(e, lab));
}

static void check_same(const am_embeddings *a, const am_embeddings *b, int with_extra)
{
    CHECK(a->n == b->n && a->dim == b->dim, "shape %lldx%lld vs %lldx%lld", (long long)a->n, (long long)a->dim,
          (long long)b->n, (long long)b->dim);
    if (a->n != b->n || a->dim != b->dim) return;
    CHECK(memcmp(a->data, b->data, (size_t)(a->n * a->dim) * sizeof(float)) == 0, "embedding values differ");
    CHECK(b->labels && memcmp(a->labels, b->labels, (size_t)a->n * sizeof(int32_t)) == 0, "labels differ");
    for (int64_t i = 0; i < a->n; i++) {
        CHECK(strcmp(a->meta[i].object, b->meta[i].object) == 0, "row %lld object '%s' vs '%s'", (long long)i,
              a->meta[i].object, b->meta[i].object);
        CHECK(strcmp(a->meta[i].ra, b->meta[i].ra) == 0 && strcmp(a->meta[i].dec, b->meta[i].dec) == 0 &&
                  strcmp(a->meta[i].restfreq, b->meta[i].restfreq) == 0,
              "row %lld coordinates differ", (long long)i);
        const char *pa = a->meta[i].filepath ? a->meta[i].filepath : "N/A";
        const char *pb = b->meta[i].filepath ? b->meta[i].filepath : "N/A";
        CHECK(strcmp(pa, pb) == 0, "row %lld filepath '%s' vs '%s'", (long long)i, pa, pb);
        if (with_extra) {
            const char *ea = a->meta[i].extra ? a->meta[i].extra : "";
            const char *eb = b->meta[i].extra ? b->meta[i].extra : "";
            CHECK(strcmp(ea, eb) == 0, "row %lld extra '%s' vs '%s'", (long long)i, ea, eb);
        }
    }
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    fputs(text, fp);
    fclose(fp);
}

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "rb");
    static char buf[65536];
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    if (fp) fclose(fp);
    buf[n] = 0;
    return buf;
}

static void csv_fails(const char *name, const char *text, const char *needle)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.csv", am_test_tmpdir(), name);
    write_text(path, text);
    am_embeddings e;
    CHECK_FAILS(am_embeddings_load(&e, path), AM_ERR_FORMAT, needle);
    CHECK(e.data == NULL && e.n == 0, "%s: failed read leaves allocations behind", name);
}

int main(void)
{
    char st_path[512], csv_path[512], csv2_path[512];
    snprintf(st_path, sizeof st_path, "%s/e.safetensors", am_test_tmpdir());
    snprintf(csv_path, sizeof csv_path, "%s/e.csv", am_test_tmpdir());
    snprintf(csv2_path, sizeof csv2_path, "%s/e2.csv", am_test_tmpdir());

    am_embeddings a, b, c;
    make_sample(&a);
    CHECK_OK(am_embeddings_set_model(&a, "improved_net_e_10"));

    /* safetensors round trip: bit-exact values, labels, every metadata field, model name. */
    CHECK_OK(am_embeddings_write(&a, st_path));
    CHECK_OK(am_embeddings_load(&b, st_path));
    check_same(&a, &b, 1);
    CHECK(b.model && strcmp(b.model, "improved_net_e_10") == 0, "model name lost: %s", b.model ? b.model : "(null)");
    am_embeddings_free(&b);

    /* CSV round trip: shortest float32 text reads back bit-exact; quoting survives. */
    CHECK_OK(am_embeddings_write_csv(&a, csv_path));
    const char *text = read_text(csv_path);
    const char *hdr = ";cluster;object;right ascension;declination;rest freq;filepath;emb_dim_0;emb_dim_1;emb_dim_2\n";
    CHECK(strncmp(text, hdr, strlen(hdr)) == 0, "header is not the original's: %.120s", text);
    CHECK(strstr(text, "\n0;2;NGC 1333;52.2971;31.3117;230538000000.0;data/ngc1333.fits;") != NULL,
          "first row not in the original's layout: %.300s", text);
    CHECK(strstr(text, "\"semi;colon \"\"quoted\"\"\"") != NULL, "field with ; and \" not quoted as pandas does");
    CHECK_OK(am_embeddings_load(&c, csv_path));
    check_same(&a, &c, 0);
    /* And CSV → safetensors → CSV gives the same bytes. */
    CHECK_OK(am_embeddings_write_csv(&c, csv2_path));
    char *first = strdup(read_text(csv_path));
    CHECK(strcmp(first, read_text(csv2_path)) == 0, "CSV → read → CSV changed the file");
    free(first);
    am_embeddings_free(&c);

    /* A file as pandas writes it with Windows line ends, 'index' header and unknown extra columns. */
    char p3[512];
    snprintf(p3, sizeof p3, "%s/pandas.csv", am_test_tmpdir());
    write_text(p3, "index;cluster;object;note;right ascension;declination;rest freq;filepath;emb_dim_0;emb_dim_1\r\n"
                   "0;1;A;x;N/A;N/A;N/A;a.fits;0.5;-1e-3\r\n"
                   "1;0;;y;1.0;2.0;3.0;b.fits;2;3\r\n");
    CHECK_OK(am_embeddings_load(&c, p3));
    CHECK(c.n == 2 && c.dim == 2, "pandas file read as %lldx%lld", (long long)c.n, (long long)c.dim);
    if (c.n == 2 && c.dim == 2) {
        CHECK(c.data[1] == -1e-3f && c.data[3] == 3.0f, "values %g %g", c.data[1], c.data[3]);
        CHECK(strcmp(c.meta[1].object, "N/A") == 0, "empty object read as '%s', want N/A", c.meta[1].object);
        CHECK(c.labels && c.labels[0] == 1 && c.labels[1] == 0, "labels wrong");
        CHECK(strcmp(c.meta[1].filepath, "b.fits") == 0, "filepath '%s'", c.meta[1].filepath);
    }
    am_embeddings_free(&c);

    /* A file written by pandas as the original's inference does (make_pandas_export.py): read
     * back exactly, and our writer gives the same bytes for the same data. */
    am_embeddings pd;
    CHECK_OK(am_embeddings_load(&pd, am_test_path("tests/analysis/pandas_export.csv")));
    CHECK(pd.n == 3 && pd.dim == 4, "pandas export read as %lldx%lld", (long long)pd.n, (long long)pd.dim);
    if (pd.n == 3 && pd.dim == 4) {
        const float want[12] = {0.1f,  -2.5f,    1e-30f, 123456.78f, 3.0f,     0.33333334f,
                                -0.0f, 7.25e-5f, -1.5f,  2.0f,       65504.0f, 1.0f / 3.0f};
        CHECK(memcmp(pd.data, want, sizeof want) == 0, "pandas export values differ");
        CHECK(strcmp(pd.meta[1].object, "semi;colon \"quoted\"") == 0, "quoted object '%s'", pd.meta[1].object);
        CHECK(pd.labels && pd.labels[0] == 2 && pd.labels[2] == 1, "pandas export labels");
        CHECK(strcmp(pd.meta[0].restfreq, "230538000000.0") == 0, "rest freq '%s'", pd.meta[0].restfreq);
        CHECK_OK(am_embeddings_write_csv(&pd, csv2_path));
        char *ours = strdup(read_text(csv2_path));
        const char *theirs = read_text(am_test_path("tests/analysis/pandas_export.csv"));
        CHECK(strcmp(ours, theirs) == 0, "our CSV differs from pandas':\n%s\nvs\n%s", ours, theirs);
        free(ours);
    }
    am_embeddings_free(&pd);

    /* The original's label-only variant (dataset without FITS metadata). */
    write_text(p3, ";cluster_label;emb_dim_0\n0;4;1.5\n1;3;2.5\n");
    CHECK_OK(am_embeddings_load(&c, p3));
    CHECK(c.n == 2 && c.labels && c.labels[0] == 4 && c.data[1] == 2.5f, "label-only CSV misread");
    am_embeddings_free(&c);

    /* Malformed CSV files: each error names the file, the line and what is wrong. */
    csv_fails("empty", "", "empty file");
    csv_fails("noemb", ";cluster;object\n0;1;A\n", "no emb_dim_0");
    csv_fails("order", ";cluster;emb_dim_1;emb_dim_0\n0;1;2;3\n", "out of order");
    csv_fails("first", "id;cluster;emb_dim_0\n0;1;2\n", "first column");
    csv_fails("short", ";cluster;emb_dim_0;emb_dim_1\n0;1;2;3\n1;1;2\n", ":3: 3 fields");
    csv_fails("nan", ";cluster;emb_dim_0\n0;1;abc\n", "emb_dim_0 value 'abc'");
    csv_fails("empty_val", ";cluster;emb_dim_0\n0;1;\n", "not a finite number");
    csv_fails("label", ";cluster;emb_dim_0\n0;-1;0.5\n", "cluster '-1'");
    csv_fails("quote", ";cluster;object;emb_dim_0\n0;1;\"abc;0.5\n", "unterminated");
    csv_fails("stray", ";cluster;object;emb_dim_0\n0;1;ab\"c;0.5\n", "stray quote");
    csv_fails("dup", ";cluster;cluster;emb_dim_0\n0;1;1;0.5\n", "duplicate column");
    am_embeddings e;
    CHECK_FAILS(am_embeddings_load(&e, "/nonexistent/emb.csv"), AM_ERR_IO, "/nonexistent/emb.csv");

    /* Malformed safetensors: missing tensor, wrong rank, wrong rows, wrong label shape. */
    char p4[512];
    snprintf(p4, sizeof p4, "%s/bad.safetensors", am_test_tmpdir());
    float v[6] = {1, 2, 3, 4, 5, 6};
    int64_t sh2[2] = {2, 3}, sh1[1] = {6}, shl[1] = {3};
    int32_t lab3[3] = {0, 1, 2};
    struct {
        const char *name;
        int ndim;
        const int64_t *shape;
        const char *rows;
        int labels;
        const char *needle;
    } bad[] = {
        {"weights", 2, sh2, NULL, 0, "no tensor 'embeddings'"},
        {"embeddings", 1, sh1, NULL, 0, "must be 2-D"},
        {"embeddings", 2, sh2, "[{\"object\":\"a\"}]", 0, "array of 2 objects"},
        {"embeddings", 2, sh2, "[{\"object\":1},{}]", 0, "rows[0].object is not a string"},
        {"embeddings", 2, sh2, "not json", 0, "not valid JSON"},
        {"embeddings", 2, sh2, NULL, 1, "tensor 'labels'"},
    };
    for (size_t t = 0; t < sizeof bad / sizeof *bad; t++) {
        am_st_writer *w = am_st_writer_new();
        CHECK_OK(am_st_writer_add(w, bad[t].name, AM_DT_F32, bad[t].ndim, bad[t].shape, v));
        if (bad[t].rows) CHECK_OK(am_st_writer_meta(w, "rows", bad[t].rows));
        if (bad[t].labels) CHECK_OK(am_st_writer_add(w, "labels", AM_DT_I32, 1, shl, lab3));
        CHECK_OK(am_st_writer_write(w, p4));
        am_st_writer_free(w);
        CHECK_FAILS(am_embeddings_load(&e, p4), AM_ERR_FORMAT, bad[t].needle);
    }
    /* Row metadata as a "rows_json" tensor (how very large sets are written) reads the same. */
    {
        const char *rj = "[{\"object\":\"big\",\"filepath\":\"a.fits\"},{\"object\":\"set\"}]";
        int64_t len = (int64_t)strlen(rj);
        am_st_writer *w2 = am_st_writer_new();
        CHECK_OK(am_st_writer_add(w2, "embeddings", AM_DT_F32, 2, sh2, v));
        CHECK_OK(am_st_writer_add(w2, "rows_json", AM_DT_U8, 1, &len, rj));
        CHECK_OK(am_st_writer_write(w2, p4));
        am_st_writer_free(w2);
        am_embeddings big;
        CHECK_OK(am_embeddings_load(&big, p4));
        CHECK(big.n == 2 && strcmp(big.meta[0].object, "big") == 0 && strcmp(big.meta[1].object, "set") == 0 &&
                  big.meta[0].filepath && strcmp(big.meta[0].filepath, "a.fits") == 0,
              "rows_json tensor not read");
        am_embeddings_free(&big);
    }
    /* A share of the rows (one MPI rank's): the same rows as reading all and keeping those, from
     * the header's metadata and from a rows_json tensor whose strings hold commas, brackets and
     * escaped quotes (the slice is found by counting elements outside strings). */
    {
        am_embeddings all, part;
        CHECK_OK(am_embeddings_load(&all, st_path));
        int64_t n = 0, d = 0;
        CHECK_OK(am_embeddings_shape(st_path, &n, &d));
        CHECK(n == all.n && d == all.dim, "shape %lldx%lld, rows %lldx%lld", (long long)n, (long long)d,
              (long long)all.n, (long long)all.dim);
        for (int64_t lo = 0; lo <= all.n; lo++)
            for (int64_t hi = lo; hi <= all.n; hi++) {
                CHECK_OK(am_embeddings_read_rows(&part, st_path, lo, hi));
                CHECK(part.n == hi - lo, "rows %lld..%lld: %lld rows", (long long)lo, (long long)hi, (long long)part.n);
                for (int64_t i = 0; i < part.n; i++) {
                    CHECK(!memcmp(part.data + i * d, all.data + (lo + i) * d, (size_t)d * sizeof(float)),
                          "row %lld's values", (long long)(lo + i));
                    CHECK(!strcmp(part.meta[i].object, all.meta[lo + i].object), "row %lld's object",
                          (long long)(lo + i));
                    CHECK(part.labels[i] == all.labels[lo + i], "row %lld's label", (long long)(lo + i));
                }
                am_embeddings_free(&part);
            }
        CHECK_FAILS(am_embeddings_read_rows(&part, st_path, 1, all.n + 1), AM_ERR_VALUE, "rows 1 to");
        am_embeddings_free(&all);

        const char *rj =
            "[{\"object\":\"a,[b]\"}, {\"object\":\"c\\\"},{\\\"\"},\n {\"object\":\"d\",\"extra\":\"K={1,2}\"}]";
        const char *want[] = {"a,[b]", "c\"},{\"", "d"};
        int64_t len = (int64_t)strlen(rj), sh3[2] = {3, 2};
        float v3[6] = {1, 2, 3, 4, 5, 6};
        am_st_writer *w3 = am_st_writer_new();
        CHECK_OK(am_st_writer_add(w3, "embeddings", AM_DT_F32, 2, sh3, v3));
        CHECK_OK(am_st_writer_add(w3, "rows_json", AM_DT_U8, 1, &len, rj));
        CHECK_OK(am_st_writer_write(w3, p4));
        am_st_writer_free(w3);
        for (int64_t lo = 0; lo < 3; lo++)
            for (int64_t hi = lo + 1; hi <= 3; hi++) {
                CHECK_OK(am_embeddings_read_rows(&part, p4, lo, hi));
                for (int64_t i = 0; i < part.n; i++)
                    CHECK(!strcmp(part.meta[i].object, want[lo + i]) && part.data[2 * i] == v3[2 * (lo + i)],
                          "rows_json rows %lld..%lld: row %lld is '%s'", (long long)lo, (long long)hi,
                          (long long)(lo + i), part.meta[i].object);
                am_embeddings_free(&part);
            }
    }

    /* Another program's safetensors file is refused by its format tag. */
    am_st_writer *w = am_st_writer_new();
    CHECK_OK(am_st_writer_add(w, "embeddings", AM_DT_F32, 2, sh2, v));
    CHECK_OK(am_st_writer_meta(w, "format", "pt"));
    CHECK_OK(am_st_writer_write(w, p4));
    am_st_writer_free(w);
    CHECK_FAILS(am_embeddings_load(&e, p4), AM_ERR_FORMAT, "format 'pt'");

    /* Zero rows are a valid (empty) data set in both forms. */
    am_embeddings z, z2;
    CHECK_OK(am_embeddings_alloc(&z, 0, 5));
    CHECK_OK(am_embeddings_write(&z, st_path));
    CHECK_OK(am_embeddings_load(&z2, st_path));
    CHECK(z2.n == 0 && z2.dim == 5, "empty safetensors read as %lldx%lld", (long long)z2.n, (long long)z2.dim);
    am_embeddings_free(&z2);
    CHECK_OK(am_embeddings_write_csv(&z, csv_path));
    CHECK_OK(am_embeddings_load(&z2, csv_path));
    CHECK(z2.n == 0 && z2.dim == 5, "empty CSV read as %lldx%lld", (long long)z2.n, (long long)z2.dim);
    am_embeddings_free(&z2);
    am_embeddings_free(&z);

    /* Random corruptions of a valid CSV: each read succeeds or fails with a format error (run
     * under the sanitizers, this also shows the reader never reads out of bounds). */
    CHECK_OK(am_embeddings_write_csv(&a, csv_path));
    char *orig = strdup(read_text(csv_path));
    size_t olen = strlen(orig);
    am_rng g;
    am_rng_init(&g, 99, 0);
    int bad_status = 0, succeeded = 0;
    static const char alphabet[] = ";\"\n\r,x0.-e";
    for (int trial = 0; trial < 300; trial++) {
        char *m = strdup(orig);
        size_t len = olen;
        int edits = 1 + (int)am_rng_below(&g, 4);
        for (int k = 0; k < edits; k++) {
            size_t at = am_rng_below(&g, (uint32_t)len);
            if (am_rng_below(&g, 4) == 0) len = at; /* truncate */
            else m[at] = alphabet[am_rng_below(&g, sizeof alphabet - 1)];
        }
        m[len] = 0;
        write_text(p3, m);
        am_embeddings r;
        am_status st = am_embeddings_load(&r, p3);
        if (st == AM_OK) {
            succeeded++;
            am_embeddings_free(&r);
        } else if (st != AM_ERR_FORMAT) {
            bad_status++;
        }
        free(m);
    }
    CHECK(bad_status == 0, "%d corrupted files failed with something other than a format error", bad_status);
    CHECK(succeeded < 300, "every corrupted file was accepted");
    free(orig);

    int32_t neg[4] = {0, -2, 0, 0};
    CHECK_FAILS(am_embeddings_set_labels(&a, neg), AM_ERR_VALUE, "negative");
    am_embeddings_free(&a);
    return am_test_finish();
}
