"""Data: CIFAR-10/100, the offline ``cifar10-5k`` subset, a synthetic set; fast batches.

Every dataset is loaded whole into memory as one uint8 tensor (N, 3, 32, 32) and labels (N,).
Training batches never touch PIL: :class:`DeviceLoader` keeps the images on the training
device and draws, per sample and on that device,

    random crop 32x32 from the image zero-padded by 4 px  ->  horizontal flip (p = 1/2)
    ->  x = (x / 255 - mean) / std

which is exactly torchvision's RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor +
Normalize. :func:`reference_loader` builds that classic ``torch.utils.data`` pipeline with
torchvision transforms; the benchmark compares the two.

Datasets
--------
- ``cifar10``, ``cifar100``: torchvision, downloaded into the data root (``$OKDDIP_DATA``
  or ``./data``); validation = the official 10,000-image test set.
- ``cifar10-5k``: the first 1,017 images of each of the five CIFAR-10 training batches
  (torchvision indices [0:1017] + [10000:11017] + ... + [40000:41017]); built from
  torchvision's CIFAR-10 when it is on disk, otherwise read from the ``.npz`` named by the
  config or ``$OKDDIP_CIFAR10_5K``. ``val_size`` images (stratified, fixed) are held out.
- ``synthetic``: tiny, learnable, generated; for unit tests only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")

# cifar10-5k: 1,017 images from the start of each of the five training batches.
SUBSET_PER_BATCH = 1017
SUBSET_SHA256 = "35c04aa53dfa5ee67d486b3f282df30c58716c2c9f7c8d7cfe7af057c26eaad1"
ENV_DATA = "OKDDIP_DATA"
ENV_NPZ = "OKDDIP_CIFAR10_5K"


class DataUnavailableError(RuntimeError):
    """The data files are not on disk and cannot be downloaded; the message says what to do."""


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


def subset_indices() -> np.ndarray:
    """The 5,085 torchvision CIFAR-10 training indices that make ``cifar10-5k``."""
    return np.concatenate([np.arange(b * 10000, b * 10000 + SUBSET_PER_BATCH) for b in range(5)])


def data_root(root: str | os.PathLike | None = None) -> Path:
    return Path(root or os.environ.get(ENV_DATA) or "./data").expanduser()


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


def _from_hwc(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))  # (N, 3, H, W)


def _torchvision_cifar(name: str, root: Path, train: bool, download: bool):
    from torchvision import datasets

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    return cls(str(root), train=train, download=download)


def _download_help(name: str, root: Path, err: Exception) -> DataUnavailableError:
    archive = "cifar-10-python.tar.gz" if name == "cifar10" else "cifar-100-python.tar.gz"
    return DataUnavailableError(
        f"{name} is not in {root} and could not be downloaded ({type(err).__name__}: {err}). "
        f"Download {archive} from https://www.cs.toronto.edu/~kriz/cifar.html and extract it "
        f"into {root} (or set ${ENV_DATA} to the folder that holds it)."
    )


def load_cifar(name: str, root: Path, download: bool = True) -> Splits:
    """CIFAR-10 or CIFAR-100 through torchvision; validation = the official test set."""
    try:
        train = _torchvision_cifar(name, root, True, download)
        test = _torchvision_cifar(name, root, False, download)
    except Exception as err:  # network errors, missing files, corrupt archives
        raise _download_help(name, root, err) from err
    c10 = name == "cifar10"
    return Splits(
        name, _from_hwc(train.data), torch.tensor(train.targets), _from_hwc(test.data),
        torch.tensor(test.targets), 10 if c10 else 100, tuple(train.classes),
        CIFAR10_MEAN if c10 else CIFAR100_MEAN, CIFAR10_STD if c10 else CIFAR100_STD,
    )


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_npz(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``x`` (uint8, N x 3 x 32 x 32) and labels ``y`` from an ``.npz`` file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataUnavailableError(f"no such .npz file: {path}")
    try:
        with np.load(path) as d:
            x, y = d["x"], d["y"]
    except KeyError as err:
        raise DataUnavailableError(f"{path} must hold arrays 'x' and 'y' (missing {err})") from err
    except Exception as err:
        raise DataUnavailableError(f"{path} is not a readable .npz file: {err}") from err
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (3, 32, 32):
        raise DataUnavailableError(f"{path}: 'x' must be uint8 of shape (N, 3, 32, 32), "
                                   f"got {x.dtype} {x.shape}")
    if y.shape != (x.shape[0],):
        raise DataUnavailableError(f"{path}: 'y' must have shape ({x.shape[0]},), got {y.shape}")
    return torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64))


def load_subset_images(root: Path, npz: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The 5,085 ``cifar10-5k`` images: from torchvision's CIFAR-10 if on disk, else the npz."""
    path = npz or os.environ.get(ENV_NPZ)
    if (root / "cifar-10-batches-py").is_dir():
        try:
            train = _torchvision_cifar("cifar10", root, True, download=False)
            idx = subset_indices()
            return _from_hwc(train.data[idx]), torch.tensor(train.targets)[idx]
        except Exception as err:  # a partial or corrupt extraction
            if not path:
                raise _download_help("cifar10", root, err) from err
    if not path:
        raise DataUnavailableError(
            f"cifar10-5k needs CIFAR-10 in {root} (run once with --dataset cifar10 to download "
            f"it) or the subset file: pass --npz PATH or set ${ENV_NPZ} to "
            "cifar10_train_prefix.npz")
    if not Path(path).expanduser().is_file():
        origin = "--npz / config.npz" if npz else f"${ENV_NPZ}"
        raise DataUnavailableError(f"no such .npz file: {path} (from {origin}); point it at "
                                   "cifar10_train_prefix.npz")
    x, y = load_npz(path)
    if x.shape[0] != len(subset_indices()):
        raise DataUnavailableError(f"{path} holds {x.shape[0]} images; cifar10-5k has "
                                   f"{len(subset_indices())}")
    return x, y


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


def load(cfg) -> Splits:
    """The dataset a config asks for, split into train and validation."""
    root = data_root(cfg.data_root)
    if cfg.dataset in ("cifar10", "cifar100"):
        splits = load_cifar(cfg.dataset, root)
    elif cfg.dataset == "cifar10-5k":
        x, y = load_subset_images(root, cfg.npz)
        val = stratified_holdout(y, cfg.val_size)
        splits = Splits("cifar10-5k", x[~val], y[~val], x[val], y[val], 10, CIFAR10_CLASSES,
                        CIFAR10_MEAN, CIFAR10_STD)
    elif cfg.dataset == "synthetic":
        splits = synthetic()
    else:
        raise ValueError(f"dataset={cfg.dataset!r} is not valid; choose one of: cifar10, "
                         "cifar100, cifar10-5k, synthetic")
    return apply_subset(splits, cfg.train_subset)


def apply_subset(splits: Splits, n: int | None) -> Splits:
    """Keep only the first ``n`` training images (all when ``n`` is None)."""
    if n is None or n >= len(splits.train_y):
        return splits
    return dataclasses.replace(splits, train_x=splits.train_x[:n], train_y=splits.train_y[:n])


# Batches --------------------------------------------------------------------------------
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
