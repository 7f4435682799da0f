r"""Each process's share of every training batch, exactly as a single process would see it.

A single process draws, per epoch, a permutation of the N_train images from a generator
seeded by (seed, epoch), cuts it into batches of B and gives each image of a batch its own
random crop and flip from the same generator. With N processes the batch B is the
*global* batch: process r keeps the rows

    [B r / N, B (r + 1) / N)        of every batch   (B / N rows when N divides B)

To keep each image's crop and flip identical to the single-process run, every process
draws the permutation and the augmentation of the *whole* global batch (the dataset is
resident on every device, and augmentation costs little: on the CPU about 0.2 % of a
step) and then keeps its rows. So the union of the shards is, image for image and pixel
for pixel, the batch of the single-process run.

The global batch must divide evenly: B % N != 0 is refused. A last partial batch of r
images (kept unless ``drop_last``) is split as evenly as possible; each process then
scales its loss by n_r N / r so that DDP's average of the N gradients is still the
gradient of the mean over the r images. It must hold at least N images.
"""

from __future__ import annotations

from typing import Iterator

import torch

from ..data import DeviceLoader


def check_shardable(batch_size: int, world: int, n_train: int, drop_last: bool) -> None:
    """Refuse, in one line, a batch that cannot be shared evenly by ``world`` processes."""
    if batch_size % world:
        raise ValueError(f"batch_size={batch_size} is not valid with {world} processes: the "
                         f"global batch is split evenly, so it must be a multiple of {world} "
                         f"(e.g. {batch_size - batch_size % world or world})")
    rest = n_train % batch_size
    if not drop_last and 1 < rest < world:
        raise ValueError(f"the last partial batch holds {rest} images, fewer than the "
                         f"{world} processes that share it; use --drop-last, another "
                         "batch size or fewer processes")


def bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rows [lo, hi) of a batch of ``n`` that belong to ``rank``."""
    return n * rank // world, n * (rank + 1) // world


class ShardedLoader:
    """Rank ``rank``'s rows of every batch of ``loader`` (a training :class:`DeviceLoader`
    whose ``batch_size`` is the global batch). Yields ``(x (b, 3, 32, 32), y (b,), n)``
    with b = this rank's rows and n the global batch they came from."""

    def __init__(self, loader: DeviceLoader, rank: int, world: int):
        self.loader = loader
        self.rank = rank
        self.world = world

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)  # the same number of steps on every rank

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        for x, y in self.loader:  # (B, 3, 32, 32), (B,): the single-process batch
            lo, hi = bounds(len(y), self.rank, self.world)
            yield x[lo:hi], y[lo:hi], len(y)  # (B / N, 3, 32, 32), (B / N,)
