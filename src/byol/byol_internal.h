/* Internals of the BYOL core, shared by the files of src/byol. */
#ifndef AM_BYOL_INTERNAL_H
#define AM_BYOL_INTERNAL_H

#include "astromorph/byol.h"

/* The five networks, in the original's state_dict order. */
enum { AM_BYOL_NET, AM_BYOL_PROJ, AM_BYOL_PRED, AM_BYOL_TNET, AM_BYOL_TPROJ, AM_BYOL_PARTS };

struct am_byol {
    am_byol_options o;
    char *hidden_layer; /* owned copy of o.hidden_layer */
    am_net *part[AM_BYOL_PARTS];
    am_mode mode;

    /* Online-network parameters the backward pass reaches (indices), found by a probe. */
    size_t *reach;
    size_t nreach;
    /* Trainable parameters: the reached ones, then projector, predictor. */
    am_param **train;
    size_t ntrain;
    /* Every state tensor with its full name. */
    am_param **state;
    char **state_name;
    size_t nstate;

    /* Scratch reused between steps. */
    float *tproj, *loss, *dpred, *drep; /* drep: the spread penalty's gradient at the hidden layer */
    size_t tproj_cap, loss_cap, dpred_cap, drep_cap;
    float *ltgt, *lgrad; /* local views: their targets, their summed prediction gradient */
    size_t ltgt_cap, lgrad_cap;
};

extern const char *const am_byol_prefix[AM_BYOL_PARTS];

/* Projector / predictor: Sequential "model" of Linear, BatchNorm1d, ReLU, Linear. */
am_status am_byol_mlp(am_net **net, int in, int hidden, int out, uint64_t seed);
/* Rebuilds the name tables and the trainable list from the parts and reach. */
am_status am_byol_index(am_byol *b);

#endif
