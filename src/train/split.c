/* The seeded train/test split (the original: random_split([0.8, 0.2]) with seed 42). */
#include <stdlib.h>

#include "train/train_internal.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

am_status am_split(int64_t count, double test_fraction, uint64_t seed, int64_t **train, int64_t *ntrain, int64_t **test,
                   int64_t *ntest)
{
    *train = *test = NULL;
    *ntrain = *ntest = 0;
    if (count < 1) return am_error(AM_ERR_VALUE, "train: the data set is empty");
    if (!(test_fraction >= 0 && test_fraction < 1))
        return am_error(AM_ERR_VALUE, "train: test_fraction %g is outside [0, 1)", test_fraction);
    int64_t nt = (int64_t)((1.0 - test_fraction) * (double)count + 1e-9); /* 0.8·10 is 8, not 7 */
    if (nt < 1) nt = 1;
    int64_t *perm = malloc((size_t)count * sizeof *perm);
    int64_t *tr = malloc((size_t)nt * sizeof *tr);
    int64_t *te = malloc((size_t)(count - nt ? count - nt : 1) * sizeof *te);
    if (!perm || !tr || !te) {
        free(perm), free(tr), free(te);
        return am_error(AM_ERR_NOMEM, "train: out of memory for the split");
    }
    for (int64_t i = 0; i < count; i++) perm[i] = i;
    am_rng r;
    am_rng_init(&r, seed, am_rng_stream(0x5b117, 0, 0));
    am_rng_shuffle(&r, perm, count);
    for (int64_t i = 0; i < nt; i++) tr[i] = perm[i];
    for (int64_t i = nt; i < count; i++) te[i - nt] = perm[i];
    free(perm);
    qsort(tr, (size_t)nt, sizeof *tr, cmp_i64);
    qsort(te, (size_t)(count - nt), sizeof *te, cmp_i64);
    *train = tr, *ntrain = nt, *test = te, *ntest = count - nt;
    return AM_OK;
}
