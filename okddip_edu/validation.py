"""Config validation: every field checked, every combination that would be ignored refused.

One line per problem, naming the field, the value and what is allowed:

    >>> preset("quick", temperature=0)
    ValueError: temperature=0 is not valid; it must be a finite number > 0.0

:func:`validate` runs when a :class:`~okddip_edu.config.Config` is built and again whenever a
field of a built one is set. :func:`ignored_flags` tells the command line which of the flags a
user gave the chosen method would ignore (they are refused there).
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

# The choices come from constants.py, not config.py: config imports this module, so
# importing config here would close a circle. Config is named in annotations only.
from .constants import (AGGREGATE_SPACES, AGGREGATIONS, ARCHITECTURES, DATASETS,
                        DEFAULT_MILESTONES, DEVICES, DML_TARGETS, INITS, LAYOUTS, METHODS,
                        PRESETS, SCHEDULES, VGG_FEATURES)

if TYPE_CHECKING:  # never runs: type checkers only
    from .config import Config

MAX_WIDTH = 256  # ResNet-32 at width 256 is 120 M parameters; wider does not fit a GPU's step
MAX_SEED = 2**31 - 1  # seeds derived per epoch (seed x 1,000,003 + epoch) stay in int64
MAX_EPOCHS = 10_000  # 33 x the paper's 300: longer is a typo, and would train for months
FLOAT32_MAX = 3.4e38  # every real-valued field becomes a float32 in torch (largest 3.4028e38)

def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not valid; choose one of: {', '.join(allowed)}")


def _positive_int(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}={value!r} is not valid; it must be an integer >= {minimum}")


def _number(name: str, value: Any, *, low: float, high: float = math.inf,
            low_open: bool = False) -> None:
    """A real number in the range; never above :data:`FLOAT32_MAX`, since torch turns it into
    a float32 (SGD's lr and weight decay, the temperature) and would overflow."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = f"> {low}" if low_open else f">= {low}"
        upper = "" if high == math.inf else f" and <= {high}"
        raise ValueError(f"{name}={value!r} is not valid; it must be a finite number "
                         f"{bound}{upper}")
    if abs(value) > FLOAT32_MAX:
        raise ValueError(f"{name}={value!r} is not valid; it must be at most {FLOAT32_MAX:g} "
                         "(torch holds it as a float32)")


def validate(cfg: Config) -> None:
    """Raise ``ValueError`` naming the field, the bad value and what is allowed."""
    _choice("dataset", cfg.dataset, DATASETS)
    _choice("arch", cfg.arch, ARCHITECTURES)
    _choice("method", cfg.method, METHODS)
    if cfg.layout is not None:
        _choice("layout", cfg.layout, LAYOUTS)
    _choice("aggregation", cfg.aggregation, AGGREGATIONS)
    _choice("schedule", cfg.schedule, SCHEDULES)
    _choice("dml_target", cfg.dml_target, DML_TARGETS)
    _choice("aggregate", cfg.aggregate, AGGREGATE_SPACES)
    _choice("device", cfg.device, DEVICES)
    if cfg.preset is not None:
        _choice("preset", cfg.preset, PRESETS)
    _positive_int("width", cfg.width, 2)
    if cfg.width > MAX_WIDTH:
        raise ValueError(f"width={cfg.width} is not valid; it must be 2..{MAX_WIDTH} (16 is "
                         "the paper's)")
    _positive_int("epochs", cfg.epochs)
    _positive_int("batch_size", cfg.batch_size)
    _positive_int("eval_batch_size", cfg.eval_batch_size)
    _positive_int("val_size", cfg.val_size, 10)
    _positive_int("attention_factor", cfg.attention_factor)
    _positive_int("rampup", cfg.rampup, 0)
    for name in ("epochs", "rampup"):
        if getattr(cfg, name) > MAX_EPOCHS:
            raise ValueError(f"{name}={getattr(cfg, name)} is not valid; it must be at most "
                             f"{MAX_EPOCHS} (the paper trains 300 epochs)")
    for name in ("batch_size", "eval_batch_size", "val_size", "train_subset"):
        if isinstance(getattr(cfg, name), int) and getattr(cfg, name) > MAX_SEED:
            raise ValueError(f"{name}={getattr(cfg, name)} is not valid; it must be at most "
                             f"{MAX_SEED} (torch indexes images with 32 bits)")
    _positive_int("seed", cfg.seed, 0)
    if cfg.seed > MAX_SEED:
        raise ValueError(f"seed={cfg.seed} is not valid; it must be 0..{MAX_SEED}")
    if cfg.train_subset is not None:
        _positive_int("train_subset", cfg.train_subset)
    _number("temperature", cfg.temperature, low=0.0, low_open=True)
    _number("alpha", cfg.alpha, low=0.0)
    _number("lr", cfg.lr, low=0.0, low_open=True)
    _number("momentum", cfg.momentum, low=0.0, high=1.0)
    _number("weight_decay", cfg.weight_decay, low=0.0)
    _number("gamma", cfg.gamma, low=0.0, high=1.0, low_open=True)
    for name in ("amp", "channels_last", "cpu_amp", "detach", "second_level", "mask_diagonal",
                 "drop_last", "densenet_leader_bn", "densenet_shared_block", "leader_in_peers",
                 "released_diversity"):
        value = getattr(cfg, name)
        if not isinstance(value, bool):
            raise ValueError(f"{name}={value!r} is not valid; use True or False")
    for name in ("teacher", "npz", "data_root"):
        value = getattr(cfg, name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"{name}={value!r} is not valid; it must be a path as a string, "
                             "or None")
    if cfg.ramp is not None and not isinstance(cfg.ramp, bool):
        raise ValueError(f"ramp={cfg.ramp!r} is not valid; use True, False or None (as released)")
    _choice("init", cfg.init, INITS)
    _choice("vgg_feature", cfg.vgg_feature, VGG_FEATURES)
    if cfg.dropout is not None:
        _number("dropout", cfg.dropout, low=0.0, high=0.99)
    _check_fidelity_switches(cfg)
    if not isinstance(cfg.milestones, (tuple, list)):
        raise ValueError(f"milestones={cfg.milestones!r} is not valid; give a tuple of epoch "
                         "numbers, e.g. (150, 225)")
    if not all(isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in cfg.milestones):
        raise ValueError(f"milestones={cfg.milestones!r} is not valid; use positive epoch numbers")
    if any(a >= b for a, b in zip(cfg.milestones, cfg.milestones[1:])):
        raise ValueError(f"milestones={cfg.milestones!r} is not valid; they must increase")
    _check_schedule(cfg)
    # The group: n branches, of which OKDDip uses m = n - 1 as auxiliary peers.
    layout = cfg.resolved_layout
    if layout == "single":
        if cfg.method not in ("baseline", "kd"):
            raise ValueError(f"layout='single' is not valid for method={cfg.method!r}; "
                             "a single network suits only: baseline, kd")
    else:
        if cfg.method in ("baseline", "kd"):
            raise ValueError(f"layout={layout!r} is not valid for method={cfg.method!r}; "
                             "it trains one network: use layout='single'")
        low = 3 if cfg.method == "okddip" else 2
        if isinstance(cfg.branches, bool) or not isinstance(cfg.branches, int) \
                or not low <= cfg.branches <= 9:
            what = "1 leader + 2..8 peers" if cfg.method == "okddip" else "2..9 branches"
            raise ValueError(f"branches={cfg.branches!r} is not valid for method="
                             f"{cfg.method!r}; allowed: {low}..9 ({what})")
    if cfg.method in ("cl-ilr", "one") and layout != "branch":
        raise ValueError(f"layout={layout!r} is not valid for method={cfg.method!r}; "
                         "it needs a shared trunk: use layout='branch'")
    if cfg.method == "okddip" and cfg.aggregation == "gate" and layout != "branch":
        raise ValueError("aggregation='gate' is not valid with layout='network'; "
                         "ONE's gate reads the shared trunk: use layout='branch'")
    if cfg.method == "kd" and not cfg.teacher:
        raise ValueError("teacher=None is not valid for method='kd'; give the run directory "
                         "of a trained teacher (okddip-edu train ... --out DIR)")
    if cfg.teacher is not None and cfg.method != "kd":
        raise ValueError(f"teacher={cfg.teacher!r} is not valid for method={cfg.method!r}; "
                         "only method='kd' learns from a teacher")


def _check_fidelity_switches(cfg: Config) -> None:
    """Network- and method-specific switches are errors where they would be ignored."""
    only = {  # field: (is it set?, where it applies, what applies)
        "dropout": (cfg.dropout is not None, cfg.arch == "vgg16", "arch='vgg16'"),
        "vgg_feature": (cfg.vgg_feature != "conv", cfg.arch == "vgg16", "arch='vgg16'"),
        "densenet_shared_block": (cfg.densenet_shared_block, cfg.arch == "densenet40-12"
                                  and cfg.resolved_layout == "branch",
                                  "arch='densenet40-12' with layout='branch'"),
        "densenet_leader_bn": (cfg.densenet_leader_bn, cfg.arch == "densenet40-12"
                               and cfg.method == "okddip" and cfg.resolved_layout == "branch",
                               "arch='densenet40-12', method='okddip', layout='branch'"),
        "leader_in_peers": (cfg.leader_in_peers, cfg.method == "okddip", "method='okddip'"),
        "released_diversity": (cfg.released_diversity,
                               cfg.method in ("independent", "cl-ilr", "one"),
                               "method='independent', 'cl-ilr' or 'one'"),
    }
    for name, (given, applies, where) in only.items():
        if given and not applies:
            raise ValueError(f"{name}={getattr(cfg, name)!r} is not valid here: it applies "
                             f"only with {where} (got arch={cfg.arch!r}, method="
                             f"{cfg.method!r}, layout={cfg.resolved_layout!r})")


def _check_schedule(cfg: Config) -> None:
    """Milestones only mean something with the multistep schedule and before the last epoch."""
    if cfg.schedule == "cosine" and cfg.milestones != DEFAULT_MILESTONES:
        raise ValueError(f"milestones={cfg.milestones!r} is not valid with schedule='cosine', "
                         "which ignores them; use schedule='multistep'")
    late = [m for m in cfg.milestones if m >= cfg.epochs]
    if cfg.schedule == "multistep" and late:
        fix = (f"give milestones in 1..{cfg.epochs - 1}" if cfg.epochs > 1 else
               "a 1-epoch run has no later epoch to lower it in")
        warnings.warn(f"milestones {late} are at or after the last epoch ({cfg.epochs - 1}): "
                      f"they never lower the lr; {fix}", stacklevel=4)


# Flags a method ignores: field -> the methods it applies to. The command line refuses a
# flag the chosen method would ignore; in Python these fields simply keep their default.
DISTILLING = ("dml", "cl-ilr", "one", "okddip", "kd")
APPLIES_TO: dict[str, tuple[str, ...]] = {
    **{f: DISTILLING for f in ("temperature", "alpha", "rampup", "ramp", "detach")},
    **{f: ("okddip",) for f in ("aggregation", "second_level", "mask_diagonal", "aggregate",
                                "attention_factor", "leader_in_peers")},
    "dml_target": ("dml",),
    "teacher": ("kd",),
    "branches": ("independent", "dml", "cl-ilr", "one", "okddip"),
}


# Flags a dataset ignores: field -> the datasets that read it.
DATASET_FIELDS: dict[str, tuple[str, ...]] = {
    "npz": ("cifar10-5k",),
    "val_size": ("cifar10-5k",),
    "data_root": ("cifar10", "cifar100", "cifar10-5k"),
}


def ignored_flags(cfg: Config, given: dict[str, Any]) -> list[str]:
    """The fields in ``given`` that ``cfg``'s method (or schedule) would ignore, as lines."""
    lines = [f"--{k.replace('_', '-')} does not apply to method {cfg.method!r} (it applies to: "
             f"{', '.join(APPLIES_TO[k])})" for k in given if k in APPLIES_TO
             and cfg.method not in APPLIES_TO[k]]
    if cfg.schedule == "cosine" and ("milestones" in given or "gamma" in given):
        lines.append("--milestones and --gamma do not apply to schedule 'cosine'")
    for name, datasets in DATASET_FIELDS.items():
        if name in given and cfg.dataset not in datasets:
            lines.append(f"--{name.replace('_', '-')} does not apply to dataset "
                         f"{cfg.dataset!r} (it applies to: {', '.join(datasets)})")
    late = [m for m in cfg.milestones if m >= cfg.epochs]
    if "milestones" in given and cfg.schedule == "multistep" and late:
        lines.append(f"--milestones {late} are at or after the last epoch ({cfg.epochs - 1})")
    return lines
