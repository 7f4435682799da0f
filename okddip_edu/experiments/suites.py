"""The suites: the paper's comparisons and ablations as variants of one base config.

A suite is a list of variants, each a few config overrides of one base config (OKDDip with
the preset's settings); :func:`expand` makes one :class:`Job` per variant and seed. A run
directory is named by :func:`run_key`, a digest of what the config computes, so identical
runs are shared between suites (OKDDip's default variant appears in every ablation and is
trained once per seed) and a finished run is found again by any worker; :func:`status`
says where a job stands.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config, preset
from .schema import read_table


@dataclass(frozen=True)
class Variant:
    name: str  # label in tables and figures
    overrides: dict[str, Any] = field(default_factory=dict)  # config fields changed


SUITES: dict[str, list[Variant]] = {
    # OKDDip against the methods it is compared with (section 7 of the spec).
    "methods": [
        Variant("baseline", {"method": "baseline"}),
        Variant("independent", {"method": "independent"}),
        Variant("dml", {"method": "dml"}),
        Variant("cl-ilr", {"method": "cl-ilr"}),
        Variant("one", {"method": "one"}),
        Variant("okddip", {}),
    ],
    # First level: how each peer's target is formed.
    "aggregation": [
        Variant("attention", {}),
        Variant("mean", {"aggregation": "mean"}),
        Variant("gate", {"aggregation": "gate"}),
        Variant("none", {"aggregation": "none"}),
    ],
    # Second level: the leader learns from the peer ensemble, or only from labels.
    "leader": [
        Variant("on", {}),
        Variant("off", {"second_level": False}),
    ],
    # Number of auxiliary peers m (n = m + 1 branches with the leader).
    "peers": [Variant(f"m={m}", {"branches": m + 1}) for m in (2, 3, 4, 5)],
    "temperature": [Variant(f"T={t}", {"temperature": float(t)}) for t in (1, 2, 3, 4, 5)],
    # Stop-gradient at the targets (the released code does not detach).
    "detach": [
        Variant("no-detach", {}),
        Variant("detach", {"detach": True}),
    ],
    # A peer's own logits in its target (the released code) or not.
    "mask_diagonal": [
        Variant("no-mask", {}),
        Variant("mask", {"mask_diagonal": True}),
    ],
    "layout": [
        Variant("branch", {}),
        Variant("network", {"layout": "network"}),
    ],
}
DEFAULT_SEEDS = {"methods": 3}  # every other suite: 2

# Config fields that do not change what a run computes (excluded from its identity).
_NOT_IDENTITY = {"device", "eval_batch_size", "data_root", "npz", "preset"}
# Fields added after results were first recorded: part of a run's identity only when they
# differ from what those runs computed, so existing run directories keep their names.
# ``ramp`` counts by its resolved value: every method used to ramp, so a DML run without it
# is a new run.
_IDENTITY_IF_CHANGED = {
    "cpu_amp": False, "drop_last": True, "init": "released", "dropout": None,
    "vgg_feature": "conv", "densenet_leader_bn": False, "densenet_shared_block": False,
    "leader_in_peers": False, "released_diversity": False, "ramp": True,
}


@dataclass
class Job:
    suite: str
    variant: str
    seed: int
    config: Config
    run_dir: Path


def run_key(cfg: Config) -> str:
    """A short, stable name for what a config computes (same config -> same directory)."""
    fields = {**cfg.to_dict(), "ramp": cfg.resolved_ramp}
    ident = {k: v for k, v in fields.items() if k not in _NOT_IDENTITY
             and not (k in _IDENTITY_IF_CHANGED and v == _IDENTITY_IF_CHANGED[k])}
    digest = hashlib.sha1(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:10]
    return f"{cfg.method}-{cfg.arch}-{cfg.dataset}-seed{cfg.seed}-{digest}"


def expand(suite: str, preset_name: str = "quick", seeds: int | None = None,
           out: str | Path = "runs/suites", **base: Any) -> list[Job]:
    """The grid of a suite: one job per variant and seed (``base`` overrides the preset)."""
    if suite not in SUITES:
        raise ValueError(f"suite={suite!r} is not valid; choose one of: {', '.join(SUITES)}, all")
    n = seeds if seeds is not None else DEFAULT_SEEDS.get(suite, 2)
    if n < 1:
        raise ValueError(f"seeds={n} is not valid; it must be >= 1")
    base = {k: v for k, v in base.items() if v is not None}
    jobs = []
    for seed in range(n):
        for v in SUITES[suite]:
            cfg = preset(preset_name, **{"method": "okddip", **base, **v.overrides, "seed": seed})
            jobs.append(Job(suite, v.name, seed, cfg, Path(out) / "runs" / run_key(cfg)))
    return jobs


def recorded_runs(out: str | Path, log=print, set_aside: bool = True) -> set[str]:
    """Runs already in ``out/results.csv`` (a results table carried from another machine),
    read strictly (:func:`.schema.read_table`: a row that does not fit is set aside once)."""
    path = Path(out) / "results.csv"
    if not path.exists():
        return set()
    return set(read_table(path, log, set_aside)["run"])


def status(job: Job, recorded: set[str] = frozenset()) -> str:
    if (job.run_dir / "final.json").exists():
        return "done"
    if (job.run_dir / "checkpoint.pt").exists():
        return "partial"
    if job.run_dir.name in recorded:
        return "recorded"  # finished elsewhere; its row is kept in results.csv
    return "missing"
