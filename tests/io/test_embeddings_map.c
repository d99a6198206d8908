/* Memory-mapped embeddings files: float32 rows used in place (copy-on-write), float16 files
 * written on request and read converted or kept half for streaming, the half conversions, and
 * truncated or lying files refused with one line before any row is touched. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "astromorph/embeddings.h"
#include "astromorph/rng.h"
#include "astromorph/rows.h"
#include "test_util.h"

enum { N = 300, D = 12 };

static void fill(am_embeddings *e)
{
    CHECK_OK(am_embeddings_alloc(e, N, D));
    am_rng g;
    am_rng_init(&g, 5, 0);
    for (int64_t i = 0; i < N * D; i++) e->data[i] = (float)(am_rng_normal(&g) * 3.0);
}

static void check_halves(void)
{
    /* every finite half survives half -> float -> half */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        if (am_float_to_half(am_half_to_float((uint16_t)h)) != h) bad++;
    }
    CHECK(bad == 0, "%d halves do not round-trip", bad);
    /* ties go to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 */
    CHECK(am_float_to_half(1.0f + ldexpf(1, -11)) == 0x3c00, "1 + 2^-11 -> %04x",
          am_float_to_half(1.0f + ldexpf(1, -11)));
    CHECK(am_float_to_half(1.0f + 3 * ldexpf(1, -11)) == 0x3c02, "1 + 3·2^-11 -> %04x",
          am_float_to_half(1.0f + 3 * ldexpf(1, -11)));
    CHECK(am_float_to_half(65504.0f) == 0x7bff && am_float_to_half(65520.0f) == 0x7c00,
          "the largest half and overflow");
    CHECK(am_float_to_half(ldexpf(1, -24)) == 0x0001 && am_float_to_half(ldexpf(1, -26)) == 0, "subnormals");
}

int main(void)
{
    check_halves();
    char p32[512], p16[512], bad[512];
    const char *const names[3] = {"e32", "e16", "cut"};
    char *const paths[3] = {p32, p16, bad};
    for (int i = 0; i < 3; i++) snprintf(paths[i], 512, "%s/%s.safetensors", am_test_tmpdir(), names[i]);
    am_embeddings a, b, c;
    fill(&a);

    /* float32: the rows are the file's pages, bit-exact; changing them leaves the file alone */
    CHECK_OK(am_embeddings_write(&a, p32));
    CHECK_OK(am_embeddings_read(&b, p32));
    CHECK(b.mapping != NULL && b.data16 == NULL, "F32 rows are mapped, not copied");
    CHECK(b.n == N && b.dim == D && !memcmp(a.data, b.data, sizeof(float) * N * D), "mapped rows differ");
    b.data[0] = 1234.5f;
    uint8_t keep[N];
    for (int i = 0; i < N; i++) keep[i] = i % 3 != 0;
    CHECK_OK(am_embeddings_select(&b, keep)); /* moves rows inside the mapping */
    CHECK(b.n == 2 * N / 3 && b.data[0] == a.data[D], "select on mapped rows");
    CHECK_OK(am_embeddings_read(&c, p32));
    CHECK(c.data[0] == a.data[0] && !memcmp(a.data, c.data, sizeof(float) * N * D), "the file changed under COW");
    am_embeddings_free(&b);
    am_embeddings_free(&c);

    /* float16: half the bytes; read converts once, each value within half a unit in the last
     * place of an 11-bit significand: relative 2^-11 (and 2^-25 absolute near zero). */
    CHECK_OK(am_embeddings_write_f16(&a, p16));
    size_t l32 = 0, l16 = 0;
    free(am_test_slurp(p32, &l32));
    free(am_test_slurp(p16, &l16));
    CHECK(l32 - l16 == (size_t)N * D * 2, "F16 file is %zu bytes smaller, not %d", l32 - l16, N * D * 2);
    CHECK_OK(am_embeddings_read(&b, p16));
    double worst = 0;
    for (int64_t i = 0; b.data && i < N * D; i++) {
        double err = fabs((double)b.data[i] - a.data[i]) / fmax(fabs(a.data[i]), ldexp(1, -14));
        if (err > worst) worst = err;
    }
    CHECK(b.data && b.data16 == NULL && worst <= ldexp(1, -11), "F16 read: worst relative error %g", worst);
    /* kept half for the streaming algorithms: the blocks equal the converted read */
    CHECK_OK(am_embeddings_read_stream(&c, p16));
    CHECK(c.data == NULL && c.data16 != NULL && c.mapping != NULL, "F16 stays half and mapped");
    am_rows r = am_embeddings_rows(&c);
    float blk[7 * D];
    const float *got = am_rows_block(&r, 100, 7, blk);
    CHECK(b.data && !memcmp(got, b.data + 100 * D, sizeof blk), "a converted block differs from the F32 read");
    CHECK_OK(am_embeddings_select(&c, keep)); /* moves half rows inside the mapping */
    r = am_embeddings_rows(&c);
    got = am_rows_block(&r, 0, 2, blk);
    CHECK(c.n == 2 * N / 3 && b.data && !memcmp(got, b.data + D, sizeof(float) * D) &&
              !memcmp(got + D, b.data + 2 * D, sizeof(float) * D),
          "select on half rows");
    am_embeddings_free(&b);
    am_embeddings_free(&c);
    a.data[17] = 1e5f;
    CHECK_FAILS(am_embeddings_write_f16(&a, p16), AM_ERR_VALUE, "row 1 has 100000, beyond float16");

    /* truncated: the header promises more rows than the file holds; refused before mapping rows */
    size_t len = 0;
    char *whole = am_test_slurp(p32, &len);
    for (size_t cut = len - 1; whole && cut > len - 3000; cut -= 997) {
        FILE *fp = fopen(bad, "wb");
        CHECK(fp && fwrite(whole, 1, cut, fp) == cut, "write %s", bad);
        fclose(fp);
        CHECK_FAILS(am_embeddings_read(&b, bad), AM_ERR_FORMAT, "cut.safetensors: truncated: the header promises");
        CHECK(!strchr(am_errmsg(), '\n'), "one line: %s", am_errmsg());
    }
    free(whole);
    am_embeddings_free(&a);
    return am_test_finish();
}
