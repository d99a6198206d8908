/* Counter-based random numbers (Philox4x32-10). A generator is keyed by a seed and a stream
 * id built from tags such as (epoch, image index, view), so every draw is reproducible
 * whatever the thread count or the order in which images are processed. The state is a plain
 * struct: copy it to checkpoint it. */
#ifndef ASTROMORPH_RNG_H
#define ASTROMORPH_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct am_rng {
    uint32_t key[2];
    uint32_t ctr[4];
    uint32_t buf[4];
    int pos; /* next unused word of buf; 4 = empty */
} am_rng;

/* Mixes up to three tags into one stream id (e.g. epoch, image index, view). */
uint64_t am_rng_stream(uint64_t a, uint64_t b, uint64_t c);
void am_rng_init(am_rng *r, uint64_t seed, uint64_t stream);
uint32_t am_rng_u32(am_rng *r);
uint64_t am_rng_u64(am_rng *r);
/* Skips the next `blocks` blocks of 4 words. From a state between blocks (after am_rng_init,
 * or after a multiple of 4 words) a copy skipped by j blocks gives the words the original would
 * give after 4·j: a long sequence can be drawn in pieces on several threads and come out as
 * drawn in one. */
void am_rng_skip(am_rng *r, uint64_t blocks);
/* Uniform in [0, 1) with 53 random bits. */
double am_rng_uniform(am_rng *r);
/* Uniform integer in [0, n), unbiased. n > 0. */
uint32_t am_rng_below(am_rng *r, uint32_t n);
/* Standard normal (Box-Muller, one value per call; it uses exactly one block of 4 words). */
double am_rng_normal(am_rng *r);
/* n values from r's stream starting at block `first` (r itself is not advanced), drawn in chunks
 * on the threads and equal to one serial pass: scale · a standard normal each (one block per
 * value), or uniform in [-bound, bound) (half a block per value). r must be between blocks. */
void am_rng_fill_normal(const am_rng *r, uint64_t first, float *out, int64_t n, double scale);
void am_rng_fill_symmetric(const am_rng *r, uint64_t first, float *out, int64_t n, double bound);
/* Fisher-Yates shuffle of an index array. */
void am_rng_shuffle(am_rng *r, int64_t *idx, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
