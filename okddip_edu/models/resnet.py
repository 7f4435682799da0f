"""ResNets, cut into trunk and branch: CIFAR (6n+2, 9n+2), the released WRN-20-8, ImageNet-34.

One residual block computes ``y = ReLU(F(x) + shortcut(x))`` where ``F`` is

- BasicBlock:  conv3x3 -> BN -> ReLU -> conv3x3 -> BN                (out = planes)
- Bottleneck:  conv1x1 -> BN -> ReLU -> conv3x3 -> BN -> ReLU -> conv1x1 -> BN
  with an inner width of ``planes * widen`` and out = ``planes * 4``

and the shortcut is the identity, or conv1x1 + BN when the shape changes. A strided 1x1
convolution is computed as a subsample followed by a stride-1 1x1 convolution
(:class:`PointwiseDownsample`): the same function with the same weight, but it never reaches
oneDNN's strided 1x1 backward kernel, which on AVX2-only CPUs writes out of bounds in
channels_last when a layer has fewer input channels than the kernel's block (a crash, a hang,
or silently wrong weight gradients; uxlfoundation/oneDNN issue 6035).

A network is a stem, stages of blocks, and global average pooling. The trunk is the stem and
the first ``split`` stages; each branch owns the remaining stages and the pooling.

| name      | block      | blocks/stage | planes            | stem     | split |
|-----------|------------|--------------|-------------------|----------|-------|
| resnet8..32 (6n+2) | Basic | n, n, n  | w, 2w, 4w         | conv3x3  | 2     |
| resnet110 | Bottleneck | 12, 12, 12   | w, 2w, 4w (x4 out)| conv3x3  | 2     |
| wrn20-8   | Bottleneck, widen 8 | 2, 2, 2 | w, 2w, 4w (x4 out) | conv3x3 | 2 |
| resnet34  | Basic      | 3, 4, 6, 3   | 64, 128, 256, 512 | 7x7 + maxpool | 2 |
"""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .group import Backbone


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int = 1, widen: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(in_ch, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_ch, out, stride)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))  # (B, planes, H/s, W/s)
        y = self.bn2(self.conv2(y))  # (B, out, H/s, W/s)
        return self.relu(y + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1, widen: int = 1):
        super().__init__()
        inner, out = planes * widen, planes * self.expansion
        self.conv1 = nn.Conv2d(in_ch, inner, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.conv2 = nn.Conv2d(inner, inner, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(inner)
        self.conv3 = nn.Conv2d(inner, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_ch, out, stride)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))  # (B, inner, H, W)
        y = self.relu(self.bn2(self.conv2(y)))  # (B, inner, H/s, W/s)
        y = self.bn3(self.conv3(y))  # (B, out, H/s, W/s)
        return self.relu(y + self.shortcut(x))


class PointwiseDownsample(nn.Conv2d):
    """A 1x1 convolution with stride ``s``, as subsample-then-convolve:

        y[:, :, i, j] = W x[:, :, s i, s j]          W: (out, in, 1, 1), no bias

    The subsample is ``avg_pool2d`` with a 1 x 1 window and stride ``s`` (it keeps every s-th
    pixel and the memory format, and was as fast as the strided convolution here); the
    convolution then runs with stride 1. Same parameter and the same state-dict key as
    ``nn.Conv2d(in, out, 1, s, bias=False)``, so checkpoints and initialisation are unchanged.
    """

    def __init__(self, in_ch: int, out: int, stride: int):
        super().__init__(in_ch, out, 1, bias=False)
        self.subsample = stride  # keep every subsample-th row and column

    def forward(self, x):
        if self.subsample > 1:
            x = F.avg_pool2d(x, 1, self.subsample)  # (B, in, H/s, W/s)
        return super().forward(x)  # (B, out, H/s, W/s)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, subsample={self.subsample}"


def _shortcut(in_ch: int, out: int, stride: int) -> nn.Module:
    if stride == 1 and in_ch == out:
        return nn.Identity()
    return nn.Sequential(PointwiseDownsample(in_ch, out, stride), nn.BatchNorm2d(out))


def _stage(block, in_ch: int, planes: int, blocks: int, stride: int, widen: int):
    layers = []
    for i in range(blocks):
        layers.append(block(in_ch, planes, stride if i == 0 else 1, widen))
        in_ch = planes * block.expansion
    return nn.Sequential(*layers), in_ch


class GlobalPool(nn.Module):
    """(B, c, h, w) -> (B, c)."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


def resnet_backbone(block, blocks: tuple[int, ...], planes: tuple[int, ...], *,
                    stem: str = "cifar", split: int = 2, widen: int = 1) -> Backbone:
    """Any ResNet as trunk (stem + stages[:split]) and branch (stages[split:] + pooling)."""
    stem_ch = planes[0] if stem == "cifar" else 64
    strides = [1] + [2] * (len(blocks) - 1)

    def stem_layers() -> list[nn.Module]:
        if stem == "cifar":
            return [nn.Conv2d(3, stem_ch, 3, 1, 1, bias=False), nn.BatchNorm2d(stem_ch),
                    nn.ReLU(inplace=True)]
        return [nn.Conv2d(3, stem_ch, 7, 2, 3, bias=False), nn.BatchNorm2d(stem_ch),
                nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]

    # Channel count entering each stage.
    ins = [stem_ch]
    for p in planes[:-1]:
        ins.append(p * block.expansion)

    def stages(lo: int, hi: int) -> list[nn.Module]:
        return [_stage(block, ins[i], planes[i], blocks[i], strides[i], widen)[0]
                for i in range(lo, hi)]

    def make_trunk() -> nn.Module:
        return nn.Sequential(*stem_layers(), *stages(0, split))

    def make_branch() -> nn.Module:
        return nn.Sequential(*stages(split, len(blocks)), GlobalPool())

    return Backbone(make_trunk, make_branch, trunk_dim=ins[split],
                    feature_dim=planes[-1] * block.expansion)


def cifar_resnet(depth: int, width: int = 16) -> Backbone:
    """CIFAR ResNet of depth 6n+2 (BasicBlock, n blocks per stage, widths w, 2w, 4w)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth={depth} is not valid for a BasicBlock CIFAR ResNet; use 6n+2 "
                         "(8, 14, 20, 32, 44, 56, ...)")
    n = (depth - 2) // 6
    return resnet_backbone(BasicBlock, (n, n, n), (width, 2 * width, 4 * width))


def cifar_resnet_bottleneck(depth: int, width: int = 16, widen: int = 1) -> Backbone:
    """CIFAR ResNet of depth 9n+2 with Bottleneck blocks (ResNet-110: n = 12)."""
    if depth < 11 or (depth - 2) % 9:
        raise ValueError(f"depth={depth} is not valid for a Bottleneck CIFAR ResNet; use 9n+2 "
                         "(11, 20, 29, ..., 110)")
    n = (depth - 2) // 9
    return resnet_backbone(Bottleneck, (n, n, n), (width, 2 * width, 4 * width), widen=widen)


def imagenet_resnet34() -> Backbone:
    """ImageNet ResNet-34 (BasicBlock 3-4-6-3); trunk = conv1, maxpool, layer1, layer2."""
    return resnet_backbone(BasicBlock, (3, 4, 6, 3), (64, 128, 256, 512), stem="imagenet")
