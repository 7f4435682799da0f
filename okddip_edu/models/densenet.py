"""DenseNet-BC for CIFAR (32 x 32 inputs), cut into trunk and branch.

A dense layer adds ``k`` new channels (the growth rate) and concatenates them to its input:

    y = concat(x, conv3x3(ReLU(BN(conv1x1(ReLU(BN(x)))))))     conv1x1: c -> 4k, conv3x3: 4k -> k

A dense block is ``L = (depth - 4) / 6`` such layers (c -> c + L k channels). A transition
halves both the channels (compression 0.5) and the resolution:
``BN -> ReLU -> conv1x1 (c -> c / 2) -> avgpool 2``. The stem is one conv3x3 to 2k channels.

DenseNet-BC-40-12 (k = 12, L = 6), channels on a 32 x 32 input:

| part   | layer          | channels          | output           |
|--------|----------------|-------------------|------------------|
| trunk  | stem conv3x3   | 3 -> 24           | (B, 24, 32, 32)  |
| trunk  | dense1         | 24 + 6 x 12 = 96  | (B, 96, 32, 32)  |
| trunk  | trans1         | 96 -> 48          | (B, 48, 16, 16)  |
| trunk  | dense2         | 48 + 72 = 120     | (B, 120, 16, 16) |
| trunk  | trans2         | 120 -> 60         | (B, 60, 8, 8)    |
| branch | dense3         | 60 + 72 = 132     | (B, 132, 8, 8)   |
| branch | BN, ReLU, GAP  | 132               | (B, 132)         |

so d = 132. Parameter count (C = 100): the branch layout with 4 independent branches plus
OKDDip's two attention projections (2 x 132 x 16, no bias) is 0.409 M (0.408 M when, as
released, the leader has no final BN). The released code has 0.233 M: see below.

What the released ``densenet_GL.py`` / ``densenet_one.py`` do, and what we do:

- they build dense3 once and register that one object under every branch name, so all
  "branches" share their weights (a defect); we build a fresh dense3 per branch
  (``shared_block=True`` shares one, as released);
- OKDDip's attention runs over all n branches, so the leader sits in the peer set (a
  defect); the OKDDip method keeps it out (``Config.leader_in_peers`` puts it in);
- OKDDip's leader is pooled without the final BN + ReLU that every other branch applies
  (likely a slip); we follow it (``leader_bn=True`` gives the leader the BN + ReLU too);
- convolutions are Kaiming-normal with the default fan_in, the classifier's bias 0
  (``okddip_edu.models.released`` applies both).
"""

from __future__ import annotations

import torch
from torch import nn

from .group import Backbone
from .resnet import GlobalPool


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (to 4k) -> BN-ReLU-conv3x3 (to k), concatenated to the input."""

    def __init__(self, in_ch: int, growth: int, bottleneck: int = 4):
        super().__init__()
        inner = bottleneck * growth
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, inner, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(inner)
        self.conv2 = nn.Conv2d(inner, growth, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.conv1(self.relu(self.bn1(x)))  # (B, 4k, H, W)
        y = self.conv2(self.relu(self.bn2(y)))  # (B, k, H, W)
        return torch.cat([x, y], dim=1)  # (B, c + k, H, W)


def dense_block(in_ch: int, layers: int, growth: int) -> nn.Sequential:
    """``layers`` dense layers: in_ch -> in_ch + layers * growth channels."""
    return nn.Sequential(*(DenseLayer(in_ch + i * growth, growth) for i in range(layers)))


def transition(in_ch: int, out_ch: int) -> nn.Sequential:
    """BN -> ReLU -> conv1x1 -> avgpool 2: (B, in_ch, H, W) -> (B, out_ch, H/2, W/2)."""
    return nn.Sequential(nn.BatchNorm2d(in_ch), nn.ReLU(inplace=True),
                         nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.AvgPool2d(2, 2))


def densenet_bc(depth: int = 40, growth: int = 12, compression: float = 0.5, *,
                leader_bn: bool = False, shared_block: bool = False) -> Backbone:
    """CIFAR DenseNet-BC; trunk = stem + dense1 + trans1 + dense2 + trans2, branch = dense3.

    ``leader_bn``: an OKDDip leader's branch keeps the final BN + ReLU (released: it has
    none); ``shared_block``: every branch of one group uses the same dense3 (released).
    """
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"depth={depth} is not valid for DenseNet-BC; use 6L+4 "
                         "(10, 16, 22, 28, 34, 40, ..., 100)")
    layers = (depth - 4) // 6  # dense layers per block (each has 2 convs)
    stem_ch = 2 * growth
    # Channels: after dense1, trans1, dense2, trans2 (the trunk), dense3 (the branch).
    c1 = stem_ch + layers * growth
    t1 = int(c1 * compression)
    c2 = t1 + layers * growth
    t2 = int(c2 * compression)
    c3 = t2 + layers * growth

    def make_trunk() -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(3, stem_ch, 3, padding=1, bias=False),  # (B, 2k, 32, 32)
            dense_block(stem_ch, layers, growth),  # (B, c1, 32, 32)
            transition(c1, t1),  # (B, t1, 16, 16)
            dense_block(t1, layers, growth),  # (B, c2, 16, 16)
            transition(c2, t2),  # (B, t2, 8, 8)
        )

    shared: list[nn.Module] = []  # the one dense3 of a group, with shared_block

    def dense3() -> nn.Module:
        if not shared_block:
            return dense_block(t2, layers, growth)
        if not shared:
            shared.append(dense_block(t2, layers, growth))
        return shared[0]

    def make_branch(final_bn: bool = True) -> nn.Module:
        final = [nn.BatchNorm2d(c3), nn.ReLU(inplace=True)] if final_bn else []
        return nn.Sequential(
            dense3(),  # (B, c3, 8, 8)
            *final,
            GlobalPool(),  # (B, c3)
        )

    def make_trunk_and_reset() -> nn.Module:
        shared.clear()  # a new group: its branches share a new block
        return make_trunk()

    return Backbone(make_trunk_and_reset, make_branch, trunk_dim=t2, feature_dim=c3,
                    make_leader_branch=None if leader_bn else lambda: make_branch(False))
