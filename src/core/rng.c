/* Philox4x32-10 (Salmon et al., SC'11): a keyed bijection of a 128-bit counter. */
#include "astromorph/rng.h"

#include <math.h>

static void philox_round(uint32_t ctr[4], const uint32_t key[2])
{
    const uint64_t p0 = (uint64_t)0xD2511F53u * ctr[0];
    const uint64_t p1 = (uint64_t)0xCD9E8D57u * ctr[2];
    uint32_t out0 = (uint32_t)(p1 >> 32) ^ ctr[1] ^ key[0];
    uint32_t out1 = (uint32_t)p1;
    uint32_t out2 = (uint32_t)(p0 >> 32) ^ ctr[3] ^ key[1];
    uint32_t out3 = (uint32_t)p0;
    ctr[0] = out0;
    ctr[1] = out1;
    ctr[2] = out2;
    ctr[3] = out3;
}

static void philox10(const uint32_t in[4], const uint32_t key_in[2], uint32_t out[4])
{
    uint32_t c[4] = {in[0], in[1], in[2], in[3]};
    uint32_t k[2] = {key_in[0], key_in[1]};
    for (int i = 0; i < 10; i++) {
        philox_round(c, k);
        k[0] += 0x9E3779B9u;
        k[1] += 0xBB67AE85u;
    }
    for (int i = 0; i < 4; i++) out[i] = c[i];
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t am_rng_stream(uint64_t a, uint64_t b, uint64_t c) { return splitmix64(splitmix64(splitmix64(a) ^ b) ^ c); }

void am_rng_init(am_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t k = splitmix64(seed);
    r->key[0] = (uint32_t)k;
    r->key[1] = (uint32_t)(k >> 32);
    r->ctr[0] = 0;
    r->ctr[1] = 0;
    r->ctr[2] = (uint32_t)stream;
    r->ctr[3] = (uint32_t)(stream >> 32);
    r->pos = 4;
}

uint32_t am_rng_u32(am_rng *r)
{
    if (r->pos >= 4) {
        philox10(r->ctr, r->key, r->buf);
        if (++r->ctr[0] == 0) ++r->ctr[1];
        r->pos = 0;
    }
    return r->buf[r->pos++];
}

uint64_t am_rng_u64(am_rng *r)
{
    uint64_t hi = am_rng_u32(r);
    return (hi << 32) | am_rng_u32(r);
}

void am_rng_skip(am_rng *r, uint64_t blocks)
{
    /* ctr[0..1] is the 64-bit number of the next block (am_rng_u32 carries into ctr[1]) */
    uint64_t c = ((uint64_t)r->ctr[1] << 32 | r->ctr[0]) + blocks;
    r->ctr[0] = (uint32_t)c, r->ctr[1] = (uint32_t)(c >> 32);
}

/* Two words as am_rng_u64 joins them, to 53 bits in [0, 1). */
static double to_uniform(uint32_t hi, uint32_t lo) { return (double)((((uint64_t)hi << 32) | lo) >> 11) * 0x1.0p-53; }

double am_rng_uniform(am_rng *r) { return (double)(am_rng_u64(r) >> 11) * 0x1.0p-53; }

static double box_muller(double u1, double u2)
{
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Philox of LANES consecutive blocks from block number `block` of r's stream, one word array per
 * position in the block: the lanes are independent, so the rounds run as vector instructions. */
enum { LANES = 16 };
static void blocks(const am_rng *r, uint64_t block, uint32_t w[4][LANES])
{
    uint32_t k0 = r->key[0], k1 = r->key[1];
    for (int j = 0; j < LANES; j++) {
        const uint64_t b = block + (uint64_t)j;
        w[0][j] = (uint32_t)b, w[1][j] = (uint32_t)(b >> 32), w[2][j] = r->ctr[2], w[3][j] = r->ctr[3];
    }
    for (int i = 0; i < 10; i++) {
        for (int j = 0; j < LANES; j++) {
            const uint64_t p0 = (uint64_t)0xD2511F53u * w[0][j], p1 = (uint64_t)0xCD9E8D57u * w[2][j];
            const uint32_t o0 = (uint32_t)(p1 >> 32) ^ w[1][j] ^ k0, o2 = (uint32_t)(p0 >> 32) ^ w[3][j] ^ k1;
            w[0][j] = o0, w[1][j] = (uint32_t)p1, w[2][j] = o2, w[3][j] = (uint32_t)p0;
        }
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

/* out[k] = scale · (normal ? the k-th normal : 2u − 1 for the k-th uniform) of r's stream from
 * block `first`: in chunks on the threads, each from its own block number (a normal takes one
 * block, a uniform half of one), so the values are those of one serial pass at any thread count.
 * The values are those of am_rng_normal / am_rng_uniform drawn in turn (tests/core). */
static void fill(const am_rng *r0, uint64_t first, float *out, int64_t n, double scale, int normal)
{
    enum { CHUNK = 16384 }; /* a multiple of 2 LANES: a chunk starts on a block */
    const int64_t chunks = (n + CHUNK - 1) / CHUNK;
    const uint64_t base = ((uint64_t)r0->ctr[1] << 32 | r0->ctr[0]) + first;
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (int64_t c = 0; c < chunks; c++) {
        const int64_t end = (c + 1) * CHUNK < n ? (c + 1) * CHUNK : n;
        const int per = normal ? LANES : 2 * LANES; /* values per LANES blocks */
        uint32_t w[4][LANES];
        for (int64_t k = c * CHUNK; k < end; k += per) {
            blocks(r0, base + (uint64_t)(normal ? k : k / 2), w);
            const int m = end - k < per ? (int)(end - k) : per;
            for (int j = 0; j < m; j++) {
                const int b = normal ? j : j / 2, h = normal ? 0 : 2 * (j % 2);
                const double u = to_uniform(w[h][b], w[h + 1][b]);
                out[k + j] = (float)(scale * (normal ? box_muller(u, to_uniform(w[2][b], w[3][b])) : 2.0 * u - 1.0));
            }
        }
    }
}

void am_rng_fill_normal(const am_rng *r, uint64_t first, float *out, int64_t n, double scale)
{
    fill(r, first, out, n, scale, 1);
}

void am_rng_fill_symmetric(const am_rng *r, uint64_t first, float *out, int64_t n, double bound)
{
    fill(r, first, out, n, bound, 0);
}

uint32_t am_rng_below(am_rng *r, uint32_t n)
{
    /* Lemire's multiply-shift with rejection: unbiased. */
    uint64_t m = (uint64_t)am_rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)am_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

double am_rng_normal(am_rng *r)
{
    double u1 = am_rng_uniform(r);
    return box_muller(u1, am_rng_uniform(r));
}

void am_rng_shuffle(am_rng *r, int64_t *idx, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(am_rng_uniform(r) * (double)(i + 1));
        if (j > i) j = i;
        int64_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
}
