"""Peer models: every architecture in the ``single``, ``branch`` and ``network`` layouts.

>>> net = build("resnet32", num_classes=100, branches=4, layout="branch")
>>> out = net(x)   # out.features (B, n, d), out.logits (B, n, C), out.trunk (B, d0)

Small CPU-friendly settings come from the same code: ``build("resnet8", width=8, ...)``.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from ..config import ARCHITECTURES, LAYOUTS
from .densenet import densenet_bc
from .group import Backbone, GroupOutput, make_group
from .resnet import cifar_resnet, cifar_resnet_bottleneck, imagenet_resnet34
from .vgg import vgg16

# name -> (width -> Backbone). ``width`` is the ResNet/WRN base width; others ignore it.
BACKBONES: dict[str, Callable[[int], Backbone]] = {
    "resnet8": lambda w: cifar_resnet(8, w),
    "resnet14": lambda w: cifar_resnet(14, w),
    "resnet20": lambda w: cifar_resnet(20, w),
    "resnet32": lambda w: cifar_resnet(32, w),
    "resnet110": lambda w: cifar_resnet_bottleneck(110, w),
    "wrn20-8": lambda w: cifar_resnet_bottleneck(20, w, widen=8),
    "vgg16": lambda w: vgg16(),
    "densenet40-12": lambda w: densenet_bc(depth=40, growth=12),
    "resnet34": lambda w: imagenet_resnet34(),
}
assert tuple(BACKBONES) == ARCHITECTURES


def backbone(name: str, width: int = 16) -> Backbone:
    if name not in BACKBONES:
        raise ValueError(f"arch={name!r} is not valid; choose one of: {', '.join(BACKBONES)}")
    return BACKBONES[name](width)


def build(name: str, num_classes: int = 100, branches: int = 4, layout: str = "branch",
          width: int = 16, trunk_grad_scale: float = 1.0) -> nn.Module:
    """Build architecture ``name`` as a group of ``branches`` peers in ``layout``."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not valid; choose one of: {', '.join(LAYOUTS)}")
    if not isinstance(branches, int) or branches < 1:
        raise ValueError(f"branches={branches!r} is not valid; it must be an integer >= 1")
    return make_group(backbone(name, width), num_classes, branches, layout, trunk_grad_scale)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["BACKBONES", "Backbone", "GroupOutput", "backbone", "build", "count_parameters"]
