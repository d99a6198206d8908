#!/usr/bin/python3
"""Loads a network state written by the C code into PyTorch and checks it gives the same outputs.

  /usr/bin/python3 tools/load_in_pytorch.py FILE [--prefix P]

FILE is a safetensors file whose __metadata__ names the network (network_name, last_layer, amm_width,
in_channels). Its tensors under the prefix (default: "online_encoder.network." when the file is a
BYOL model, else "") must load into the PyTorch network with load_state_dict(strict=True). A BYOL
model file's projector and predictor must load too. When the file holds "check.input" (an NCHW
batch), it is run through the network and compared with what C wrote:
  check.output.train   fc output in train mode (batch statistics)
  check.output.eval    fc output in eval mode (the stored running statistics)
  check.embedding.eval avgpool output, flattened
Prints the worst relative difference of each; exit status 0 when all are within --rtol.
"""
import argparse
import copy
import os
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import am_networks as amn  # noqa: E402
from fixtures.common import load_safetensors  # noqa: E402

BYOL_NET = "online_encoder.network."


def sub_state(tensors, prefix):
    return {k[len(prefix):]: torch.from_numpy(v) for k, v in tensors.items() if k.startswith(prefix)}


def mlp(state, name):
    """The original's MultiLayerPerceptron body: Linear, BatchNorm1d, ReLU, Linear."""
    w0, w3 = state["0.weight"], state["3.weight"]
    m = nn.Sequential(nn.Linear(w0.shape[1], w0.shape[0]), nn.BatchNorm1d(w0.shape[0]), nn.ReLU(inplace=True),
                      nn.Linear(w3.shape[1], w3.shape[0]))
    m.load_state_dict(state, strict=True)
    print(f"{name}: loaded ({w0.shape[1]} -> {w0.shape[0]} -> {w3.shape[0]})")


def rel(got, want):
    want = np.asarray(want, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64).reshape(want.shape)
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-6))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--prefix", default=None)
    ap.add_argument("--rtol", type=float, default=1e-4)
    args = ap.parse_args()
    torch.set_num_threads(1)

    tensors, meta = load_safetensors(args.file)
    prefix = args.prefix
    if prefix is None:
        prefix = BYOL_NET if any(k.startswith(BYOL_NET) for k in tensors) else ""
    name = meta.get("network_name")
    if name is None:
        sys.exit(f"{args.file}: metadata has no network_name")
    channels = int(meta.get("in_channels", "1" if name == "amm" else "3"))
    last = meta.get("last_layer", "layer4") or "layer4"
    width = int(meta.get("amm_width", "1"))
    net = amn.build(name, channels, last, width)
    state = {k: v for k, v in sub_state(tensors, prefix).items() if not k.startswith("check.")}
    net.load_state_dict(state, strict=True)
    print(f"{name} ({last}, {channels} channels): {len(state)} tensors under '{prefix}' loaded, strict")
    if prefix == BYOL_NET:
        mlp(sub_state(tensors, "online_encoder.projector.model."), "projector")
        mlp(sub_state(tensors, "online_predictor.model."), "predictor")
        target = amn.build(name, channels, last, width)
        target.load_state_dict(sub_state(tensors, "target_encoder.network."), strict=True)
        mlp(sub_state(tensors, "target_encoder.projector.model."), "target projector")

    ok = True
    if "check.input" in tensors:
        x = torch.from_numpy(tensors["check.input"])
        emb = {}
        net.avgpool.register_forward_hook(lambda m, i, o: emb.__setitem__("v", o.flatten(1)))
        with torch.no_grad():
            for mode in ("train", "eval"):
                # A train-mode forward moves the running stats: run it on a copy.
                model = net
                if mode == "train":
                    model = copy.deepcopy(net)
                    model.avgpool.register_forward_hook(lambda m, i, o: emb.__setitem__("v", o.flatten(1)))
                model.train(mode == "train")
                y = model(x)
                for key, got in ((f"check.output.{mode}", y), (f"check.embedding.{mode}", emb["v"])):
                    if key in tensors:
                        r = rel(got.numpy(), tensors[key])
                        good = r <= args.rtol
                        ok &= good
                        print(f"{key}: worst relative difference {r:.2e} {'ok' if good else 'FAIL'} (rtol {args.rtol:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
