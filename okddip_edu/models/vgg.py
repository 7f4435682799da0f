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

Each branch then flattens (1 x 1 x 512 -> 512) and runs the MLP of the released code:

    h = Dropout(ReLU(W_2 Dropout(ReLU(W_1 x + b_1)) + b_2))     W_1, W_2: 512 x 512, p = 0.5

so the branch's feature is ``h`` (d = 512) and the group's classifier ``z = W h + b`` is the
last ``Linear(512, C)`` of the MLP 512-512-512-C.

Parameter count (C = 100): one network 15.300 M; the branch layout with 4 branches plus
OKDDip's two attention projections (2 x 512 x 64, no bias) 38.343 M, as in the released code.

Difference from the released code: its query/key projections read the 512-d output of conv
block 5 (before the MLP); here every method reads the branch feature ``h`` after the MLP.
Both are 512-d, so the parameter count is the same.
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
    """The two hidden Linear layers of the released classifier head (the third is ours)."""
    return [nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Dropout(dropout)]


def vgg16(dropout: float = 0.5) -> Backbone:
    """CIFAR VGG-16-BN; trunk = conv blocks 1-4, branch = conv block 5 + flatten + MLP."""

    def make_trunk() -> nn.Module:
        return nn.Sequential(*conv_layers(VGG16_TRUNK, 3))  # (B, 3, 32, 32) -> (B, 512, 2, 2)

    def make_branch() -> nn.Module:
        return nn.Sequential(
            *conv_layers(VGG16_BRANCH, 512),  # (B, 512, 2, 2) -> (B, 512, 1, 1)
            nn.Flatten(),  # (B, 512)
            *mlp(512, dropout),  # (B, 512)
        )

    return Backbone(make_trunk, make_branch, trunk_dim=512, feature_dim=512)
