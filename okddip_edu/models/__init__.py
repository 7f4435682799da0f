"""Peer models: every architecture in the ``single``, ``branch`` and ``network`` layouts.

>>> net = build("resnet32", num_classes=100, branches=4, layout="branch")
>>> out = net(x)   # out.features (B, n, d), out.logits (B, n, C), out.trunk (B, d0)

Small CPU-friendly settings come from the same code: ``build("resnet8", width=8, ...)``.
"""

from __future__ import annotations

import math
from typing import Callable

from torch import nn

from ..config import ARCHITECTURES, LAYOUTS
from . import released
from .densenet import densenet_bc
from .group import Backbone, GroupOutput, make_group
from .resnet import cifar_resnet, cifar_resnet_bottleneck, imagenet_resnet34
from .vgg import vgg16

# name -> (width, options -> Backbone). ``width`` is the ResNet/WRN base width; ``options``
# are the network-specific switches (VGG: dropout, feature; DenseNet: leader_bn,
# shared_block); a backbone rejects options it does not have.
BACKBONES: dict[str, Callable[..., Backbone]] = {
    "resnet8": lambda w, **o: cifar_resnet(8, w, **o),
    "resnet14": lambda w, **o: cifar_resnet(14, w, **o),
    "resnet20": lambda w, **o: cifar_resnet(20, w, **o),
    "resnet32": lambda w, **o: cifar_resnet(32, w, **o),
    "resnet110": lambda w, **o: cifar_resnet_bottleneck(110, w, **o),
    "wrn20-8": lambda w, **o: cifar_resnet_bottleneck(20, w, widen=8, **o),
    "vgg16": lambda w, **o: vgg16(**o),
    "densenet40-12": lambda w, **o: densenet_bc(depth=40, growth=12, **o),
    "resnet34": lambda w, **o: imagenet_resnet34(**o),
}
assert tuple(BACKBONES) == ARCHITECTURES


def backbone(name: str, width: int = 16, **options) -> Backbone:
    """Architecture ``name`` cut into trunk and branch; ``options``: its own switches."""
    if name not in BACKBONES:
        raise ValueError(f"arch={name!r} is not valid; choose one of: {', '.join(BACKBONES)}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 2:
        raise ValueError(f"width={width!r} is not valid; it must be an integer >= 2")
    try:
        return BACKBONES[name](width, **options)
    except TypeError as err:  # an option this network does not have
        raise ValueError(f"{name} does not take the option(s) {sorted(options)}: {err}") from None


def build(name: str, num_classes: int = 100, branches: int = 4, layout: str = "branch",
          width: int = 16, trunk_grad_scale: float = 1.0, *, leader: bool = False,
          init: str = "released", init_linear: bool = True, **options) -> nn.Module:
    """Build architecture ``name`` as a group of ``branches`` peers in ``layout``, with the
    released defaults of that network and layout (:mod:`okddip_edu.models.released`).

    ``leader``: the last branch is an OKDDip group leader; ``init``: ``released`` (each
    network as the released code) or ``kaiming-fan-out``; ``init_linear=False`` leaves the
    Linear layers at PyTorch's default for a caller that sets them later (the factory, after
    it has built the method); ``options``: the network's switches (None: released), see
    :func:`backbone`.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not valid; choose one of: {', '.join(LAYOUTS)}")
    for key, value in (("branches", branches), ("num_classes", num_classes), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key}={value!r} is not valid; it must be an integer >= 1")
    if isinstance(trunk_grad_scale, bool) or not isinstance(trunk_grad_scale, (int, float)) \
            or not math.isfinite(trunk_grad_scale):
        raise ValueError(f"trunk_grad_scale={trunk_grad_scale!r} is not valid; it must be a "
                         "finite number")
    defaults = released.resolve(name, layout, leader=leader, init=init, **options)
    net = make_group(backbone(name, width, **defaults.options), num_classes, branches, layout,
                     trunk_grad_scale, leader=leader, conv_init=defaults.conv_init)
    if init_linear:
        defaults.model_linear.apply(net)
    return net


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["BACKBONES", "Backbone", "GroupOutput", "backbone", "build", "count_parameters",
           "released"]
