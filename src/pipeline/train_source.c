/* A data set as the trainer's source, fed as `astromorph training` feeds it: each item cleaned
 * and normalised (as its D2 copies, or whole for views at a common size), each view augmented
 * (random-resized crop first for views). Where the time goes is counted, for the benchmarks. */
#include <omp.h>
#include <string.h>

#include "astromorph/pipeline.h"

static am_status src_get(void *user, int64_t i, am_tensor *out)
{
    am_dataset_source *d = user;
    const am_augment *a = d->augment;
    double t0 = omp_get_wtime();
    am_tensor img;
    AM_TRY(am_dataset_get(d->ds, i, &img, NULL));
    if (d->channel_sum) am_sum_channels(&img);
    /* Views at a common size are cut from the whole image; otherwise the item is its D2 copies. */
    am_status s = a->view_size > 0 ? am_stack_channels(&img, d->stacksize, out) : am_d2_copies(&img, d->stacksize, out);
    am_tensor_free(&img);
    if (s == AM_OK) am_normalize_batch_as(out, a->normalization);
    double dt = omp_get_wtime() - t0;
#pragma omp atomic
    d->seconds_get += dt;
    return s;
}

static am_status augment(const am_augment *a, const am_tensor *x, am_rng *rng, am_tensor *out)
{
    if (a->view_size <= 0) {
        AM_TRY(am_tensor_clone(out, x));
        am_status s = am_augment_apply(a, out, rng);
        if (s != AM_OK) am_tensor_free(out);
        return s;
    }
    /* the whole image was normalised once: a crop keeps its levels (faint stays faint) */
    am_augment steps = *a;
    steps.normalize = 0;
    AM_TRY(am_tensor_alloc4(out, 1, x->shape[1], a->view_size, a->view_size));
    am_status s = am_view_crop(x->data, x->shape[1], x->shape[2], x->shape[3], a, rng, out->data);
    if (s == AM_OK) s = am_augment_apply(&steps, out, rng);
    if (s != AM_OK) am_tensor_free(out);
    return s;
}

/* One view drawn with a (the global views' settings or the local ones'), its time counted. */
static am_status timed_augment(am_dataset_source *d, const am_augment *a, const am_tensor *x, am_rng *rng,
                               am_tensor *out)
{
    double t0 = omp_get_wtime();
    am_status s = augment(a, x, rng, out);
    double dt = omp_get_wtime() - t0;
#pragma omp atomic
    d->seconds_augment += dt;
    return s;
}

static am_status src_augment(void *user, const am_tensor *x, am_rng *rng, am_tensor *out)
{
    am_dataset_source *d = user;
    return timed_augment(d, d->augment, x, rng, out);
}

static am_status src_augment_local(void *user, const am_tensor *x, am_rng *rng, am_tensor *out)
{
    am_dataset_source *d = user;
    am_augment local = am_augment_local(d->augment);
    return timed_augment(d, &local, x, rng, out);
}

static const char *src_name(void *user, int64_t i) { return am_dataset_name(((am_dataset_source *)user)->ds, i); }

/* The trainer announces each epoch's order, so the dataset's thread reads ahead while we compute. */
static void src_prefetch(void *user, const int64_t *order, int64_t n)
{
    am_dataset_prefetch(((am_dataset_source *)user)->ds, order, n);
}

am_train_source am_dataset_source_make(am_dataset_source *d, int64_t count)
{
    d->seconds_get = d->seconds_augment = 0;
    am_train_source src = {.count = count,
                           .get = src_get,
                           .augment = src_augment,
                           .name = src_name,
                           .prefetch = src_prefetch,
                           .thread_safe = 1,
                           .fixed_view = d->augment->view_size > 0,
                           .local_views = d->augment->view_size > 0 ? d->augment->local_views : 0,
                           .augment_local = src_augment_local,
                           .user = d};
    return src;
}
