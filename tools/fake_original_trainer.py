#!/usr/bin/python3
"""Writes a `torch.save`d ByolTrainer shaped exactly like the original package's (same class
paths, attributes, submodule names, forward hook, Adam optimizer), without the original package
or torchvision installed: a test input for tools/convert_original_model.py.

  /usr/bin/python3 tools/fake_original_trainer.py OUT.pt [--network amm|n_layer_resnet]
      [--last-layer layer4] [--channels C] [--reference REF.safetensors]

--reference also writes the expected state (the ByolTrainer's state dict without "byol.") and an
input batch with the online network's embedding in eval mode ("check.input", "check.embedding.eval").
"""
import argparse
import copy
import os
import sys
import types

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import am_networks as amn  # noqa: E402
from fixtures.common import save_safetensors  # noqa: E402


def _register(module_path, obj):
    """Makes obj importable as module_path.<its name>, so pickle stores that path."""
    parts = module_path.split(".")
    for i in range(1, len(parts) + 1):
        sys.modules.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    obj.__module__ = module_path
    setattr(sys.modules[module_path], obj.__name__, obj)
    return obj


def cosine_loss(x, y):
    x = nn.functional.normalize(x, dim=-1, p=2)
    y = nn.functional.normalize(y, dim=-1, p=2)
    return 2 - 2 * (x * y).sum(dim=-1)


class BasicBlock(amn.BasicBlock):
    pass


class RandomHorizontalFlip(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p


class MinMaxNorm(nn.Module):
    pass


class MultiLayerPerceptron(nn.Module):
    def __init__(self, representation_size, hidden_size, projection_size):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(representation_size, hidden_size), nn.BatchNorm1d(hidden_size),
                                   nn.ReLU(inplace=True), nn.Linear(hidden_size, projection_size))


class NetWrapper(nn.Module):
    def __init__(self, network, representation_size, layer, projection_size, projection_hidden_size):
        super().__init__()
        self.network = network
        self.layer = layer
        self.hidden = {}
        dict(network.named_modules())[layer].register_forward_hook(self._hook)
        self.projector = MultiLayerPerceptron(representation_size, projection_hidden_size, projection_size)

    def _hook(self, model, input, output):
        self.hidden[input[0].device] = output.reshape(output.shape[0], -1)


class BYOL(nn.Module):
    def __init__(self, network, representation_size, hidden_layer, augmentation_function, normalization_function):
        super().__init__()
        self.augmentation_function = augmentation_function
        self.normalization_function = normalization_function
        self.hidden_layer = hidden_layer
        self.online_encoder = NetWrapper(network, representation_size, hidden_layer, 256, 1024)
        self.online_predictor = MultiLayerPerceptron(256, 1024, 256)
        self.target_encoder = copy.deepcopy(self.online_encoder)
        for p in self.target_encoder.parameters():
            p.requires_grad = False
        self.use_momentum = True
        self.loss_fn = cosine_loss
        self.moving_average_decay = 0.99


class ByolTrainer(nn.Module):
    def __init__(self, network, representation_size):
        super().__init__()
        self.augmentation_function = nn.Sequential(RandomHorizontalFlip())
        self.normalization_function = MinMaxNorm()
        self.byol = BYOL(network, representation_size, "avgpool", self.augmentation_function,
                         self.normalization_function)
        self.optimizer = torch.optim.Adam(self.byol.parameters(), lr=5e-6)
        self.lr_scheduler = None
        self.device = "cpu"
        self._batch_index = 0


for path, obj in (("astromorph.byol.byol", cosine_loss), ("torchvision.models.resnet", BasicBlock),
                  ("torchvision.transforms.transforms", RandomHorizontalFlip),
                  ("astromorph.byol.min_max_norm", MinMaxNorm), ("astromorph.byol.mlp", MultiLayerPerceptron),
                  ("astromorph.byol.netwrapper", NetWrapper), ("astromorph.byol.byol", BYOL),
                  ("astromorph.byol.byol_trainer", ByolTrainer)):
    _register(path, obj)
NLayerResnet = _register("astromorph.models.fewer_layers_resnet", type("NLayerResnet", (amn.NLayerResnet,), {}))
AstroMorphologyModel = _register("astromorph.models.astro_morphology_model",
                                 type("AstroMorphologyModel", (amn.AstroMorphologyModel,), {}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--network", default="amm")
    ap.add_argument("--last-layer", default="layer4")
    ap.add_argument("--channels", type=int, default=None)
    ap.add_argument("--reference")
    args = ap.parse_args()
    torch.manual_seed(5)
    torch.set_num_threads(1)
    if args.network == "amm":
        net = AstroMorphologyModel(args.channels or 1)
        dim = 128
    else:
        net = NLayerResnet(args.last_layer, args.channels or 3)
        for m in net.modules():  # torchvision's blocks are BasicBlock of torchvision.models.resnet
            for name, child in m.named_children():
                if type(child) is amn.BasicBlock:
                    child.__class__ = BasicBlock
        dim = net.embedding_dim
    trainer = ByolTrainer(net, dim)
    # Some training-like drift, so online, target and running statistics all differ.
    with torch.no_grad():
        for p in trainer.byol.online_encoder.parameters():
            p.add_(0.01 * torch.randn_like(p))
        for m in trainer.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(17)
    torch.save(trainer, args.out)
    print(f"{args.out}: ByolTrainer({args.network})")
    if args.reference:
        c = args.channels or (1 if args.network == "amm" else 3)
        x = torch.rand(4, c, 45, 39)
        online = trainer.byol.online_encoder
        online.eval()
        with torch.no_grad():
            online.network(x)
        emb = online.hidden[x.device]
        ref = {k[len("byol."):]: v for k, v in trainer.state_dict().items()}
        ref["check.input"] = x
        ref["check.embedding.eval"] = emb
        save_safetensors(args.reference, ref)


if __name__ == "__main__":
    main()
