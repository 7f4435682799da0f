"""Training batches: the dataset resident on the device, augmentation there; and the classic
``torch.utils.data`` pipeline it replaces.

:class:`DeviceLoader` keeps the uint8 images on the training device and draws, per sample
and on that device,

    random crop 32x32 from the image zero-padded by 4 px  ->  horizontal flip (p = 1/2)
    ->  x = (x / 255 - mean) / std

which is exactly torchvision's RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor +
Normalize. :func:`reference_loader` builds that classic pipeline with torchvision transforms
and DataLoader workers; the benchmark compares the two.
"""

from __future__ import annotations

import os

import torch


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, padding: int = 4
                     ) -> torch.Tensor:
    """Per-sample random crop (zero padding) and horizontal flip of uint8 images (B, 3, H, W)."""
    B, C, H, W = x.shape
    dev = x.device
    Hp, Wp = H + 2 * padding, W + 2 * padding
    padded = torch.nn.functional.pad(x, (padding,) * 4).reshape(B, C, Hp * Wp)  # (B, 3, Hp*Wp)
    oy = torch.randint(0, 2 * padding + 1, (B, 1), generator=generator, device=dev)
    ox = torch.randint(0, 2 * padding + 1, (B, 1), generator=generator, device=dev)
    flip = torch.rand(B, 1, generator=generator, device=dev) < 0.5
    ar_h = torch.arange(H, device=dev)
    ar_w = torch.arange(W, device=dev)
    rows = oy + ar_h  # (B, H)
    cols = ox + torch.where(flip, W - 1 - ar_w, ar_w)  # (B, W)  flipped columns read backwards
    flat = (rows[:, :, None] * Wp + cols[:, None, :]).view(B, 1, H * W)  # (B, 1, H*W)
    return padded.gather(2, flat.expand(B, C, H * W)).view(B, C, H, W)  # one gather


def channel_stats(mean, std, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std as (1, 3, 1, 1) tensors on ``device``."""
    m = torch.as_tensor(mean, device=device, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.as_tensor(std, device=device, dtype=torch.float32).view(1, 3, 1, 1)
    return m, s


def normalize(x: torch.Tensor, mean, std, dtype=torch.float32) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> (x / 255 - mean) / std. ``mean``/``std``: tuples or tensors."""
    m, s = channel_stats(mean, std, x.device)
    return ((x.float() / 255.0 - m) / s).to(dtype)


class DeviceLoader:
    """Batches from a dataset that lives on the training device; augmentation on the device.

    Each epoch reseeds from ``seed`` and the epoch number, so a run resumed at epoch e sees
    exactly the batches an uninterrupted run sees.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, mean, std, *,
                 device: torch.device | str = "cpu", train: bool = True, seed: int = 0,
                 drop_last: bool | None = None, channels_last: bool = False):
        self.device = torch.device(device)
        self.x = x.to(self.device)  # (N, 3, 32, 32) uint8, resident
        self.y = y.to(self.device)  # (N,)
        self.batch_size = batch_size
        # built once: a per-batch host-to-device copy could stall the CUDA stream
        self.mean, self.std = channel_stats(mean, std, self.device)
        self.train = train
        self.seed = seed
        self.drop_last = train if drop_last is None else drop_last
        self.channels_last = channels_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        """Full batches, plus the last partial one unless ``drop_last``. A partial batch of
        a single image is always dropped when training: BatchNorm cannot normalise it."""
        n = len(self.y)
        full, rest = divmod(n, self.batch_size)
        keep = rest > 1 or (rest == 1 and not self.train)
        return full if self.drop_last or not keep else full + 1

    def __iter__(self):
        n = len(self.y)
        g = torch.Generator(device=self.device)
        g.manual_seed(self.seed * 100_003 + self.epoch)
        order = (torch.randperm(n, generator=g, device=self.device) if self.train
                 else torch.arange(n, device=self.device))
        for i in range(len(self)):
            idx = order[i * self.batch_size: (i + 1) * self.batch_size]
            xb = self.x[idx]  # (B, 3, 32, 32) uint8
            if self.train:
                xb = random_crop_flip(xb, g)
            xb = normalize(xb, self.mean, self.std)
            if self.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, self.y[idx]


class _UInt8Dataset(torch.utils.data.Dataset):
    """uint8 CHW images served as PIL images through torchvision transforms (as CIFAR10 does)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform):
        self.x = x.permute(0, 2, 3, 1).contiguous().numpy()  # (N, 32, 32, 3) HWC for PIL
        self.y = y.tolist()
        self.transform = transform

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.x[i])), self.y[i]


def reference_loader(x: torch.Tensor, y: torch.Tensor, batch_size: int, mean, std, *,
                     train: bool = True, num_workers: int | None = None,
                     pin_memory: bool = False, seed: int = 0) -> torch.utils.data.DataLoader:
    """The classic pipeline: Dataset + torchvision transforms + DataLoader workers."""
    from torchvision import transforms as T

    tf = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] if train else []
    tf += [T.ToTensor(), T.Normalize(mean, std)]
    workers = min(8, os.cpu_count() or 1) if num_workers is None else num_workers
    return torch.utils.data.DataLoader(
        _UInt8Dataset(x, y, T.Compose(tf)), batch_size=batch_size, shuffle=train,
        drop_last=train, num_workers=workers, pin_memory=pin_memory,
        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(seed),
    )
