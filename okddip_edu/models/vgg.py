"""VGG-16 with BatchNorm for CIFAR (32 x 32 inputs), cut into trunk and branch.

A conv unit is ``conv3x3 (with bias) -> BN -> ReLU``; a conv block is a few units followed by
a 2 x 2 max-pool that halves the resolution. VGG-16 has five blocks (13 conv units):

| block | units x channels | output on a 32 x 32 input | part   |
|-------|------------------|---------------------------|--------|
| 1     | 2 x 64           | (B, 64, 16, 16)           | trunk  |
| 2     | 2 x 128          | (B, 128, 8, 8)            | trunk  |
| 3     | 3 x 256          | (B, 256, 4, 4)            | trunk  |
| 4     | 3 x 512          | (B, 512, 2, 2)            | trunk  |
| 5     | 3 x 512          | (B, 512, 1, 1)            | branch |

Each branch then flattens its block-5 output (1 x 1 x 512 -> 512) and classifies it with the
MLP of the released code, 512-512-512-C:

    h = flatten(block5(trunk(x)))                                   d = 512
    z = W_3 Dropout(ReLU(W_2 Dropout(ReLU(W_1 h + b_1)) + b_2)) + b_3   p = 0.5 or 0

so the branch's feature ``h``, which OKDDip's attention reads, is the 512-d conv output
before the MLP, and the classifier head is the whole MLP, as in the released ``vgg_GL.py``.
``feature="mlp"`` moves ``h`` after the two hidden layers (the head is then ``W_3`` alone):
the attention then reads a dropout-masked feature in training.

Dropout: the released code uses 0.5 in its branch models (``vgg_GL.py``, ``vgg_one.py``) and
0 in the single network, DML and the network layout (``vgg.py``); ``models.build`` and the
factory pick the same by layout (``okddip_edu.models.released``) unless told otherwise
(``dropout=``, ``Config.dropout``), and start every Linear layer N(0, 0.01), as released.

Parameter count (C = 100): one network 15.300 M; the branch layout with 4 branches plus
OKDDip's two attention projections (2 x 512 x 64, no bias) 38.343 M, as in the released code.
"""

from __future__ import annotations

from torch import nn

from .group import Backbone

# Channels of the conv units; "M" is a 2 x 2 max-pool that closes a block.
VGG16_TRUNK = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M")
VGG16_BRANCH = (512, 512, 512, "M")


def conv_layers(config: tuple, in_ch: int) -> list[nn.Module]:
    """Conv units (conv3x3 -> BN -> ReLU) and max-pools, following ``config``."""
    layers: list[nn.Module] = []
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_ch, item, 3, padding=1), nn.BatchNorm2d(item),
                       nn.ReLU(inplace=True)]
            in_ch = item
    return layers


def mlp(dim: int, dropout: float) -> list[nn.Module]:
    """The two hidden Linear layers of the released classifier (the third is the output)."""
    return [nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Dropout(dropout)]


def vgg16(dropout: float = 0.5, feature: str = "conv") -> Backbone:
    """CIFAR VGG-16-BN; trunk = conv blocks 1-4, branch = conv block 5 (+ MLP, see above)."""
    if feature not in ("conv", "mlp"):
        raise ValueError(f"feature={feature!r} is not valid; choose conv or mlp")

    def make_trunk() -> nn.Module:
        return nn.Sequential(*conv_layers(VGG16_TRUNK, 3))  # (B, 3, 32, 32) -> (B, 512, 2, 2)

    def make_branch() -> nn.Module:
        hidden = mlp(512, dropout) if feature == "mlp" else []
        return nn.Sequential(
            *conv_layers(VGG16_BRANCH, 512),  # (B, 512, 2, 2) -> (B, 512, 1, 1)
            nn.Flatten(),  # (B, 512)
            *hidden,  # (B, 512)
        )

    def make_head(dim: int, num_classes: int) -> nn.Module:
        if feature == "mlp":
            return nn.Linear(dim, num_classes)
        return nn.Sequential(*mlp(dim, dropout), nn.Linear(dim, num_classes))  # (B, C)

    return Backbone(make_trunk, make_branch, trunk_dim=512, feature_dim=512, make_head=make_head)
