"""PyTorch definitions of the networks the C code builds, with the exact module and parameter
names of the original package (torchvision's ResNet18 for n_layer_resnet, AstroMorphologyModel for
amm), and the hash-based weights shared with the C tests.

torchvision is used when installed; otherwise ResNet18 is built here with torchvision's structure,
names and initialisation (Debian's python3-torch ships without torchvision).
"""
import numpy as np
import torch
from torch import nn

LAST_LAYERS = {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512}


def _conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


def _layer(inplanes, planes, stride):
    down = None
    if stride != 1 or inplanes != planes:
        down = nn.Sequential(nn.Conv2d(inplanes, planes, kernel_size=1, stride=stride, bias=False),
                             nn.BatchNorm2d(planes))
    return nn.Sequential(BasicBlock(inplanes, planes, stride, down), BasicBlock(planes, planes))


class ResNet18(nn.Module):
    """torchvision.models.resnet18(): same children, names and initialisation."""

    def __init__(self, num_classes=1000, in_channels=3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = _layer(64, 64, 1)
        self.layer2 = _layer(64, 128, 2)
        self.layer3 = _layer(128, 256, 2)
        self.layer4 = _layer(256, 512, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


def resnet18(in_channels=3):
    try:
        from torchvision.models import resnet18 as tv_resnet18
        net = tv_resnet18()
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        return net
    except ImportError:
        return ResNet18(in_channels=in_channels)


class NLayerResnet(nn.Module):
    """The original's NLayerResnet, with the input channels as a parameter."""

    def __init__(self, last_layer="layer4", in_channels=3):
        super().__init__()
        dim = LAST_LAYERS[last_layer]
        cut = list(LAST_LAYERS)[list(LAST_LAYERS).index(last_layer) + 1:] + ["fc"]
        for name, child in resnet18(in_channels).named_children():
            if name not in cut:
                self.add_module(name, child)
        self.add_module("fc", nn.Linear(dim, 64))
        self.embedding_dim = dim

    def forward(self, x):
        for name, child in self.named_children():
            x = child(torch.flatten(x, start_dim=1)) if name == "fc" else child(x)
        return x


class AstroMorphologyModel(nn.Module):
    """The original's AstroMorphologyModel (whose forward returns nothing: this one returns fc);
    width multiplies every channel count but fc's 64 outputs, as amm_width does in astromorph."""

    def __init__(self, in_channels=1, width=1):
        super().__init__()
        c = 32 * width
        self.conv1 = nn.Conv2d(in_channels, c, kernel_size=7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(c, eps=1e-5)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1)
        self.layer1 = nn.Sequential(
            nn.Conv2d(c, c, kernel_size=3, stride=1, padding=1), nn.BatchNorm2d(c, eps=1e-5),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, kernel_size=3, stride=1, padding=1), nn.BatchNorm2d(c, eps=1e-5))
        self.layer2 = nn.Sequential(
            nn.Conv2d(c, 2 * c, kernel_size=3, stride=2, padding=1), nn.BatchNorm2d(2 * c, eps=1e-5),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * c, 4 * c, kernel_size=3, stride=1, padding=1), nn.BatchNorm2d(4 * c, eps=1e-5))
        self.avgpool = nn.AdaptiveAvgPool2d(output_size=(1, 1))
        self.fc = nn.Linear(in_features=4 * c, out_features=64)

    def forward(self, x):
        for name, child in self.named_children():
            x = child(torch.flatten(x, start_dim=1)) if name == "fc" else child(x)
        return x


def build(network_name, in_channels, last_layer="layer4", amm_width=1):
    if network_name == "amm":
        return AstroMorphologyModel(in_channels, amm_width)
    if network_name == "n_layer_resnet":
        return NLayerResnet(last_layer, in_channels)
    raise ValueError(f"network_name: {network_name!r} (expected n_layer_resnet or amm)")


def d2_batch(img):
    """The four D2 copies of one C x H x W image: identity, rot180, flip left-right, flip up-down."""
    return torch.stack([img, torch.flip(img, [1, 2]), torch.flip(img, [2]), torch.flip(img, [1])])


# --- Hash-based values, computed identically by tests/models/model_fixture.h ---------------------

M32 = np.uint64(0xFFFFFFFF)


def _lowbias32(x):
    x = x.astype(np.uint64) & M32
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & M32
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & M32
    x ^= x >> np.uint64(16)
    return x


def fnv1a32(text):
    h = 2166136261
    for b in text.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def hash_uniform(key, n):
    """n values in [-1, 1) as float64, element i from lowbias32(i ^ lowbias32(key))."""
    k = _lowbias32(np.array([key], dtype=np.uint64))[0]
    h = _lowbias32(np.arange(n, dtype=np.uint64) ^ k)
    return (h >> np.uint64(8)).astype(np.float64) * (2.0 ** -23) - 1.0


def hash_value(name, shape, salt=""):
    """A deterministic value for a ResNet parameter or buffer, scaled like a trained network's;
    the hash key is salt + name."""
    n = int(np.prod(shape)) if len(shape) else 1
    u = hash_uniform(fnv1a32(salt + name), n)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "num_batches_tracked":
        return np.zeros(shape, dtype=np.int64)
    if name.startswith("fc."):
        fan_in = 512 if leaf == "bias" else shape[1]
        v = u * (1.0 / np.sqrt(fan_in))
    elif len(shape) == 4:
        v = u * np.sqrt(6.0 / (shape[1] * shape[2] * shape[3]))
    elif leaf == "weight":
        v = 1.0 + 0.25 * u
    elif leaf == "bias" or leaf == "running_mean":
        v = 0.1 * u
    elif leaf == "running_var":
        v = 1.0 + 0.5 * u
    else:
        raise ValueError(name)
    return v.astype(np.float32).reshape(shape)


def projections(t, k=8):
    """k dot products of a tensor with hash vectors: a compact fingerprint of a large gradient."""
    a = np.asarray(t, dtype=np.float64).ravel()
    return np.array([np.dot(a, hash_uniform(fnv1a32("proj") + j, a.size)) for j in range(k)], dtype=np.float32)
