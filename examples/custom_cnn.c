/* Expert use of the BYOL core from C: a custom small CNN built with the layer API, trained by
 * hand (your own views, your own loop with the trainer's Adam), then used for embeddings and saved.
 *
 *   custom_cnn [OUT.safetensors]
 *
 * The trainer (astromorph/train.h) does all of this for you, with Adam, schedules, checkpoints
 * and parallel replicas; this shows the pieces underneath. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "astromorph/adam.h"
#include "astromorph/byol.h"
#include "astromorph/nn.h"
#include "astromorph/rng.h"

/* conv 3x3 (16) → GroupNorm → ReLU → maxpool → conv 3x3 (32) → GroupNorm → ReLU → avgpool. */
static am_status build_cnn(am_net **net)
{
    am_module *root = am_sequential("");
    am_status s = am_module_add(root, am_conv2d("conv1", 1, 16, 3, 1, 1, 0));
    if (s == AM_OK) s = am_module_add(root, am_groupnorm("norm1", 4, 16));
    if (s == AM_OK) s = am_module_add(root, am_relu("relu1"));
    if (s == AM_OK) s = am_module_add(root, am_maxpool2d("pool", 2, 2, 0));
    if (s == AM_OK) s = am_module_add(root, am_conv2d("conv2", 16, 32, 3, 1, 1, 0));
    if (s == AM_OK) s = am_module_add(root, am_groupnorm("norm2", 8, 32));
    if (s == AM_OK) s = am_module_add(root, am_relu("relu2"));
    if (s == AM_OK) s = am_module_add(root, am_adaptive_avgpool2d("avgpool"));
    if (s != AM_OK) {
        am_module_free(root);
        return s;
    }
    return am_net_create(net, root, 7);
}

/* A ring or a blob at a random place, as 4 copies (identity and three flips), 32x32. */
static void draw(am_tensor *x, int ring, am_rng *r)
{
    const int n = 32;
    double cx = 12 + 8 * am_rng_uniform(r), cy = 12 + 8 * am_rng_uniform(r), rad = 5 + 4 * am_rng_uniform(r);
    for (int c = 0; c < 4; c++)
        for (int y = 0; y < n; y++)
            for (int xx = 0; xx < n; xx++) {
                int yy = c & 1 ? n - 1 - y : y, xr = c & 2 ? n - 1 - xx : xx;
                double d = sqrt((xr - cx) * (xr - cx) + (yy - cy) * (yy - cy));
                double v = ring ? exp(-(d - rad) * (d - rad) / 2) : exp(-d * d / (rad * rad));
                x->data[(c * n + y) * n + xx] = (float)(v + 0.05 * am_rng_uniform(r));
            }
}

int main(int argc, char **argv)
{
    am_net *net = NULL;
    am_byol *b = NULL;
    am_byol_options o;
    am_byol_options_default(&o);
    o.projection_size = 32;
    o.projection_hidden_size = 64;
    am_status s = build_cnn(&net);
    if (s == AM_OK) s = am_byol_create(&b, net, &o); /* b owns net from here on */
    if (s != AM_OK) {
        fprintf(stderr, "custom_cnn: %s\n", am_errmsg());
        return 1;
    }
    printf("embedding size %d, %zu trainable tensors\n", am_byol_get_options(b)->representation_size,
           am_byol_param_count(b));

    am_tensor v1, v2;
    am_tensor_alloc4(&v1, 4, 1, 32, 32);
    am_tensor_alloc4(&v2, 4, 1, 32, 32);
    am_byol_set_mode(b, AM_MODE_TRAIN);
    /* Adam over the trainable parameters (the same list at every step) */
    size_t np = am_byol_param_count(b);
    am_param **params = malloc(np * sizeof *params);
    if (!params) s = am_error(AM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; params && i < np; i++) params[i] = am_byol_param(b, i);
    am_adam opt = {0};
    if (s == AM_OK) s = am_adam_init(&opt, params, np, 0.9, 0.999, 1e-8, 0.0);
    const double lr = 3e-3;
    double first = 0, last = 0;
    for (int step = 0; step < 60 && s == AM_OK; step++) {
        am_byol_zero_grad(b);
        double sum = 0;
        for (int img = 0; img < 4 && s == AM_OK; img++) {
            /* Two views of one object: the same shape and place, different noise. */
            am_rng r1, r2;
            am_rng_init(&r1, 1, am_rng_stream(step, img, 0));
            am_rng_init(&r2, 1, am_rng_stream(step, img, 0));
            draw(&v1, img & 1, &r1);
            draw(&v2, img & 1, &r2);
            for (int64_t i = 0; i < am_tensor_numel(&v2); i++) v2.data[i] += 0.05f * (float)(i % 7) / 7;
            double loss;
            s = am_byol_step(b, &v1, &v2, 1.0f, &loss); /* gradients accumulate over the 4 images */
            sum += loss;
        }
        /* one Adam step; then tell the engine and move the target */
        if (s != AM_OK) break;
        am_adam_step(&opt, params, lr);
        am_byol_params_changed(b);
        am_byol_update_target(b);
        if (step == 0) first = sum / 4;
        last = sum / 4;
        if (step % 10 == 0) printf("step %2d  loss %.4f\n", step, sum / 4);
    }
    if (s == AM_OK) printf("loss %.4f -> %.4f\n", first, last);
    am_adam_free(&opt);
    free(params);

    /* Inference: the embedding of one image (EVAL mode, its own statistics not needed). */
    am_tensor emb = {0};
    am_byol_set_mode(b, AM_MODE_EVAL);
    if (s == AM_OK) s = am_byol_embed(b, &v1, &emb);
    if (s == AM_OK) printf("embedding of 4 copies: %lld x %lld\n", (long long)emb.shape[0], (long long)emb.shape[1]);
    if (s == AM_OK && argc > 1) {
        const char *keys[] = {"network_name"}, *vals[] = {"custom_cnn"};
        s = am_byol_save(b, argv[1], keys, vals, 1);
        if (s == AM_OK) printf("saved %s\n", argv[1]);
    }
    if (s != AM_OK) fprintf(stderr, "custom_cnn: %s\n", am_errmsg());
    am_tensor_free(&emb), am_tensor_free(&v1), am_tensor_free(&v2);
    am_byol_free(b);
    return s == AM_OK ? 0 : 1;
}
