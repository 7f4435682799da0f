"""cifar10-5k builds itself: cut from CIFAR-10's python batches (here built in a temp folder,
never downloaded), cached, verified against the definition; offline, one actionable line."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from okddip_edu import data
from okddip_edu.cli import main
from okddip_edu.config import preset
from okddip_edu.data import subset

EXTRA = 40  # images after the first 1,017 of each fake batch: must not enter the cut


def write_batches(root, real_x: np.ndarray, real_y: np.ndarray) -> None:
    """CIFAR-10's python layout (``cifar-10-batches-py/data_batch_1..5``): each batch starts
    with the real subset images of that batch, then EXTRA noise images."""
    folder = root / subset.BATCHES
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    k = subset.SUBSET_PER_BATCH
    for b in range(5):
        x = np.concatenate([real_x[b * k:(b + 1) * k],
                            rng.integers(0, 256, (EXTRA, 3, 32, 32), dtype=np.uint8)])
        y = np.concatenate([real_y[b * k:(b + 1) * k], rng.integers(0, 10, EXTRA)])
        batch = {b"data": x.reshape(len(x), 3072), b"labels": y.tolist(),
                 b"batch_label": f"training batch {b + 1} of 5".encode()}
        with open(folder / f"data_batch_{b + 1}", "wb") as f:
            pickle.dump(batch, f)


@pytest.fixture
def real_subset(cifar10_5k_path):
    with np.load(cifar10_5k_path) as d:
        return d["x"], d["y"]


def test_cut_from_the_python_batches_is_the_definition(no_data, real_subset):
    write_batches(no_data, *real_subset)
    x, y = subset.cut(no_data / subset.BATCHES)
    assert x.shape == (5085, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x, real_subset[0])  # same indices, same order
    assert subset.content_digest(x, y) == subset.CONTENT_SHA256


def test_first_load_cuts_and_caches_the_subset(no_data, real_subset):
    write_batches(no_data, *real_subset)
    splits = data.load(preset("smoke"))
    assert len(splits.train_y) + len(splits.val_y) == 356  # smoke: 256 train + 100 val
    cached = no_data / subset.SUBSET_FILE
    assert cached.is_file()
    (no_data / subset.BATCHES / "data_batch_1").unlink()  # the cache is used from now on
    assert subset.locate(no_data) == cached


def test_download_when_missing_then_cut(no_data, real_subset, monkeypatch):
    monkeypatch.delenv("OKDDIP_OFFLINE")
    calls = []

    def fake_download(root):  # what torchvision leaves after a download
        calls.append(root)
        write_batches(root, *real_subset)

    monkeypatch.setattr(subset, "download_cifar10", fake_download)
    assert subset.locate(no_data) == no_data / subset.SUBSET_FILE and calls == [no_data]


def test_offline_without_data_is_one_actionable_line(no_data, monkeypatch, capsys):
    monkeypatch.delenv("OKDDIP_OFFLINE")

    def no_network(root):
        raise OSError("[Errno -2] Name or service not known")

    monkeypatch.setattr(subset, "download_cifar10", no_network)
    assert main(["train", "--preset", "smoke", "--out", str(no_data / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    line = err[0]
    for must in ("OKDDIP_CIFAR10_5K", str(no_data), "okddip-edu data cifar10-5k",
                 "could not be downloaded", "Name or service not known"):
        assert must in line, must


def test_wrong_batches_are_refused(no_data, real_subset):
    x, y = real_subset
    write_batches(no_data, x[::-1].copy(), y[::-1].copy())  # other images
    with pytest.raises(data.DataUnavailableError, match="not the official CIFAR-10 batches"):
        subset.locate(no_data)


def test_data_command_verifies_a_named_file(cifar10_5k, capsys, tmp_path):
    assert main(["data", "cifar10-5k"]) == 0
    assert "content verified" in capsys.readouterr().out
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((5085, 3, 32, 32), np.uint8), y=np.zeros(5085, np.int64))
    assert main(["data", "--npz", str(bad)]) == 2
    assert "is not cifar10-5k" in capsys.readouterr().err
    assert main(["data", "imagenet"]) == 2
    assert "choose from: cifar10-5k, cifar10, cifar100" in capsys.readouterr().err
