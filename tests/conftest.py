"""Shared test fixtures.

Each fixture is its own small function; hooks for other test kinds go in their own section.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


# --- data fixtures ---------------------------------------------------------------------
def _subset_npz_path() -> Path | None:
    """The offline cifar10-5k file: $OKDDIP_CIFAR10_5K, else ../shared/data/ (as make test)."""
    given = os.environ.get("OKDDIP_CIFAR10_5K")
    if given:
        return Path(given) if Path(given).is_file() else None
    default = ROOT.parent / "shared" / "data" / "cifar10_train_prefix.npz"
    return default if default.is_file() else None


@pytest.fixture(scope="session")
def cifar10_5k_path() -> Path:
    """Path of the cifar10-5k npz; skips when absent. Changes no environment variable."""
    path = _subset_npz_path()
    if path is None:
        pytest.skip("cifar10-5k subset not available (set OKDDIP_CIFAR10_5K)")
    return path


@pytest.fixture
def cifar10_5k(cifar10_5k_path, monkeypatch) -> Path:
    """Path of the cifar10-5k npz, exported as $OKDDIP_CIFAR10_5K for this test."""
    monkeypatch.setenv("OKDDIP_CIFAR10_5K", str(cifar10_5k_path))
    return cifar10_5k_path


@pytest.fixture
def no_data(monkeypatch, tmp_path) -> Path:
    """No data anywhere: $OKDDIP_CIFAR10_5K unset, an empty data root, no downloads;
    returns that root."""
    root = tmp_path / "empty-data-root"
    root.mkdir()
    monkeypatch.delenv("OKDDIP_CIFAR10_5K", raising=False)
    monkeypatch.setenv("OKDDIP_DATA", str(root))
    monkeypatch.setenv("OKDDIP_OFFLINE", "1")  # never the network in tests
    monkeypatch.chdir(tmp_path)
    return root


# --- execution fixtures ----------------------------------------------------------------
@pytest.fixture
def one_thread():
    """One torch thread: tiny models run fastest on it, and on a shared 2-core machine two
    threads can wait seconds on each other. Test modules opt in with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
