"""Experiment suites: the paper's comparisons and ablations as grids of configs x seeds.

    okddip-edu ablate methods --preset quick --seeds 3 --out runs/suites

A suite is a list of variants, each a few config overrides of one base config (OKDDip with
the preset's settings). The runner

- runs only what is missing: a finished run (``final.json``) is skipped, an interrupted run
  resumes from its last checkpoint, nothing is recomputed or lost;
- shares identical runs between suites: OKDDip's default variant appears in every ablation
  but is trained once per seed (run directories are named by the config's content);
- rewrites ``results.csv`` (one row per suite, variant and seed) and ``histories.csv`` (every
  epoch of every run) after each run, so a suite can be stopped at any time;
- lets several workers share one suite directory (run the same command in two terminals, or
  on two GPUs): a run being trained holds a lock file, and the other workers pass it by.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from .config import PRESETS, Config, preset


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


def recorded_runs(out: str | Path) -> set[str]:
    """Runs already in ``out/results.csv`` (a results table carried from another machine)."""
    path = Path(out) / "results.csv"
    if not path.exists():
        return set()
    return set(pd.read_csv(path, usecols=["run"])["run"])


def status(job: Job, recorded: set[str] = frozenset()) -> str:
    if (job.run_dir / "final.json").exists():
        return "done"
    if (job.run_dir / "checkpoint.pt").exists():
        return "partial"
    if job.run_dir.name in recorded:
        return "recorded"  # finished elsewhere; its row is kept in results.csv
    return "missing"


class RunLock:
    """``run_dir/.lock`` holding the owner's pid; a lock whose owner is gone is taken over."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / ".lock"
        self.held = False

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if self._owner_alive():
                    return False
                self.path.unlink(missing_ok=True)  # stale: its worker died
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            self.held = True
            return True
        return False

    def _owner_alive(self) -> bool:
        try:
            pid = int(self.path.read_text().strip() or 0)
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError, FileNotFoundError):
            return False
        except PermissionError:
            return True
        return pid != os.getpid()

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def run_suite(jobs: list[Job], out: str | Path, *, progress: bool = True,
              log=print) -> pd.DataFrame:
    """Run every job that is not finished; return the results table of all jobs."""
    from . import data
    from .engine import TrainingDiverged, fit

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    splits_cache: dict[tuple, data.Splits] = {}
    recorded = recorded_runs(out)
    todo = [j for j in jobs if status(j, recorded) not in ("done", "recorded")]
    unique = {j.run_dir: j for j in todo}
    log(f"{len(jobs)} runs in the grid, {len(jobs) - len(todo)} finished, "
        f"{len(unique)} to run")
    for i, job in enumerate(unique.values(), 1):
        if status(job) == "done":  # finished meanwhile, by this or another worker
            continue
        lock = RunLock(job.run_dir)
        if not lock.acquire():
            log(f"[{i}/{len(unique)}] {job.suite}/{job.variant} seed {job.seed}: another "
                "worker is training it; passed by")
            continue
        try:
            resume = status(job) == "partial"
            log(f"[{i}/{len(unique)}] {job.suite}/{job.variant} seed {job.seed}"
                f"{' (resuming)' if resume else ''} -> {job.run_dir}")
            key = (job.config.dataset, job.config.npz, job.config.val_size, job.config.data_root)
            if key not in splits_cache:
                splits_cache[key] = data.load(job.config.replace(train_subset=None))
            fit(job.config, job.run_dir, resume=resume, splits=splits_cache[key],
                progress=progress)
        except TrainingDiverged as err:  # one bad run must not stop the suite
            log(f"    diverged, left out of the results: {err}")
            continue
        finally:
            lock.release()
        write_tables(jobs, out)
    return write_tables(jobs, out)


def _result_row(job: Job) -> dict[str, Any]:
    summary = json.loads((job.run_dir / "final.json").read_text())
    f, b, cfg = summary["final"], summary["best"], job.config
    nan = float("nan")
    return {
        "suite": job.suite, "variant": job.variant, "seed": job.seed,
        "dataset": cfg.dataset, "arch": cfg.arch, "method": cfg.method,
        "epochs": cfg.epochs, "best_epoch": summary["best_epoch"],
        "best_top1_leader": b["top1_leader"], "final_top1_leader": f["top1_leader"],
        "final_top1_peer_mean": f["top1_peer_mean"], "final_top1_peer_best": f["top1_peer_best"],
        "final_top1_ens": f["top1_ens"], "best_top1_ens": b["top1_ens"],
        "div_l2": f.get("div_l2", nan), "div_disagree": f.get("div_disagree", nan),
        "div_kl": f.get("div_kl", nan), "div_js": f.get("div_js", nan),
        "ens_gain": f.get("ens_gain", nan), "att_diag": f.get("att_diag", nan),
        "wall_time_s": summary["wall_time_s"], "device": summary.get("device"),
        "torch": summary["versions"]["torch"], "okddip_edu": summary["versions"]["okddip_edu"],
        "run": job.run_dir.name,
    }


def write_tables(jobs: list[Job], out: str | Path) -> pd.DataFrame:
    """results.csv (finished runs of ``jobs``) and histories.csv (their epochs), merged with
    what ``out`` already holds for other suites."""
    out = Path(out)
    done = [j for j in jobs if status(j) == "done"]
    new = pd.DataFrame([_result_row(j) for j in done])
    hist = []
    for j in done:
        h = pd.read_csv(j.run_dir / "history.csv")
        h.insert(0, "suite", j.suite)
        h.insert(1, "variant", j.variant)
        h.insert(2, "seed", j.seed)
        h["run"] = j.run_dir.name
        hist.append(h)
    # A run finished elsewhere (only its rows were carried over) may be shared with a
    # suite that has no row for it yet: copy its rows under that suite's name.
    extra_rows, extra_hist = _rows_of_recorded(jobs, out)
    new = pd.concat([new, extra_rows], ignore_index=True)
    hist += extra_hist
    results = _merge(out / "results.csv", new)
    _merge(out / "histories.csv", pd.concat(hist, ignore_index=True) if hist else pd.DataFrame(),
           extra_key=("epoch",))
    return results


def _rows_of_recorded(jobs: list[Job], out: Path) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    res_path, hist_path = out / "results.csv", out / "histories.csv"
    if not res_path.exists():
        return pd.DataFrame(), []
    results = pd.read_csv(res_path)
    histories = pd.read_csv(hist_path) if hist_path.exists() else pd.DataFrame()
    have = set(zip(results["suite"], results["variant"], results["seed"]))
    rows, hist = [], []
    for j in jobs:
        if (j.suite, j.variant, j.seed) in have or status(j) == "done":
            continue
        src = results[results["run"] == j.run_dir.name]
        if src.empty:
            continue
        row = src.iloc[[0]].assign(suite=j.suite, variant=j.variant, seed=j.seed)
        rows.append(row)
        if "run" in histories:
            h = histories[histories["run"] == j.run_dir.name]
            first = h[["suite", "variant", "seed"]].drop_duplicates().head(1)
            h = h.merge(first, on=["suite", "variant", "seed"])
            hist.append(h.assign(suite=j.suite, variant=j.variant, seed=j.seed))
        have.add((j.suite, j.variant, j.seed))
    return (pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()), hist


def _merge(path: Path, new: pd.DataFrame, extra_key: tuple[str, ...] = ()) -> pd.DataFrame:
    """Replace the rows of ``path`` that ``new`` covers (same suite, variant, seed[, epoch])."""
    key = ["suite", "variant", "seed", *extra_key]
    old = pd.read_csv(path) if path.exists() else pd.DataFrame()
    if new.empty:
        return old
    if not old.empty:
        keep = ~old.set_index(key).index.isin(new.set_index(key).index)
        new = pd.concat([old[keep], new], ignore_index=True)
    new = new.sort_values(key, kind="stable").reset_index(drop=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    new.to_csv(tmp, index=False)
    os.replace(tmp, path)  # readers and other workers never see half a file
    return new


# command line -----------------------------------------------------------------------------
def register(sub) -> None:
    p = sub.add_parser("ablate", help="run a comparison or ablation suite (resumable)",
                       description="Run every missing run of a suite: "
                       f"{', '.join(SUITES)} (or 'all'). Finished runs are skipped, an "
                       "interrupted one resumes. Writes results.csv and histories.csv.")
    p.add_argument("suite", help=f"one of: {', '.join(SUITES)}, all")
    p.add_argument("--preset", choices=PRESETS, default="quick")
    p.add_argument("--dataset", help="override the preset's dataset")
    p.add_argument("--arch", help="override the preset's architecture")
    p.add_argument("--epochs", type=int, help="override the preset's epochs")
    p.add_argument("--npz", help="cifar10-5k source file, if not in $OKDDIP_CIFAR10_5K")
    p.add_argument("--device", help="auto | cpu | cuda")
    p.add_argument("--seeds", type=int, help="seeds per variant (default: methods 3, others 2)")
    p.add_argument("--out", default="runs/suites", help="suite directory (default: runs/suites)")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their status only")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_ablate)


def cmd_ablate(args) -> int:
    names = list(SUITES) if args.suite == "all" else [args.suite]
    jobs: list[Job] = []
    for name in names:
        jobs += expand(name, args.preset, args.seeds, args.out, dataset=args.dataset,
                       arch=args.arch, epochs=args.epochs, npz=args.npz, device=args.device)
    # Seed-major: every suite gets its first seed before any gets its second, so a grid
    # stopped early still covers every suite.
    jobs.sort(key=lambda j: j.seed)
    if args.dry_run:
        recorded = recorded_runs(args.out)
        for j in jobs:
            print(f"{status(j, recorded):8s} {j.suite}/{j.variant} seed {j.seed}  {j.run_dir}")
        return 0
    t0 = time.perf_counter()
    results = run_suite(jobs, args.out, progress=not args.quiet)
    print(f"{len(results)} finished rows in {Path(args.out) / 'results.csv'} "
          f"({time.perf_counter() - t0:.0f} s)")
    return 0


def iter_suites() -> Iterator[str]:
    yield from SUITES
