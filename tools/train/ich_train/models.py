"""Backbones and heads: the paper's ResNet-50 + 256 ReLU + 6, and smaller variants."""
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn
import torchvision

from .contract import CLASSES

ARCHITECTURES = ("resnet50", "resnet18", "efficientnet_b0", "tiny")
HEADS = ("gap", "flatten")


class TinyBackbone(nn.Module):
    """Four strided conv blocks: a model small enough for test fixtures (< 1 MB)."""

    def __init__(self, width: int = 16):
        super().__init__()
        layers, channels = [], 3
        for out in (width, width * 2, width * 4, width * 4):
            layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            channels = out
        self.body = nn.Sequential(*layers)
        self.out_channels = channels

    def forward(self, x):
        return self.body(x)


def backbone(arch: str) -> nn.Module:
    """Convolutional base returning a feature map [N, C, h, w]; weights random."""
    if arch in ("resnet50", "resnet18"):
        net = getattr(torchvision.models, arch)(weights=None)
        body = nn.Sequential(*list(net.children())[:-2])
        body.out_channels = net.fc.in_features
        return body
    if arch == "efficientnet_b0":
        net = torchvision.models.efficientnet_b0(weights=None)
        body = net.features
        body.out_channels = net.classifier[1].in_features
        return body
    if arch == "tiny":
        return TinyBackbone()
    raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")


class IchNet(nn.Module):
    """Backbone + head (hidden 256 ReLU -> 6 logits). `flatten` is the paper-exact head:
    it flattens the whole feature map (7x7x2048 at 224 for ResNet-50), `gap` averages it."""

    def __init__(self, arch: str = "resnet50", head: str = "gap", size: int = 224, hidden: int = 256):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
        self.features = backbone(arch)
        if head == "gap":
            pool, inputs = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), self.features.out_channels
        else:
            with torch.no_grad():
                shape = self.features(torch.zeros(1, 3, size, size)).shape
            pool, inputs = nn.Flatten(), shape[1] * shape[2] * shape[3]
        self.head = nn.Sequential(pool, nn.Linear(inputs, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, len(CLASSES)))
        for layer in self.head:
            if isinstance(layer, nn.Linear):  # paper: head initialised from a normal distribution
                nn.init.normal_(layer.weight, std=0.01)
                nn.init.zeros_(layer.bias)

    def forward(self, x):
        return self.head(self.features(x))


class WithSigmoid(nn.Module):
    """Exported graph: probabilities, not logits (the contract's `ich.output`)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.sigmoid(self.net(x))


def load_pretrained_backbone(model: IchNet, arch: str, weights: Path) -> int:
    """Load local torchvision-format weights (e.g. resnet50-0676ba61.pth) into the backbone.

    Never downloads. Returns the number of tensors loaded; raises when the file is missing or
    nothing in it matches the backbone."""
    weights = Path(weights)
    if not weights.is_file():
        raise FileNotFoundError(
            f"--pretrained {weights}: no such file. Weights are never downloaded; copy a torchvision "
            f"{arch} state_dict (.pth) to this machine and pass its path"
        )
    state = torch.load(weights, map_location="cpu")
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    reference = getattr(torchvision.models, arch)(weights=None) if arch != "tiny" else None
    if reference is None:
        raise ValueError("--pretrained does not apply to the tiny architecture")
    missing, unexpected = reference.load_state_dict(state, strict=False)
    loaded = len(reference.state_dict()) - len(missing)
    if loaded == 0:
        raise ValueError(f"--pretrained {weights}: no tensor matches a torchvision {arch}")
    if arch == "efficientnet_b0":
        model.features.load_state_dict(reference.features.state_dict())
    else:
        model.features.load_state_dict(nn.Sequential(*list(reference.children())[:-2]).state_dict())
    return loaded


def build_model(arch: str, head: str, size: int, pretrained: Optional[Path] = None) -> IchNet:
    model = IchNet(arch, head, size)
    if pretrained:
        load_pretrained_backbone(model, arch, pretrained)
    return model
