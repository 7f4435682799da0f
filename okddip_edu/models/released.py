"""The released defaults of every network, decided in one place.

The released code does not build every network alike, nor one network alike in every
layout (spec sections 2, 5 and 7). What it fixes, per architecture:

| network        | convolutions    | the model's Linear layers  | the method's Linear layers     |
|----------------|-----------------|----------------------------|--------------------------------|
| ResNets, WRN   | Kaiming fan_out | PyTorch's default          | PyTorch's default              |
| VGG-16         | Kaiming fan_out | N(0, 0.01), bias 0 (*)     | N(0, 0.01), bias 0 (**)        |
| DenseNet-40-12 | Kaiming fan_in  | PyTorch's weights, bias 0  | PyTorch's weights, bias 0      |

and the networks' switches: VGG-16 dropout 0.5 in the branch layout and 0 in the others
(``vgg.py``), its feature h the conv output (``feature="conv"``); DenseNet-40-12 with an
own dense3 per branch (``shared_block=False``) and its leader without the final BN
(``leader_bn=False``).

(*) OKDDip's branch model (``vgg_GL.py``, the one with a group leader) leaves the MLP's
biases at PyTorch's default. (**) The method's layers, OKDDip's W_q, W_k (``vgg_GL.py``) and
ONE's gate (``vgg_one.py``), in the branch layout only: the network layout (``MultiNet.py``)
leaves W_q, W_k at PyTorch's default. BatchNorm is weight 1, bias 0 everywhere.

``init="kaiming-fan-out"`` replaces the initialisation, not the switches: fan_out
convolutions and PyTorch's default Linear layers in every network.

:func:`resolve` is the decision. :func:`okddip_edu.models.build` and
:func:`okddip_edu.factory.build` both call it, so one architecture in one layout is the same
network whichever way it is built (the factory initialises the Linear layers after it has
built the method, as it always has, so a run's random stream is unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from ..constants import INITS

# The switches each network has, with their released value (the layout may decide it).
SWITCHES = {
    "vgg16": lambda layout: {"dropout": 0.5 if layout == "branch" else 0.0, "feature": "conv"},
    "densenet40-12": lambda layout: {"leader_bn": False, "shared_block": False},
}
CONV_INIT = {"densenet40-12": "fan_in"}  # the Kaiming mode where it is not fan_out


@dataclass(frozen=True)
class LinearInit:
    """How the Linear layers of a module start: N(0, ``std``) weights (None: PyTorch's
    default) and biases 0 or PyTorch's default."""

    std: float | None = None
    zero_bias: bool = False

    def apply(self, module: nn.Module) -> None:
        for m in module.modules():
            if isinstance(m, nn.Linear):
                if self.std is not None:
                    nn.init.normal_(m.weight, 0.0, self.std)
                if self.zero_bias and m.bias is not None:
                    nn.init.zeros_(m.bias)


DEFAULT = LinearInit()  # PyTorch's own


@dataclass(frozen=True)
class Released:
    """What the released code builds for one architecture and layout."""

    options: dict = field(default_factory=dict)  # the backbone's switches
    conv_init: str = "fan_out"  # Kaiming-normal mode of every convolution
    model_linear: LinearInit = DEFAULT  # the network's Linear layers
    method_linear: LinearInit = DEFAULT  # the method's (OKDDip's W_q, W_k; ONE's gate)


def options(arch: str, layout: str, **given) -> dict:
    """The switches of ``arch`` in ``layout``: a given value wins, a missing or None one is
    the released value. A switch the network does not have is passed on as given (the
    backbone refuses it)."""
    resolved = SWITCHES[arch](layout) if arch in SWITCHES else {}
    resolved.update({k: v for k, v in given.items() if v is not None or k not in resolved})
    return resolved


def resolve(arch: str, layout: str, *, leader: bool = False, init: str = "released",
            **given) -> Released:
    """The released defaults of ``arch`` in ``layout`` (see the module docstring).

    ``leader``: the branch layout's last branch is an OKDDip group leader (for VGG-16, that
    is ``vgg_GL.py``'s model); ``init``: ``released`` or ``kaiming-fan-out``; ``given``: the
    switches the caller sets (None: released).
    """
    if init not in INITS:
        raise ValueError(f"init={init!r} is not valid; choose one of: {', '.join(INITS)}")
    switches = options(arch, layout, **given)
    if init != "released":
        return Released(switches, "fan_out")
    conv = CONV_INIT.get(arch, "fan_out")
    if arch == "vgg16":
        branch = layout == "branch"
        model = LinearInit(0.01, zero_bias=not (leader and branch))
        return Released(switches, conv, model, LinearInit(0.01, True) if branch else DEFAULT)
    if arch == "densenet40-12":
        return Released(switches, conv, LinearInit(None, True), LinearInit(None, True))
    return Released(switches, conv)
