"""Published numbers: what the paper and later papers report, by dataset and architecture.

    published_for("cifar100", "resnet32")          # the OKDDip paper's cell, its re-runs
    published_band("cifar100", "resnet32")         # (lowest, highest) leader top-1 %

The table is ``assets/published/published.csv`` (a copy ships in the package as
``okddip_edu/published.csv``): one row per number, with its source, schedule and role
(leader, single network, ensemble). Papers report either top-1 accuracy or top-1 error; every
row gets a ``top1_acc`` column so they compare directly::

    top1_acc = 100 - value    if metric == "top1_error"
             = value          otherwise

Names match loosely (``"ResNet-32"`` is ``"resnet32"``, ``"CIFAR-100"`` is ``"cifar100"``).
Our offline ``cifar10-5k`` subset matches nothing: no paper trains on it, and
:func:`no_published_reason` says so in a sentence.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .results import ROOT


def published_path() -> Path:
    """``assets/published/published.csv`` of the repository (or of ./ or ../), or a copy
    named ``published.csv`` inside the package."""
    candidates = [Path(__file__).resolve().parents[1] / "published.csv",  # in the package
                  ROOT / "assets" / "published" / "published.csv",
                  Path.cwd() / "assets" / "published" / "published.csv",
                  Path.cwd().parent / "assets" / "published" / "published.csv"]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError("assets/published/published.csv not found (it comes with the "
                            "okddip_edu repository, not with the installed package); looked "
                            "at: " + ", ".join(str(c) for c in candidates))


def load_published(path: str | Path | None = None) -> pd.DataFrame:
    """Every published number, with ``top1_acc`` (accuracy in %) added for comparisons."""
    df = pd.read_csv(path or published_path())
    df["top1_acc"] = np.where(df["metric"] == "top1_error", 100.0 - df["value"], df["value"])
    return df


def _norm(name: str) -> str:
    """'ResNet-32' and 'resnet32', 'CIFAR-100' and 'cifar100' compare equal."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def published_for(dataset: str, arch: str, method: str | None = None,
                  path: str | Path | None = None) -> pd.DataFrame:
    """Published numbers for a dataset and architecture (ours or the papers' names).

    ``published_for("cifar100", "resnet32")`` gives the OKDDip paper's cell, its
    reproductions and the re-runs of PCL and MCL-OKD. ``cifar10-5k`` (our offline subset)
    matches nothing: no paper trains on it. ``method``: keep one method (okddip, dml, ...).
    """
    df = load_published(path)
    keep = (df["dataset"].map(_norm) == _norm(dataset)) & (df["arch"].map(_norm) == _norm(arch))
    if method is not None:
        keep &= df["method"].map(_norm) == _norm(method)
    return df[keep].reset_index(drop=True)


def published_band(dataset: str, arch: str, method: str = "okddip", role: str = "leader",
                   path: str | Path | None = None) -> tuple[float, float] | None:
    """(lowest, highest) published top-1 accuracy of ``method``'s ``role``; None if none."""
    df = published_for(dataset, arch, method, path)
    df = df[df["role"] == role]
    return None if df.empty else (float(df["top1_acc"].min()), float(df["top1_acc"].max()))


def no_published_reason(dataset: str, arch: str, epochs: Any = None) -> str:
    """One sentence: why no published number sits beside results of this setting."""
    setting = f"{dataset} / {arch}" + (f" / {epochs} epochs" if epochs is not None else "")
    if _norm(dataset) not in ("cifar10", "cifar100"):
        why = (f"the published results use the full CIFAR-10/100 training sets (50,000 "
               f"images) and long schedules (the paper: 300 epochs), and {dataset} is not "
               "one of them")
    else:
        why = "no source listed in assets/published/published.csv reports this network"
    return (f"No published number exists for {setting}: {why}, so these runs can only be "
            "compared with each other.")
