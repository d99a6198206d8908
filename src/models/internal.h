/* Helpers shared by the files of src/models (not public). */
#ifndef AM_MODELS_INTERNAL_H
#define AM_MODELS_INTERNAL_H

#include "astromorph/models.h"
#include "astromorph/nn.h"
#include "astromorph/safetensors.h"

/* Fill an empty root sequential. depth: how many of layer1..layer4 to keep (1..4). */
am_status am__build_resnet(am_module *root, int in_channels, int depth, am_pooling pooling);
/* width: every channel count times this (1: the original's network) */
am_status am__build_amm(am_module *root, int in_channels, int width, am_pooling pooling);
/* The "avgpool" module of a pooling (NULL for an unknown one, which am_module_add reports). */
am_module *am__pooling_module(am_pooling pooling);
/* torchvision's ResNet init: every conv weight Kaiming normal, fan_out, relu gain. */
void am__init_resnet(am_net *net, uint64_t seed);

#endif
