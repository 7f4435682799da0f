"""What every notebook of the course does first: pick a profile, a device, seeds, data.

    from okddip_edu import course
    nb = course.setup()                       # prints profile, device, versions, data source
    cfg = nb.config(method="okddip")          # the profile's run config, overridable

Profiles (chosen once, overridable with ``$OKDDIP_PROFILE``):

- ``full``: the default on a GPU. CIFAR-100 with ResNet-32 and the paper's optimiser, for
  ``full_epochs`` epochs (a notebook's choice; the paper runs 300).
- ``quick``: the default on a CPU. The offline ``cifar10-5k`` subset, ResNet-8, a few
  minutes on a laptop.
- ``smoke``: seconds; what the test suite runs.

``$OKDDIP_DATASET`` overrides the dataset of every profile (for example ``cifar10-5k`` on a
GPU machine without internet).

Notebooks that read the committed results of the experiment suites (02, 05, 06) never
train a suite unasked: where no results are found (:func:`okddip_edu.report.find_results`:
the clone's ``assets/results``, then the installed package's copy), they stop with
:func:`no_results`, one line naming the command that makes them and the switch that
trains a smaller version in the notebook.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import Config, preset

PROFILES = ("full", "quick", "smoke")
ENV_PROFILE = "OKDDIP_PROFILE"
ENV_DATASET = "OKDDIP_DATASET"


def default_profile() -> str:
    """``$OKDDIP_PROFILE`` if set, else ``full`` on a GPU and ``quick`` on a CPU."""
    name = os.environ.get(ENV_PROFILE, "").strip().lower()
    if name:
        if name not in PROFILES:
            raise ValueError(f"${ENV_PROFILE}={name!r} is not valid; choose one of: "
                             f"{', '.join(PROFILES)}")
        return name
    return "full" if torch.cuda.is_available() else "quick"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Notebook:
    profile: str  # full | quick | smoke
    device: str  # cuda | cpu
    seed: int  # seed of everything the notebook draws
    full_epochs: int  # epochs of a run in the full profile

    def config(self, **overrides: Any) -> Config:
        """The profile's run config with ``overrides`` (None values ignored)."""
        base: dict[str, Any] = {"seed": self.seed}
        if self.profile == "full":
            base["epochs"] = self.full_epochs
            base["milestones"] = (self.full_epochs // 2, self.full_epochs * 3 // 4)
            base["rampup"] = max(1, round(self.full_epochs * 80 / 300))
        dataset = os.environ.get(ENV_DATASET)
        if dataset:
            base["dataset"] = dataset
        base.update({k: v for k, v in overrides.items() if v is not None})
        name = {"full": "paper", "quick": "quick", "smoke": "smoke"}[self.profile]
        return preset(name, device=self.device, **base)

    def pick(self, full: Any, quick: Any, smoke: Any) -> Any:
        """A value per profile, e.g. ``nb.pick(full=64, quick=16, smoke=4)``."""
        return {"full": full, "quick": quick, "smoke": smoke}[self.profile]


def setup(profile: str | None = None, seed: int = 0, full_epochs: int = 30,
          verbose: bool = True) -> Notebook:
    """Choose the profile and device, seed everything, and say what was chosen."""
    name = profile or default_profile()
    if name not in PROFILES:
        raise ValueError(f"profile={name!r} is not valid; choose one of: {', '.join(PROFILES)}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    seed_everything(seed)
    nb = Notebook(name, device, seed, full_epochs)
    if verbose:
        from . import __version__

        cfg = nb.config()
        print(f"okddip_edu {__version__} | torch {torch.__version__} | device: {device}"
              + (f" ({torch.cuda.get_device_name(0)})" if device == "cuda" else ""))
        print(f"profile: {name} -> dataset {cfg.dataset}, {cfg.arch}, {cfg.epochs} epochs "
              f"(set ${ENV_PROFILE} to full, quick or smoke to change)")
    return nb


class ResultsMissing(RuntimeError):
    """No committed results were found, and training them here was not asked for."""


def no_results(suite: str, switch: str, directory: str | Path | None = None) -> ResultsMissing:
    """The error a notebook raises instead of training ``suite`` unasked: where it looked,
    the command that makes the results, and the notebook's ``switch`` that trains here."""
    from .report import ENV_RESULTS, results_candidates

    looked = ", ".join(str(p) for p in results_candidates(directory))
    return ResultsMissing(
        f"no results of the '{suite}' suite (results.csv) in {looked}; make them with "
        f"`okddip-edu ablate {suite} --preset quick --out runs/suites` and set "
        f"${ENV_RESULTS} to that folder's absolute path, or set {switch} = True in this "
        "cell to train a smaller version here")
