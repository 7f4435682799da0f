"""Data: CIFAR-10/100, the offline ``cifar10-5k`` subset, a synthetic set; fast batches.

Every dataset is loaded whole into memory as one uint8 tensor (N, 3, 32, 32) and labels (N,);
training batches never touch PIL.

- :mod:`~okddip_edu.data.sources`: where images come from (torchvision CIFAR-10/100, the
  ``cifar10-5k`` subset) and :func:`load`, which turns a config into :class:`Splits`;
- :mod:`~okddip_edu.data.subset`: ``cifar10-5k`` found, or cut from CIFAR-10 (downloaded if
  needed), cached and verified; :mod:`~okddip_edu.data.command`: ``okddip-edu data``;
- :mod:`~okddip_edu.data.splits`: :class:`Splits` (train / validation in memory), the fixed
  stratified hold-out of ``cifar10-5k``, the synthetic test set;
- :mod:`~okddip_edu.data.loaders`: :class:`DeviceLoader` (the dataset on the training
  device, per-sample crop and flip there) and :func:`reference_loader` (the classic
  torchvision pipeline the benchmark compares it with).
"""

from .loaders import DeviceLoader, channel_stats, normalize, random_crop_flip, reference_loader
from .sources import (CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD, ENV_DATA,
                      SUBSET_SHA256, data_root, file_sha256, load, load_cifar, load_npz,
                      load_subset_images, subset_indices)
from .splits import Splits, apply_subset, check_splits, stratified_holdout, synthetic
from .subset import (CIFAR10_CLASSES, ENV_NPZ, ENV_OFFLINE, SUBSET_PER_BATCH,
                     DataUnavailableError)

__all__ = [
    "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD", "CIFAR100_MEAN", "CIFAR100_STD",
    "ENV_DATA", "ENV_NPZ", "ENV_OFFLINE", "SUBSET_PER_BATCH", "SUBSET_SHA256",
    "DataUnavailableError", "DeviceLoader", "Splits", "apply_subset", "channel_stats",
    "check_splits",
    "data_root", "file_sha256", "load", "load_cifar", "load_npz", "load_subset_images",
    "normalize", "random_crop_flip", "reference_loader", "stratified_holdout",
    "subset_indices", "synthetic",
]
