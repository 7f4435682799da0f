"""``cifar10-5k``: the exact subset, cut from CIFAR-10 on first use, cached and verified.

Definition: the first 1,017 images of each of the five official training batches
(``data_batch_1`` ... ``data_batch_5`` of the python version), in order, with their labels;
with torchvision's ``CIFAR10(train=True)``, indices [0:1017] + [10000:11017] + ... +
[40000:41017]. Anyone with CIFAR-10 rebuilds the same 5,085 images, checked by a digest of
their content:

    sha256( x.tobytes() || y.tobytes() )      x: uint8 (5085, 3, 32, 32), y: int64 (5085,)

Where :func:`locate` finds it, first match wins:

1. the ``.npz`` a config names (``--npz``), then ``$OKDDIP_CIFAR10_5K``;
2. ``<data root>/cifar10_train_prefix.npz``, the cached cut;
3. CIFAR-10's python batches in ``<data root>/cifar-10-batches-py``: cut, then cached as 2;
4. a download of CIFAR-10 through torchvision (170 MB, with a progress bar) into the data
   root, then 3, unless ``$OKDDIP_OFFLINE`` is set.

When none works it raises one line that names ``$OKDDIP_CIFAR10_5K``, the data folder and the
command that fixes it: ``okddip-edu data cifar10-5k`` (where there is network).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np

SUBSET_PER_BATCH = 1017  # images taken from the start of each training batch
SUBSET_FILE = "cifar10_train_prefix.npz"  # the cached cut's name in the data root
CONTENT_SHA256 = "92548b779a55bc1ea3af7b61eb6c91b4ccf3667252c977c867139fdde0d604f8"
ENV_NPZ = "OKDDIP_CIFAR10_5K"
ENV_OFFLINE = "OKDDIP_OFFLINE"
BATCHES = "cifar-10-batches-py"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")


class DataUnavailableError(RuntimeError):
    """The data files are not on disk and cannot be downloaded; the message says what to do."""


def content_digest(x: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(x, dtype=np.uint8).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    return h.hexdigest()


def cut(batches_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The subset from the official python batches: x uint8 (5085, 3, 32, 32), y int64."""
    xs, ys = [], []
    for b in range(1, 6):
        path = batches_dir / f"data_batch_{b}"
        try:
            with open(path, "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            images = np.asarray(batch[b"data"], dtype=np.uint8)  # (10000, 3072) CHW rows
            labels = np.asarray(batch[b"labels"], dtype=np.int64)  # (10000,)
        except (OSError, pickle.UnpicklingError, KeyError, EOFError, ValueError) as err:
            raise DataUnavailableError(
                f"{path} is not a readable CIFAR-10 batch ({type(err).__name__}: {err}); delete "
                f"{batches_dir} and run: okddip-edu data cifar10-5k") from err
        xs.append(images[:SUBSET_PER_BATCH].reshape(-1, 3, 32, 32))
        ys.append(labels[:SUBSET_PER_BATCH])
    return np.concatenate(xs), np.concatenate(ys)


def write(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    """The subset as an .npz (x, y, classes), written beside and renamed: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, x=x, y=y, classes=np.array(CIFAR10_CLASSES))
    os.replace(tmp, path)
    return path


def download_cifar10(root: Path) -> None:
    """CIFAR-10's python version into ``root`` through torchvision (checksummed, with a bar)."""
    from torchvision import datasets

    datasets.CIFAR10(str(root), train=True, download=True)


def offline() -> bool:
    return os.environ.get(ENV_OFFLINE, "").strip().lower() not in ("", "0", "false", "no")


def _not_found(root: Path, why: str) -> DataUnavailableError:
    return DataUnavailableError(
        f"cifar10-5k is not in {root} ({why}); fix: run `okddip-edu data cifar10-5k` where "
        f"there is network (it downloads cifar-10-python.tar.gz, 170 MB, into {root} and "
        f"cuts the subset), or set ${ENV_NPZ} (or --npz) to a copy of {SUBSET_FILE}")


def build(root: Path, download: bool = True) -> Path:
    """Cut the subset from CIFAR-10 in ``root`` (downloading it first if allowed and needed),
    verify it, and cache it as ``root / SUBSET_FILE``."""
    batches = root / BATCHES
    if not (batches / "data_batch_5").is_file():
        if not download or offline():
            reason = f"${ENV_OFFLINE} is set" if offline() else "download not allowed"
            raise _not_found(root, f"no CIFAR-10 batches there and {reason}")
        try:
            download_cifar10(root)
        except Exception as err:  # no network, a proxy, a corrupt archive
            first = str(err).splitlines()[0] if str(err) else ""
            raise _not_found(root, f"CIFAR-10 could not be downloaded: {type(err).__name__}: "
                                   f"{first}") from err
    x, y = cut(batches)
    digest = content_digest(x, y)
    if digest != CONTENT_SHA256:
        raise DataUnavailableError(
            f"the subset cut from {batches} has content sha256 {digest}, not {CONTENT_SHA256}: "
            f"those are not the official CIFAR-10 batches; delete {batches} and run: okddip-edu "
            "data cifar10-5k")
    return write(root / SUBSET_FILE, x, y)


def locate(root: Path, npz: str | None = None, download: bool = True) -> Path:
    """The subset's .npz: named, cached, or cut now (see the module docstring)."""
    named = npz or os.environ.get(ENV_NPZ)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            origin = "--npz / config.npz" if npz else f"${ENV_NPZ}"
            raise DataUnavailableError(f"no such .npz file: {path} (from {origin}); point it at "
                              f"{SUBSET_FILE}, or unset it to use {root}")
        return path
    cached = root / SUBSET_FILE
    if cached.is_file():
        return cached
    return build(root, download)
