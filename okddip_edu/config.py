"""Run configuration: one `@dataclass`, validated when built, plus three presets.

A config is plain data. Everything a run needs to be repeated is in it, so it is written
next to every run as JSON and read back by `evaluate`, `resume` and the experiment runner.

>>> cfg = preset("quick", method="dml", seed=1)
>>> cfg.epochs, cfg.dataset
(12, 'cifar10-5k')

Presets
-------
- ``paper``: the spec's CIFAR setting: SGD Nesterov lr 0.1, weight decay 5e-4, batch 128,
  300 epochs, lr x0.1 at epochs 150 and 225, T = 3, ramp-up 80, ResNet-32 on CIFAR-100.
- ``quick``: a real run on the offline ``cifar10-5k`` subset that ends in a few minutes on
  2 CPU cores (ResNet-8, cosine schedule, ramp-up scaled to the short run). It drops the
  last partial batch, as its committed results were trained.
- ``course``: where the course's comparisons are decided: the first 2,000 training images
  of ``cifar10-5k``, ResNet-8, 60 epochs (ramp-up 16, the paper's 80 of 300), long enough
  for a single network to overfit its data; about 4 minutes a run on one CPU core. The
  pilot that chose it: ``tools/pilot.py`` and ``assets/results-course/PROVENANCE.md``.
- ``smoke``: seconds; for tests and CI.

Defaults follow the authors' released code; every place where we differ from it, or where
the released code differs between its own scripts, is a field (``ramp``, ``init``,
``dropout``, ``vgg_feature``, ``densenet_*``, ``leader_in_peers``, ``drop_last``,
``released_diversity``; the README's fidelity table lists them).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

# The choices live in constants.py (shared with validation.py, which must not import this
# module); they are re-exported here, so `from okddip_edu.config import ARCHITECTURES` works.
from .constants import (AGGREGATE_SPACES, AGGREGATIONS, ARCHITECTURES,  # noqa: F401
                        DATASETS, DEFAULT_MILESTONES, DEVICES, DML_TARGETS, INITS, LAYOUTS,
                        METHODS, PRESETS, SCHEDULES, VGG_FEATURES)
from .validation import validate

# Methods whose released script does not ramp its distillation up (train_DML.py, train_kd.py).
UNRAMPED = ("dml", "kd")

# The layout each method is defined with in the paper (section 7 of the spec).
DEFAULT_LAYOUT = {
    "baseline": "single", "independent": "branch", "dml": "network", "cl-ilr": "branch",
    "one": "branch", "okddip": "branch", "kd": "single",
}


@dataclass
class Config:
    # --- data ---
    dataset: str = "cifar10-5k"  # one of DATASETS
    data_root: str | None = None  # torchvision download folder; None: $OKDDIP_DATA or ./data
    npz: str | None = None  # cifar10-5k .npz path; None: $OKDDIP_CIFAR10_5K, then torchvision files
    val_size: int = 1000  # cifar10-5k: images held out for validation (stratified, fixed)
    train_subset: int | None = None  # use only the first N training images (None: all)
    drop_last: bool = False  # drop the last partial training batch (released code: keeps it)
    # --- model ---
    arch: str = "resnet32"  # one of ARCHITECTURES
    width: int = 16  # ResNet/WRN base width (16 is the paper's); smaller is faster on CPU
    layout: str | None = None  # single | branch | network; None: the method's own layout
    branches: int = 4  # n = m + 1 branches in all (OKDDip: m auxiliary peers + 1 leader)
    init: str = "released"  # released (each network as the released code) | kaiming-fan-out
    dropout: float | None = None  # VGG MLP dropout; None: released (0.5 branch layout, else 0)
    vgg_feature: str = "conv"  # VGG feature h: conv (block 5 output, released) | mlp (after MLP)
    densenet_leader_bn: bool = False  # DenseNet OKDDip leader: final BN+ReLU (released: no)
    densenet_shared_block: bool = False  # DenseNet: all branches share one dense3 (released bug)
    # --- method ---
    method: str = "okddip"  # one of METHODS
    temperature: float = 3.0  # T of every distillation term
    alpha: float = 1.0  # weight of the distillation terms
    rampup: int = 80  # L: epochs of the ramp-up w(e) = exp(-5 (1 - min(e, L)/L)^2); 0: none
    ramp: bool | None = None  # distillation x w(e); None: as released (dml, kd: no; others: yes)
    detach: bool = False  # stop the gradient at every distillation target (released code: no)
    aggregation: str = "attention"  # OKDDip first level: attention | mean | gate | none
    second_level: bool = True  # OKDDip: the leader learns from the peer ensemble
    mask_diagonal: bool = False  # OKDDip attention: a peer is excluded from its own target
    leader_in_peers: bool = False  # OKDDip: leader in the peer set (released DenseNet bug)
    aggregate: str = "logits"  # OKDDip: aggregate peer logits (released code) or probs
    attention_factor: int = 8  # W_q, W_k project d -> d / factor
    dml_target: str = "mean-logits"  # DML: mean of others' logits | pairwise-kl (paper)
    released_diversity: bool = False  # independent/cl-ilr/one: diversity of branches 0..n-2
    teacher: str | None = None  # kd: run directory of a trained teacher
    # --- optimisation ---
    epochs: int = 300  # training epochs
    batch_size: int = 128  # training batch size
    lr: float = 0.1  # initial learning rate
    momentum: float = 0.9  # SGD momentum (Nesterov)
    weight_decay: float = 5e-4  # L2 on all parameters
    schedule: str = "multistep"  # multistep | cosine
    milestones: tuple[int, ...] = DEFAULT_MILESTONES  # multistep: epochs where lr is multiplied by gamma
    gamma: float = 0.1  # multistep: lr factor at each milestone
    # --- execution ---
    seed: int = 0  # seeds weights, shuffling, augmentation and dropout
    device: str = "auto"  # auto (cuda when present) | cpu | cuda
    amp: bool = True  # CUDA autocast: bf16 where native, else fp16 + grad scaling (see precision)
    channels_last: bool = True  # channels_last memory format, CPU and CUDA (faster convolutions)
    cpu_amp: bool = False  # bf16 autocast on CPU too (fast with AVX512_BF16/AMX)
    eval_batch_size: int = 500  # evaluation batch size
    preset: str | None = None  # the preset this config came from (informational)

    def __post_init__(self) -> None:
        if isinstance(self.milestones, list):
            object.__setattr__(self, "milestones", tuple(self.milestones))
        validate(self)
        object.__setattr__(self, "_ready", True)

    def __setattr__(self, name: str, value: Any) -> None:
        """Setting a field on a built config validates the result; a bad value is refused and
        the config keeps its old one."""
        if not getattr(self, "_ready", False):
            return object.__setattr__(self, name, value)
        if name not in {f.name for f in dataclasses.fields(self)}:
            raise AttributeError(f"Config has no field {name!r}")
        if name == "milestones" and isinstance(value, list):
            value = tuple(value)
        old = getattr(self, name)
        object.__setattr__(self, name, value)
        try:
            validate(self)
        except ValueError:
            object.__setattr__(self, name, old)
            raise

    # Derived values -------------------------------------------------------------------
    @property
    def resolved_layout(self) -> str:
        """The layout actually built: the field, or the method's own layout."""
        return self.layout or DEFAULT_LAYOUT[self.method]

    @property
    def resolved_ramp(self) -> bool:
        """Whether distillation is scaled by w(e): the field, or the released script's way."""
        return self.ramp if self.ramp is not None else self.method not in UNRAMPED

    @property
    def num_branches(self) -> int:
        """Branches actually built (a single network has one)."""
        return 1 if self.resolved_layout == "single" else self.branches

    def replace(self, **changes: Any) -> "Config":
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Config":
        if not isinstance(d, dict):
            raise ValueError(f"a config must be a JSON object of fields, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown config field(s) {unknown}; allowed: {sorted(known)}")
        return cls(**d)


# Presets --------------------------------------------------------------------------------
_PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(
        dataset="cifar100", arch="resnet32", width=16, epochs=300, batch_size=128, lr=0.1,
        momentum=0.9, weight_decay=5e-4, schedule="multistep", milestones=(150, 225),
        gamma=0.1, temperature=3.0, alpha=1.0, rampup=80,
    ),
    "course": dict(  # the course's evidence: 2,000 images, 60 epochs (tools/pilot.py chose it)
        dataset="cifar10-5k", arch="resnet8", width=16, train_subset=2000, epochs=60,
        batch_size=64, lr=0.05, schedule="cosine", rampup=16, temperature=3.0, alpha=1.0,
        drop_last=True,
    ),
    "quick": dict(
        dataset="cifar10-5k", arch="resnet8", width=16, epochs=12, batch_size=64, lr=0.05,
        schedule="cosine", rampup=4, temperature=3.0, alpha=1.0, drop_last=True,
    ),
    "smoke": dict(
        dataset="cifar10-5k", arch="resnet8", width=4, epochs=2, batch_size=64, lr=0.05,
        schedule="cosine", rampup=1, train_subset=256, val_size=100, eval_batch_size=100,
        drop_last=True,
    ),
}


def preset(name: str, **overrides: Any) -> Config:
    """A preset config, with any field overridden (``None`` overrides are ignored)."""
    if name not in PRESETS:
        raise ValueError(f"preset={name!r} is not valid; choose one of: {', '.join(PRESETS)}")
    fields = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown config field(s) {unknown}; allowed: {sorted(fields)}")
    values = dict(_PRESETS[name], preset=name)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Config(**values)

