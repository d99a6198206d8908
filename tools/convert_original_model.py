#!/usr/bin/python3
"""Converts a model trained by the original Python astromorph (the `torch.save` of its ByolTrainer,
saved_models/improved_net_e_<epochs>_<time>.pt) into this project's model file (safetensors).

  /usr/bin/python3 tools/convert_original_model.py improved_net_e_10_20240101_1200.pt model.safetensors [--stacksize N]

Needs only PyTorch: the original package, torchvision and their dependencies need not be
installed, because their classes are replaced by empty modules while unpickling (only the tensors
are used). Only convert files you trust: unpickling can run code. Tensor names are the ByolTrainer's state-dict keys without "byol.":
  byol.online_encoder.network.conv1.weight -> online_encoder.network.conv1.weight
  byol.online_encoder.projector.model.0.weight, byol.online_predictor.model.3.bias,
  byol.target_encoder.network.*, byol.target_encoder.projector.model.*  (likewise)
which are the names src/byol writes (include/astromorph/byol.h). The metadata is what
`astromorph training` writes: format, format_version, the BYOL options (hidden layer, sizes,
use_momentum, moving_average_decay, loss "one_way" as in the original), network_name, last_layer,
in_channels (conv1's input channels), stacksize (default: in_channels, since the original reads
2-D images) and nan_policy. The optimizer state is not converted: the file is for inference or a
fresh training start.
"""
import argparse
import importlib.abc
import importlib.util
import inspect
import os
import sys
import types

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixtures.common import save_safetensors  # noqa: E402

# Modules whose classes are stand-ins while unpickling (the original package and its dependencies).
FOREIGN = ("astromorph", "torchvision", "loguru", "pydantic", "tqdm")


def _noop(*args, **kwargs):
    return None


class _Stub(nn.Module):
    """Takes the place of any class of the original package; keeps what was pickled."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name.startswith("__"):
                raise
            return _noop  # e.g. the forward hook NetWrapper._hook, pickled as a bound method


class _StubModule(types.ModuleType):
    """A module of the original package: every class in it is a _Stub, every function a no-op."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        obj = type(name, (_Stub,), {"__module__": self.__name__}) if name[:1].isupper() else _noop
        setattr(self, name, obj)
        return obj


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports of FOREIGN packages get _StubModules (pickle imports a class's module to find it;
    torch.load's pickle_module argument cannot be relied on: torch 1.13 ignores it)."""

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in FOREIGN:
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StubModule(spec.name)

    def exec_module(self, module):
        pass


def load_trainer(path):
    for name in [m for m in sys.modules if m.split(".")[0] in FOREIGN]:
        del sys.modules[name]
    sys.meta_path.insert(0, _StubFinder())
    kwargs = {"map_location": "cpu"}
    if "weights_only" in inspect.signature(torch.load).parameters:
        kwargs["weights_only"] = False
    try:
        return torch.load(path, **kwargs)
    except Exception as e:  # noqa: BLE001 - any failure here means "not a saved ByolTrainer"
        raise SystemExit(f"{path}: cannot read as a saved ByolTrainer ({type(e).__name__}: {e})")


def network_of(sd, path):
    """(network_name, last_layer, in_channels) from the online network's tensors."""
    net = "online_encoder.network."
    if net + "conv1.weight" not in sd:
        raise SystemExit(f"{path}: no tensor 'byol.{net}conv1.weight': not an astromorph ByolTrainer")
    channels = sd[net + "conv1.weight"].shape[1]
    if net + "layer1.0.conv1.weight" in sd:
        last = max(k for k in ("layer1", "layer2", "layer3", "layer4") if net + k + ".0.conv1.weight" in sd)
        return "n_layer_resnet", last, channels
    if net + "layer1.0.weight" in sd and net + "layer2.3.weight" in sd:
        return "amm", "layer4", channels
    raise SystemExit(f"{path}: the online network is neither n_layer_resnet nor amm")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pt")
    ap.add_argument("out")
    ap.add_argument("--stacksize", type=int, default=None)
    args = ap.parse_args()

    trainer = load_trainer(args.pt)
    if not isinstance(trainer, nn.Module):
        raise SystemExit(f"{args.pt}: holds a {type(trainer).__name__}, not a ByolTrainer")
    full = trainer.state_dict()
    sd = {k[len("byol."):]: v for k, v in full.items() if k.startswith("byol.")}
    if not sd:
        raise SystemExit(f"{args.pt}: no 'byol.*' tensors: not a ByolTrainer")
    for group in ("online_encoder.projector.model.0.weight", "online_predictor.model.3.weight",
                  "target_encoder.network.conv1.weight", "target_encoder.projector.model.3.weight"):
        if group not in sd:
            raise SystemExit(f"{args.pt}: no tensor 'byol.{group}'")
    name, last, channels = network_of(sd, args.pt)
    byol = trainer.__dict__.get("_modules", {}).get("byol")
    bdict = byol.__dict__ if byol is not None else {}
    hidden = bdict.get("hidden_layer", "avgpool")
    if not isinstance(hidden, str):
        raise SystemExit(f"{args.pt}: hidden layer given by index ({hidden}); only names convert")
    proj0 = sd["online_encoder.projector.model.0.weight"]
    meta = {
        "format": "astromorph.byol",
        "format_version": "1",
        "hidden_layer": hidden,
        "representation_size": str(proj0.shape[1]),
        "projection_size": str(sd["online_predictor.model.3.weight"].shape[0]),
        "projection_hidden_size": str(proj0.shape[0]),
        "use_momentum": "true" if bdict.get("use_momentum", True) else "false",
        "moving_average_decay": repr(float(bdict.get("moving_average_decay", 0.99))),
        "loss": "one_way",
        "network_name": name,
        "last_layer": last,
        "in_channels": str(channels),
        "stacksize": str(args.stacksize or channels),
        "nan_policy": "zero",
        "converted_from": os.path.basename(args.pt),
    }
    out = {k: (v.to(torch.int64) if k.endswith("num_batches_tracked") else v.to(torch.float32))
           for k, v in sd.items()}
    save_safetensors(args.out, out, meta)
    print(f"{args.out}: {name} ({last}, {channels} channels), {len(out)} tensors")


if __name__ == "__main__":
    main()
