/* Adam and AdamW steps against torch.optim's update rules written out in double precision
 * (Adam: L2 term added to the gradient; AdamW: weights shrunk by lr·weight_decay first). Float
 * rounding of a few operations per step bounds the difference at a few ulp of the weights. */
#include <math.h>
#include <string.h>

#include "test_util.h"
#include "train/train_internal.h"

enum { N = 5, STEPS = 3 };

static void run(int decoupled)
{
    const double lr = 1e-2, wd = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    am_param prm;
    memset(&prm, 0, sizeof prm);
    prm.name = "w";
    CHECK_OK(am_tensor_alloc2(&prm.value, 1, N));
    CHECK_OK(am_tensor_alloc2(&prm.grad, 1, N));
    am_param *params[1] = {&prm};
    am_adam a;
    CHECK_OK(am_adam_init(&a, params, 1, b1, b2, eps, wd));
    a.decoupled = decoupled;
    double p[N], m[N] = {0}, v[N] = {0};
    for (int j = 0; j < N; j++) p[j] = prm.value.data[j] = (float)(0.5 - 0.3 * j);
    for (int t = 1; t <= STEPS; t++) {
        for (int j = 0; j < N; j++) prm.grad.data[j] = (float)(0.1 * (j + 1) * (t % 2 ? 1 : -0.5));
        am_adam_step(&a, params, lr);
        double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
        for (int j = 0; j < N; j++) {
            double g = prm.grad.data[j];
            if (decoupled) p[j] *= 1 - lr * wd; /* torch AdamW */
            else g += wd * p[j]; /* torch Adam */
            m[j] = b1 * m[j] + (1 - b1) * g;
            v[j] = b2 * v[j] + (1 - b2) * g * g;
            p[j] -= lr / bc1 * m[j] / (sqrt(v[j]) / sqrt(bc2) + eps);
        }
    }
    double worst = 0;
    for (int j = 0; j < N; j++) worst = fmax(worst, fabs(prm.value.data[j] - p[j]) / fmax(fabs(p[j]), 1e-3));
    CHECK(worst < 1e-5, "%s after %d steps: relative error %.3g", decoupled ? "AdamW" : "Adam", STEPS, worst);
    am_adam_free(&a);
    am_tensor_free(&prm.value), am_tensor_free(&prm.grad);
}

int main(void)
{
    run(0);
    run(1);
    return am_test_finish();
}
