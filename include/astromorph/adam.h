/* Adam and AdamW, exactly as torch.optim.Adam / AdamW's single-tensor path (PyTorch 1.13): the
 * trainer's optimizer, public for programs that write their own loop (examples/custom_cnn.c).
 *
 *     am_adam opt;
 *     am_adam_init(&opt, params, n, 0.9, 0.999, 1e-8, 0.0);   moments zeroed, step 0
 *     ... forward, backward ...
 *     am_adam_step(&opt, params, lr);                          params[i]->value updated
 *     am_net_params_changed(net);                               (the engine's weight copies)
 */
#ifndef ASTROMORPH_ADAM_H
#define ASTROMORPH_ADAM_H

#include <stddef.h>
#include <stdint.h>

#include "astromorph/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Moments per parameter. weight_decay: L2 added to the gradient (Adam), or with decoupled = 1
 * the weights shrinking by lr·weight_decay before the update (AdamW). */
typedef struct am_adam {
    size_t n;
    float **m, **v; /* exp_avg, exp_avg_sq */
    int64_t *size;
    int64_t step;
    double beta1, beta2, eps, weight_decay;
    int decoupled;
} am_adam;

/* For n parameters (the same list, in the same order, at every step). */
am_status am_adam_init(am_adam *a, am_param *const *params, size_t n, double beta1, double beta2, double eps,
                       double weight_decay);
/* One step from the parameters' gradients at learning rate lr. */
void am_adam_step(am_adam *a, am_param *const *params, double lr);
void am_adam_free(am_adam *a);

#ifdef __cplusplus
}
#endif
#endif
