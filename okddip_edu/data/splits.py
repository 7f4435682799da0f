"""A dataset in memory, split into training and validation.

    Splits(train_x (N, 3, 32, 32) uint8, train_y (N,), val_x (M, 3, 32, 32), val_y (M,), ...)

``cifar10-5k`` has no test set: ``val_size`` images are held out, balanced over classes and
fixed (:func:`stratified_holdout`). ``synthetic`` is tiny and learnable, for unit tests.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import torch


@dataclass
class Splits:
    """A dataset in memory: uint8 images, int64 labels, and what normalises them."""

    name: str  # dataset name
    train_x: torch.Tensor  # (N, 3, 32, 32) uint8
    train_y: torch.Tensor  # (N,) int64
    val_x: torch.Tensor  # (M, 3, 32, 32) uint8
    val_y: torch.Tensor  # (M,) int64
    num_classes: int  # C
    classes: tuple[str, ...]  # class names
    mean: tuple[float, float, float]  # per-channel mean of the training images
    std: tuple[float, float, float]  # per-channel std


def stratified_holdout(y: torch.Tensor, size: int, seed: int = 0) -> torch.Tensor:
    """A boolean mask of ``size`` samples, as balanced over classes as possible, fixed by seed.

    Samples are shuffled once with a fixed generator, then taken round-robin over classes.
    """
    if not 0 < size < len(y):
        raise ValueError(f"val_size={size} is not valid for {len(y)} images; "
                         f"allowed: 1..{len(y) - 1}")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(y), generator=g)  # (N,)
    yp = y[perm]
    rank = torch.empty_like(perm)  # rank of each shuffled sample within its class
    for c in yp.unique():
        idx = (yp == c).nonzero().squeeze(1)
        rank[idx] = torch.arange(len(idx))
    order = perm[torch.argsort(rank * len(y) + torch.arange(len(y)), stable=True)]
    mask = torch.zeros(len(y), dtype=torch.bool)
    mask[order[:size]] = True
    return mask


def synthetic(num_classes: int = 10, train: int = 512, val: int = 128, seed: int = 0) -> Splits:
    """Learnable toy images: a fixed smooth random template per class, plus noise."""
    g = torch.Generator().manual_seed(seed)
    templates = torch.rand(num_classes, 3, 4, 4, generator=g)  # coarse colour patterns
    templates = torch.nn.functional.interpolate(templates, size=32, mode="bilinear")

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, num_classes, (n,), generator=g)
        x = templates[y] + 0.25 * torch.randn(n, 3, 32, 32, generator=g)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8), y

    tx, ty = draw(train)
    vx, vy = draw(val)
    names = tuple(f"class{i}" for i in range(num_classes))
    return Splits("synthetic", tx, ty, vx, vy, num_classes, names, (0.5,) * 3, (0.25,) * 3)


def apply_subset(splits: Splits, n: int | None) -> Splits:
    """Keep only the first ``n`` training images (all when ``n`` is None).

    An ``n`` above the number of training images keeps them all, and says so in a warning.
    """
    if n is None or n == len(splits.train_y):
        return splits
    if n > len(splits.train_y):
        warnings.warn(f"train_subset={n} is more than the {len(splits.train_y)} training images "
                      f"this dataset has; all {len(splits.train_y)} are used", stacklevel=2)
        return splits
    return dataclasses.replace(splits, train_x=splits.train_x[:n], train_y=splits.train_y[:n])


def check_splits(splits, num_classes: int | None = None) -> None:
    """``splits`` as :func:`okddip_edu.engine.fit` needs it, or one line saying what is not:

    a :class:`Splits`; images uint8 tensors (N, 3, H, W) (0..255: floats in [0, 1] would be
    normalised as if they were 0..255); labels integer tensors (N,), one per image, in
    0..C-1; C an integer >= 2, equal to ``num_classes`` (the config's dataset) when given.
    """
    if not isinstance(splits, Splits):
        raise TypeError(f"splits={type(splits).__name__} is not valid; it must be a "
                        "okddip_edu.data.Splits (e.g. okddip_edu.data.load(cfg)) or None")
    c = splits.num_classes
    if isinstance(c, bool) or not isinstance(c, int) or c < 2:
        raise ValueError(f"splits.num_classes={c!r} is not valid; it must be an integer >= 2")
    if num_classes is not None and c != num_classes:
        raise ValueError(f"splits.num_classes={c} is not valid for this config: its dataset "
                         f"has {num_classes} classes, and a run must predict its dataset's")
    for part in ("train", "val"):
        x, y = getattr(splits, f"{part}_x"), getattr(splits, f"{part}_y")
        if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.ndim != 4 \
                or x.shape[1] != 3:
            what = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else \
                type(x).__name__
            raise ValueError(f"splits.{part}_x={what} is not valid; it must be a uint8 tensor "
                             "(N, 3, H, W) of 0..255 pixels")
        if not isinstance(y, torch.Tensor) or y.ndim != 1 or len(y) != len(x):
            what = f"shape {tuple(y.shape)}" if isinstance(y, torch.Tensor) else \
                type(y).__name__
            raise ValueError(f"splits.{part}_y={what} is not valid; it must be a tensor of "
                             f"{len(x)} labels, one per image")
        if len(y) == 0:
            raise ValueError(f"splits.{part}_y is empty; a run needs {part} images")
