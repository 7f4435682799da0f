"""Data: the exact cifar10-5k definition, its split, on-device augmentation, loaders and the
errors a user sees when data is missing."""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch

from okddip_edu import data
from okddip_edu.config import Config, preset
from okddip_edu.data import DataUnavailableError

PAD = 4


# Fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def quick_splits(cifar10_5k_path):
    return data.load(preset("quick", npz=str(cifar10_5k_path)))


@pytest.fixture(scope="module")
def toy():
    return data.synthetic(train=96, val=40, seed=3)


def write_npz(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    np.savez(path, x=x, y=y)
    return path


def random_images(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)


# cifar10-5k definition -------------------------------------------------------------------
def test_subset_indices_are_the_first_1017_of_each_training_batch():
    expected = list(range(0, 1017)) + list(range(10000, 11017)) + list(range(20000, 21017)) \
        + list(range(30000, 31017)) + list(range(40000, 41017))
    idx = data.subset_indices()
    assert len(idx) == 5085
    assert idx.tolist() == expected


def test_subset_file_checksum(cifar10_5k_path):
    assert data.file_sha256(cifar10_5k_path) == data.SUBSET_SHA256


def test_subset_file_contents(cifar10_5k_path):
    x, y = data.load_npz(cifar10_5k_path)
    assert x.shape == (5085, 3, 32, 32) and x.dtype == torch.uint8
    assert y.shape == (5085,) and y.dtype == torch.int64
    counts = torch.bincount(y, minlength=10)
    assert len(counts) == 10 and counts.min() >= 475 and counts.max() <= 537


def test_load_quick_from_the_environment_variable(cifar10_5k, monkeypatch, tmp_path):
    monkeypatch.setenv("OKDDIP_DATA", str(tmp_path))  # no torchvision copy: the npz is used
    s = data.load(preset("quick"))
    assert s.name == "cifar10-5k" and s.num_classes == 10
    assert s.classes == data.CIFAR10_CLASSES
    assert s.train_x.shape == (4085, 3, 32, 32) and s.val_x.shape == (1000, 3, 32, 32)
    assert s.train_x.dtype == s.val_x.dtype == torch.uint8
    assert s.train_y.dtype == s.val_y.dtype == torch.int64
    assert s.train_y.shape == (4085,) and s.val_y.shape == (1000,)
    for labels in (s.train_y, s.val_y):
        assert int(labels.min()) >= 0 and int(labels.max()) <= 9


def test_validation_split_is_stratified(quick_splits):
    assert torch.bincount(quick_splits.val_y, minlength=10).tolist() == [100] * 10


def test_split_is_deterministic_and_disjoint(quick_splits, cifar10_5k_path):
    again = data.load(preset("quick", npz=str(cifar10_5k_path)))
    for name in ("train_x", "train_y", "val_x", "val_y"):
        assert torch.equal(getattr(quick_splits, name), getattr(again, name)), name
    x, y = data.load_npz(cifar10_5k_path)
    val = data.stratified_holdout(y, 1000)
    assert int(val.sum()) == 1000
    assert torch.equal(quick_splits.val_x, x[val]) and torch.equal(quick_splits.train_x, x[~val])
    assert torch.equal(quick_splits.val_y, y[val]) and torch.equal(quick_splits.train_y, y[~val])
    # and no validation image appears among the training images
    train_rows = {bytes(r) for r in quick_splits.train_x.reshape(4085, -1).numpy()}
    assert not any(bytes(r) in train_rows for r in quick_splits.val_x.reshape(1000, -1).numpy())


def test_train_subset_takes_the_first_training_images(cifar10_5k_path, quick_splits):
    s = data.load(preset("quick", npz=str(cifar10_5k_path), train_subset=100))
    assert torch.equal(s.train_x, quick_splits.train_x[:100])
    assert torch.equal(s.val_x, quick_splits.val_x)


def test_stratified_holdout_rejects_impossible_sizes():
    y = torch.arange(20) % 4
    with pytest.raises(ValueError, match=r"val_size=20 .*allowed: 1\.\.19"):
        data.stratified_holdout(y, 20)
    mask = data.stratified_holdout(y, 8)
    assert torch.bincount(y[mask]).tolist() == [2, 2, 2, 2]


# Synthetic ---------------------------------------------------------------------------------
def test_train_subset_above_the_dataset_keeps_all_and_says_so():
    with pytest.warns(UserWarning, match=r"train_subset=600 is more than the 512 training"):
        s = data.load(Config(dataset="synthetic", train_subset=600))
    assert len(s.train_y) == 512


def test_synthetic_dataset_shapes():
    s = data.synthetic()
    assert s.name == "synthetic" and s.num_classes == 10 and len(s.classes) == 10
    assert s.train_x.shape == (512, 3, 32, 32) and s.val_x.shape == (128, 3, 32, 32)
    assert s.train_x.dtype == torch.uint8 and s.train_y.dtype == torch.int64
    assert int(s.train_y.min()) >= 0 and int(s.train_y.max()) <= 9
    assert torch.equal(s.train_x, data.synthetic().train_x)  # fixed by seed
    assert not torch.equal(s.train_x, data.synthetic(seed=1).train_x)


def test_load_synthetic_with_train_subset():
    s = data.load(Config(dataset="synthetic", train_subset=50))
    assert s.train_x.shape == (50, 3, 32, 32) and s.train_y.shape == (50,)
    assert s.val_x.shape == (128, 3, 32, 32)


# Augmentation ------------------------------------------------------------------------------
def candidates(image: torch.Tensor) -> torch.Tensor:
    """All 2 * 9 * 9 crops (zero padding 4) and flipped crops of one image (3, 32, 32)."""
    padded = torch.nn.functional.pad(image, (PAD,) * 4)
    crops = [padded[:, oy:oy + 32, ox:ox + 32] for oy in range(2 * PAD + 1)
             for ox in range(2 * PAD + 1)]
    crops += [c.flip(-1) for c in crops]
    return torch.stack(crops)  # (162, 3, 32, 32)


def test_random_crop_flip_keeps_shape_dtype_and_changes_images():
    x = random_images(16)
    out = data.random_crop_flip(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    changed = (out != x).flatten(1).any(dim=1)
    assert changed.sum() >= 14  # identity (offset 4, 4, no flip) has probability 1/162


def test_every_output_is_a_crop_or_flipped_crop_of_its_input():
    x = random_images(6, seed=1)
    seen = set()
    for seed in range(4):
        out = data.random_crop_flip(x, torch.Generator().manual_seed(seed))
        for i in range(len(x)):
            match = (candidates(x[i]) == out[i]).flatten(1).all(dim=1).nonzero().flatten()
            assert len(match) == 1, f"output {i} (seed {seed}) is not a crop of its input"
            seen.add(int(match))
    flipped = {k >= 81 for k in seen}
    assert flipped == {True, False}  # both flipped and unflipped outputs occur
    assert len(seen) > 10  # many different offsets


def test_identical_images_get_different_augmentations():
    x = random_images(1, seed=2).expand(8, 3, 32, 32).contiguous()
    out = data.random_crop_flip(x, torch.Generator().manual_seed(0))
    distinct = {bytes(o.flatten().numpy()) for o in out}
    assert len(distinct) > 1


def test_same_generator_seed_gives_the_same_output():
    x = random_images(10, seed=3)
    a = data.random_crop_flip(x, torch.Generator().manual_seed(5))
    b = data.random_crop_flip(x, torch.Generator().manual_seed(5))
    c = data.random_crop_flip(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


# DeviceLoader ----------------------------------------------------------------------------------
def test_device_loader_batches(toy):
    train = data.DeviceLoader(toy.train_x, toy.train_y, 32, toy.mean, toy.std, train=True)
    batches = list(train)
    assert len(batches) == len(train) == 3
    for x, y in batches:
        assert x.shape == (32, 3, 32, 32) and x.dtype == torch.float32
        assert y.shape == (32,) and y.dtype == torch.int64
    val = data.DeviceLoader(toy.val_x, toy.val_y, 32, toy.mean, toy.std, train=False)
    sizes = [len(y) for _, y in val]
    assert sizes == [32, 8] and len(val) == 2  # evaluation keeps the last partial batch
    assert torch.equal(torch.cat([y for _, y in val]), toy.val_y)  # in order


def test_device_loader_eval_batches_are_normalised_images(toy):
    val = data.DeviceLoader(toy.val_x, toy.val_y, 64, toy.mean, toy.std, train=False)
    x = torch.cat([xb for xb, _ in val])
    mean = torch.tensor(toy.mean).view(1, 3, 1, 1)
    std = torch.tensor(toy.std).view(1, 3, 1, 1)
    assert torch.allclose(x, (toy.val_x.float() / 255 - mean) / std, atol=1e-6)


def test_normalisation_of_the_subset_validation_split(quick_splits):
    s = quick_splits
    loader = data.DeviceLoader(s.val_x, s.val_y, 500, s.mean, s.std, train=False)
    x = torch.cat([xb for xb, _ in loader])  # (1000, 3, 32, 32)
    mean, std = x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))
    assert mean.abs().max() < 0.1, mean
    assert (std - 1).abs().max() < 0.1, std


def test_device_loader_same_seed_and_epoch_same_batches(toy):
    def batches(seed: int, epoch: int):
        loader = data.DeviceLoader(toy.train_x, toy.train_y, 32, toy.mean, toy.std,
                                   train=True, seed=seed)
        loader.set_epoch(epoch)
        return list(loader)

    a, b = batches(0, 1), batches(0, 1)
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b))
    other_epoch = batches(0, 2)
    assert not all(torch.equal(ya, yc) for (_, ya), (_, yc) in zip(a, other_epoch))
    other_seed = batches(1, 1)
    assert not all(torch.equal(xa, xc) for (xa, _), (xc, _) in zip(a, other_seed))


def test_device_loader_iterating_twice_repeats_the_epoch(toy):
    loader = data.DeviceLoader(toy.train_x, toy.train_y, 32, toy.mean, toy.std, train=True)
    first, second = list(loader), list(loader)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, second))


def test_device_loader_channels_last(toy):
    loader = data.DeviceLoader(toy.val_x, toy.val_y, 16, toy.mean, toy.std, train=False,
                               channels_last=True)
    x, _ = next(iter(loader))
    assert x.is_contiguous(memory_format=torch.channels_last)


# reference_loader ------------------------------------------------------------------------------
def test_reference_loader_yields_normalised_float_batches(toy):
    loader = data.reference_loader(toy.train_x, toy.train_y, 16, toy.mean, toy.std,
                                   train=True, num_workers=0)
    batches = list(loader)
    assert len(batches) == 96 // 16
    for x, y in batches:
        assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32
        assert y.shape == (16,) and y.dtype == torch.int64
    lo = min((0 - m) / s for m, s in zip(toy.mean, toy.std))
    hi = max((1 - m) / s for m, s in zip(toy.mean, toy.std))
    x = torch.cat([b[0] for b in batches])
    assert x.min() >= lo - 1e-5 and x.max() <= hi + 1e-5


def test_reference_loader_matches_device_loader_without_augmentation(toy):
    ref = data.reference_loader(toy.val_x, toy.val_y, 16, toy.mean, toy.std, train=False,
                                num_workers=0)
    dev = data.DeviceLoader(toy.val_x, toy.val_y, 16, toy.mean, toy.std, train=False)
    for (xr, yr), (xd, yd) in zip(ref, dev, strict=True):
        assert torch.equal(yr, yd)
        assert torch.allclose(xr, xd, atol=1e-5)


# Missing or bad data -----------------------------------------------------------------------------
def test_no_data_anywhere_says_where_to_put_it(no_data):
    with pytest.raises(DataUnavailableError) as info:
        data.load(preset("smoke"))
    message = str(info.value)
    assert str(no_data) in message  # the data root it looked in
    assert "OKDDIP_CIFAR10_5K" in message and "--npz" in message
    assert "cifar10_train_prefix.npz" in message


def test_missing_npz_names_the_path(no_data, tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(DataUnavailableError, match=r"no such \.npz file: .*nope\.npz"):
        data.load(preset("smoke", npz=str(missing)))
    with pytest.raises(DataUnavailableError, match="nope.npz"):
        data.load_npz(missing)


def test_partial_cifar_folder_gives_a_helpful_error(no_data):
    (no_data / "cifar-10-batches-py").mkdir()  # e.g. an interrupted extraction
    with pytest.raises(DataUnavailableError, match="cifar-10-python.tar.gz"):
        data.load(preset("smoke"))


@pytest.mark.parametrize("name, archive", [("cifar10", "cifar-10-python.tar.gz"),
                                           ("cifar100", "cifar-100-python.tar.gz")])
@pytest.mark.parametrize("error", [RuntimeError("Dataset not found or corrupted."),
                                   URLError("[Errno -3] Temporary failure in name resolution")],
                         ids=["RuntimeError", "URLError"])
def test_failed_download_names_the_folder_and_the_archive(monkeypatch, tmp_path, name,
                                                          archive, error):
    import torchvision.datasets

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", fail)
    monkeypatch.setattr(torchvision.datasets, "CIFAR100", fail)
    root = tmp_path / "cifar-root"
    with pytest.raises(DataUnavailableError) as info:
        data.load_cifar(name, root)
    message = str(info.value)
    assert str(root) in message and archive in message
    assert type(error).__name__ in message and "OKDDIP_DATA" in message
    with pytest.raises(DataUnavailableError, match=archive):  # through data.load as well
        data.load(Config(dataset=name, data_root=str(root)))


@pytest.mark.parametrize("x, y, pattern", [
    (np.zeros((4, 3, 32, 32), np.float32), np.zeros(4, np.int64), r"uint8 .*float32"),
    (np.zeros((4, 32, 32, 3), np.uint8), np.zeros(4, np.int64), r"\(N, 3, 32, 32\)"),
    (np.zeros((4, 3, 16, 16), np.uint8), np.zeros(4, np.int64), r"\(4, 3, 16, 16\)"),
    (np.zeros((3, 32, 32), np.uint8), np.zeros(3, np.int64), r"uint8 of shape"),
    (np.zeros((4, 3, 32, 32), np.uint8), np.zeros(5, np.int64), r"'y' must have shape \(4,\)"),
    (np.zeros((4, 3, 32, 32), np.uint8), np.zeros((4, 1), np.int64), r"got \(4, 1\)"),
], ids=["float", "channels-last", "16px", "3d", "y-length", "y-2d"])
def test_load_npz_rejects_wrong_dtype_or_shape(tmp_path, x, y, pattern):
    path = write_npz(tmp_path / "bad.npz", x, y)
    with pytest.raises(DataUnavailableError, match=pattern):
        data.load_npz(path)


def test_load_npz_rejects_missing_arrays_and_garbage(tmp_path):
    path = tmp_path / "only-x.npz"
    np.savez(path, x=np.zeros((2, 3, 32, 32), np.uint8))
    with pytest.raises(DataUnavailableError, match=r"must hold arrays 'x' and 'y'"):
        data.load_npz(path)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(DataUnavailableError, match=r"not a readable \.npz"):
        data.load_npz(garbage)


def test_load_npz_accepts_a_good_file(tmp_path):
    x = random_images(5).numpy()
    path = write_npz(tmp_path / "good.npz", x, np.arange(5, dtype=np.int32))
    tx, ty = data.load_npz(path)
    assert torch.equal(tx, torch.from_numpy(x)) and ty.dtype == torch.int64
    assert ty.tolist() == [0, 1, 2, 3, 4]


def test_subset_npz_with_the_wrong_number_of_images(no_data, tmp_path):
    path = write_npz(tmp_path / "small.npz", random_images(20).numpy(), np.zeros(20, np.int64))
    with pytest.raises(DataUnavailableError, match=r"holds 20 images; cifar10-5k has 5085"):
        data.load(preset("smoke", npz=str(path)))
