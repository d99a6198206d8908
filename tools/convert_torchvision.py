#!/usr/bin/python3
"""Converts a torchvision ResNet18 checkpoint (.pth) into the safetensors file that
`[network_settings] pretrained = "..."` loads (am_model_load_pretrained).

  /usr/bin/python3 tools/convert_torchvision.py resnet18-f37072fd.pth resnet18.safetensors

The input may be a state dict (torchvision's download), a dict holding one under "state_dict" or
"model", or a whole pickled model; DataParallel's "module." prefix is removed. Tensors keep
torchvision's names; floats are written as F32, num_batches_tracked as I64.
"""
import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixtures.common import save_safetensors  # noqa: E402

# The tensors a ResNet18 must have, with their shapes (enough to reject other networks).
EXPECTED = {"conv1.weight": (64, 3, 7, 7), "bn1.running_var": (64,), "layer1.0.conv1.weight": (64, 64, 3, 3),
            "layer2.0.downsample.0.weight": (128, 64, 1, 1), "layer4.1.bn2.weight": (512,)}


def state_dict_of(obj):
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise SystemExit(f"no state dict found (got {type(obj).__name__})")
    return {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items() if torch.is_tensor(v)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pth")
    ap.add_argument("out")
    args = ap.parse_args()
    try:
        obj = torch.load(args.pth, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any unpickling failure means the same to the user
        raise SystemExit(f"{args.pth}: not a PyTorch checkpoint ({e})")
    sd = state_dict_of(obj)
    for name, shape in EXPECTED.items():
        if name not in sd:
            raise SystemExit(f"{args.pth}: no tensor '{name}': not a torchvision ResNet18 state dict")
        if tuple(sd[name].shape) != shape:
            raise SystemExit(f"{args.pth}: tensor '{name}' has shape {tuple(sd[name].shape)}, ResNet18 has {shape}")
    out = {}
    for k, v in sd.items():
        v = v.detach().cpu()
        out[k] = v.to(torch.int64) if k.endswith("num_batches_tracked") else v.to(torch.float32)
    save_safetensors(args.out, out, {"format": "torchvision.resnet18", "source": os.path.basename(args.pth)})
    print(f"{args.out}: {len(out)} tensors")


if __name__ == "__main__":
    main()
