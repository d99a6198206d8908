/* Adam exactly as torch.optim.Adam's single-tensor path (PyTorch 1.13): L2 weight decay added to
 * the gradient, bias corrections from the step count, eps added after the corrected sqrt. With
 * `decoupled`, torch.optim.AdamW: the weights shrink by lr·weight_decay before the Adam update
 * and the gradient is not touched (Loshchilov & Hutter 2019). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/runtime.h"
#include "train/train_internal.h"
#include "core/internal.h"

am_status am_adam_init(am_adam *a, am_param *const *params, size_t n, double beta1, double beta2, double eps,
                       double weight_decay)
{
    memset(a, 0, sizeof *a);
    a->beta1 = beta1, a->beta2 = beta2, a->eps = eps, a->weight_decay = weight_decay;
    a->m = calloc(n ? n : 1, sizeof *a->m);
    a->v = calloc(n ? n : 1, sizeof *a->v);
    a->size = calloc(n ? n : 1, sizeof *a->size);
    if (!a->m || !a->v || !a->size) {
        am_adam_free(a);
        return am_error(AM_ERR_NOMEM, "adam: out of memory");
    }
    a->n = n;
    for (size_t i = 0; i < n; i++) {
        a->size[i] = am_tensor_numel(&params[i]->value);
        a->m[i] = am_calloc((size_t)a->size[i] ? (size_t)a->size[i] : 1, sizeof(float));
        a->v[i] = am_calloc((size_t)a->size[i] ? (size_t)a->size[i] : 1, sizeof(float));
        if (!a->m[i] || !a->v[i]) {
            am_adam_free(a);
            return am_error(AM_ERR_NOMEM, "adam: out of memory for %s", params[i]->name);
        }
    }
    return AM_OK;
}

void am_adam_free(am_adam *a)
{
    for (size_t i = 0; i < a->n; i++) am_free(a->m[i]), am_free(a->v[i]);
    free(a->m), free(a->v), free(a->size);
    memset(a, 0, sizeof *a);
}

void am_adam_step(am_adam *a, am_param *const *params, double lr)
{
    a->step++;
    /* Scalars as PyTorch forms them: Python doubles, cast to float inside each tensor op. */
    const double bc1 = 1.0 - pow(a->beta1, (double)a->step), bc2 = 1.0 - pow(a->beta2, (double)a->step);
    const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float b1 = (float)a->beta1, b2 = (float)a->beta2, nb1 = (float)(1.0 - a->beta1),
                nb2 = (float)(1.0 - a->beta2), eps = (float)a->eps;
    const float wd = a->decoupled ? 0.0f : (float)a->weight_decay;
    const float shrink = a->decoupled ? (float)(1.0 - lr * a->weight_decay) : 1.0f;
    for (size_t i = 0; i < a->n; i++) {
        float *p = params[i]->value.data;
        const float *g = params[i]->grad.data;
        float *m = a->m[i], *v = a->v[i];
        /* Elementwise: the same result at any thread count. */
#pragma omp parallel for schedule(static) if (a->size[i] >= AM_PARALLEL_MIN)
        for (int64_t j = 0; j < a->size[i]; j++) {
            if (shrink != 1.0f) p[j] *= shrink;
            float gj = wd != 0.0f ? g[j] + wd * p[j] : g[j];
            m[j] = m[j] * b1 + nb1 * gj;
            v[j] = v[j] * b2 + nb2 * (gj * gj);
            float denom = sqrtf(v[j]) / bc2_sqrt + eps;
            p[j] += -step_size * (m[j] / denom);
        }
    }
}
