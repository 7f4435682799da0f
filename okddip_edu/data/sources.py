"""Where images come from: CIFAR-10/100 through torchvision, the ``cifar10-5k`` subset, and
how a config picks one (:func:`load`).

- ``cifar10``, ``cifar100``: torchvision, downloaded into the data root (``$OKDDIP_DATA``
  or ``./data``); validation = the official 10,000-image test set.
- ``cifar10-5k``: the first 1,017 images of each of the five CIFAR-10 training batches
  (torchvision indices [0:1017] + [10000:11017] + ... + [40000:41017]): the ``.npz`` named
  by the config or ``$OKDDIP_CIFAR10_5K``, else cut from CIFAR-10 (downloaded if needed)
  and cached in the data root; :mod:`.subset` says how.

Every loader returns uint8 images (N, 3, 32, 32) and int64 labels (N,).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from . import subset
from .splits import Splits, apply_subset, stratified_holdout, synthetic
from .subset import CIFAR10_CLASSES, SUBSET_PER_BATCH, DataUnavailableError

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)

# sha256 of the published subset file, cifar10_train_prefix.npz (its content: subset.py).
SUBSET_SHA256 = "35c04aa53dfa5ee67d486b3f282df30c58716c2c9f7c8d7cfe7af057c26eaad1"
ENV_DATA = "OKDDIP_DATA"


def subset_indices() -> np.ndarray:
    """The 5,085 torchvision CIFAR-10 training indices that make ``cifar10-5k``."""
    return np.concatenate([np.arange(b * 10000, b * 10000 + SUBSET_PER_BATCH) for b in range(5)])


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder: ``root``, else ``$OKDDIP_DATA``, else ``./data`` (made absolute)."""
    return Path(root or os.environ.get(ENV_DATA) or "./data").expanduser().absolute()


def _from_hwc(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))  # (N, 3, H, W)


def _torchvision_cifar(name: str, root: Path, train: bool, download: bool):
    from torchvision import datasets

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    return cls(str(root), train=train, download=download)


_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


def _download_help(name: str, root: Path, err: Exception) -> DataUnavailableError:
    archive = "cifar-10-python.tar.gz" if name == "cifar10" else "cifar-100-python.tar.gz"
    return DataUnavailableError(
        f"{name} is not in {root} and could not be downloaded ({type(err).__name__}: {err}). "
        f"Download {archive} from https://www.cs.toronto.edu/~kriz/cifar.html and extract it "
        f"into {root} (or set ${ENV_DATA} to the folder that holds it)."
    )


def load_cifar(name: str, root: Path, download: bool = True) -> Splits:
    """CIFAR-10 or CIFAR-100 through torchvision; validation = the official test set.
    With ``$OKDDIP_OFFLINE`` set nothing is downloaded (and no folder is made)."""
    if subset.offline():
        if not (root / _FOLDERS[name]).is_dir():
            raise DataUnavailableError(
                f"{name} is not in {root} and ${subset.ENV_OFFLINE} is set, so it is not "
                f"downloaded; unset it, or put the extracted {_FOLDERS[name]} folder there")
        download = False
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
            if not hasattr(d, "files"):  # a bare .npy array, not an archive of named arrays
                raise ValueError("it holds one array, not named arrays x and y")
            x, y = d["x"], d["y"]
    except KeyError as err:
        raise DataUnavailableError(f"{path} must hold arrays 'x' and 'y' (missing {err})") from err
    except Exception as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        if "allow_pickle" in first:
            first = "it holds pickled Python objects, which are not loaded (they can run code)"
        raise DataUnavailableError(f"{path} is not a readable .npz file: {first}") from None
    for name, value in (("x", x), ("y", y)):
        if not isinstance(value, np.ndarray):
            raise DataUnavailableError(f"{path}: member {name!r} is not a numpy array (.npy); "
                                       "save the file with numpy.savez(path, x=..., y=...)")
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (3, 32, 32):
        raise DataUnavailableError(f"{path}: 'x' must be uint8 of shape (N, 3, 32, 32), "
                                   f"got {x.dtype} {x.shape}")
    if y.shape != (x.shape[0],):
        raise DataUnavailableError(f"{path}: 'y' must have shape ({x.shape[0]},), got {y.shape}")
    if x.shape[0] == 0:
        raise DataUnavailableError(f"{path} holds no images")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataUnavailableError(f"{path}: 'y' must hold integer class labels, got {y.dtype}")
    return torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64))


def load_subset_images(root: Path, npz: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The 5,085 ``cifar10-5k`` images: found, or cut from CIFAR-10 (:mod:`.subset`)."""
    path = subset.locate(root, npz)
    x, y = load_npz(path)
    if x.shape[0] != len(subset_indices()):
        raise DataUnavailableError(f"{path} holds {x.shape[0]} images; cifar10-5k has "
                                   f"{len(subset_indices())}")
    return x, y


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
