/* astromorph: self-supervised morphology of astronomical images (BYOL), in C.
 * One header for everything: the pipeline (pipeline.h, settings.h), the trainer (train.h,
 * adam.h), the BYOL core around any network (byol.h, nn.h, models.h), data (dataset.h, fits.h,
 * augment.h), outputs and analysis. Build with: cc prog.c $(pkg-config --cflags --libs astromorph) */
#ifndef ASTROMORPH_H
#define ASTROMORPH_H

#include "astromorph/adam.h"
#include "astromorph/augment.h"
#include "astromorph/byol.h"
#include "astromorph/dataset.h"
#include "astromorph/embeddings.h"
#include "astromorph/evaluate.h"
#include "astromorph/figure.h"
#include "astromorph/fits.h"
#include "astromorph/hybrid.h"
#include "astromorph/kmeans.h"
#include "astromorph/knn_index.h"
#include "astromorph/labels.h"
#include "astromorph/meta.h"
#include "astromorph/models.h"
#include "astromorph/morphology.h"
#include "astromorph/nn.h"
#include "astromorph/outliers.h"
#include "astromorph/pca.h"
#include "astromorph/pipeline.h"
#include "astromorph/png.h"
#include "astromorph/progress.h"
#include "astromorph/projector.h"
#include "astromorph/rng.h"
#include "astromorph/runtime.h"
#include "astromorph/safetensors.h"
#include "astromorph/settings.h"
#include "astromorph/similarity.h"
#include "astromorph/status.h"
#include "astromorph/tensor.h"
#include "astromorph/tfevents.h"
#include "astromorph/thumbnail.h"
#include "astromorph/toml.h"
#include "astromorph/train.h"
#include "astromorph/tsne.h"

#endif
