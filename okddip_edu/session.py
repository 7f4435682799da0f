"""A training run's life outside the step: set up, resumed, checked each epoch, saved, closed.

    s = open_session(cfg, out_dir, resume)      # data, model, method, optimizer, precision,
    for epoch in range(s.start, cfg.epochs):    #   restored from the checkpoint if resuming
        lr = start_epoch(s, epoch)              # reseed from (seed, epoch), set the lr
        ...train...
        check_epoch(s, epoch, train)            # NaN or infinity anywhere: stop, keep the last
        save_epoch(s, row)                      #   good checkpoint; else checkpoint + history
    close(s)                                    # final.json: the run is complete

:func:`okddip_edu.engine.fit` (one process) and :func:`okddip_edu.ddp.fit` (N processes)
both run this sequence, so they check, save and resume runs alike. Only the process that
``writes`` (rank 0) touches the run directory; every process reads the checkpoint.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from torch import nn

from . import data, hardware, health, precision, rundir
from .checkpoint import FORMAT, CheckpointError, load_checkpoint, nonfinite, restore, save_atomic
from .config import Config
from .factory import build, num_classes_of
from .methods import Method
from .optim import learning_rate, make_optimizer

# Config fields that may differ between a run and its resumption. ``epochs`` may grow (to
# extend a finished run); with a cosine schedule that changes the lr of the epochs to come.
RESUMABLE_CHANGES = {"device", "eval_batch_size", "amp", "channels_last", "cpu_amp", "epochs"}


class TrainingDiverged(RuntimeError):
    """The loss, a weight or a BatchNorm statistic became NaN or infinite, or what the run
    computes shows divergence (:mod:`okddip_edu.health`)."""


@dataclass
class FitResult:
    history: pd.DataFrame  # one row per epoch
    model: nn.Module  # trained model (eval mode)
    method: Method  # trained method (owns attention / gate parameters)
    config: Config
    out_dir: Path | None  # run directory, if one was written
    splits: data.Splits  # the data it was trained on

    @property
    def final(self) -> dict:
        return self.history.iloc[-1].to_dict()


@dataclass
class Session:
    cfg: Config
    device: torch.device
    splits: data.Splits  # the training subset already applied
    out: Path | None  # run directory
    model: nn.Module
    method: Method
    optimizer: torch.optim.Optimizer
    prec: precision.Precision  # the arithmetic of every step and evaluation
    scaler: torch.amp.GradScaler  # enabled for fp16 only
    rows: list[dict]  # the history so far (from the checkpoint when resuming)
    start: int  # first epoch to train
    writes: bool  # this process writes the run directory
    start_loss: float | None = None  # loss of the first batch at initialisation (fresh runs)

    def result(self) -> FitResult:
        return FitResult(pd.DataFrame(self.rows), self.model.eval(), self.method.eval(),
                         self.cfg, self.out, self.splits)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' is not valid here: no CUDA device is visible; "
                         "use device='cpu' or 'auto'")
    return torch.device(name)


def check_labels(splits: data.Splits) -> None:
    """Integer class labels in 0..C-1, in training and validation; one line otherwise."""
    for part, y in (("training", splits.train_y), ("validation", splits.val_y)):
        if y.dtype.is_floating_point or y.dtype == torch.bool or y.dtype.is_complex:
            raise ValueError(f"{splits.name}: {part} labels must be integer class indices, "
                             f"got {y.dtype}")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= splits.num_classes):
            raise ValueError(f"{splits.name}: {part} labels must be in "
                             f"0..{splits.num_classes - 1}, got {int(y.min())}..{int(y.max())}")


def _check_resumable(saved: dict, cfg: Config) -> None:
    now = cfg.to_dict()
    diff = {k: (saved.get(k), v) for k, v in now.items()
            if k not in RESUMABLE_CHANGES and saved.get(k) != v}
    if diff:
        shown = ", ".join(f"{k}: saved {a!r} vs now {b!r}" for k, (a, b) in sorted(diff.items()))
        raise CheckpointError(f"cannot resume: the checkpoint was written with another config "
                              f"({shown})")


def open_session(cfg: Config, out_dir: str | Path | None, resume: bool,
                 splits: data.Splits | None, *, device: torch.device | None = None,
                 writes: bool = True, progress: bool = True,
                 load: Callable[[Config], data.Splits] = data.load,
                 convert: Callable[[nn.Module], nn.Module] | None = None) -> Session:
    """Everything a run needs before its first step; resumed from ``out_dir`` if asked.

    ``load`` reads the dataset when ``splits`` is not given; ``convert`` rewrites the model
    and method before the optimizer sees them (DDP's synchronised BatchNorm).
    """
    check_arguments(cfg, out_dir, resume, splits)
    device = device or resolve_device(cfg.device)
    splits = data.apply_subset(splits, cfg.train_subset) if splits is not None else load(cfg)
    check_labels(splits)
    if cfg.batch_size > len(splits.train_y):
        raise ValueError(f"batch_size={cfg.batch_size} is larger than the {len(splits.train_y)} "
                         "training images; choose a smaller batch size")
    out = None
    if out_dir is not None:
        out = rundir.check_out_dir(out_dir) if writes else Path(out_dir)
        rundir.check_run_files(out)
    ckpt = out / "checkpoint.pt" if out else None
    if out and ckpt.exists() and not resume:
        raise FileExistsError(f"{out} already holds a run; pass resume=True (--resume) to "
                              "continue it, or choose another output directory")

    torch.manual_seed(cfg.seed)
    model, method = build(cfg, splits.num_classes)
    if convert is not None:
        model, method = convert(model), convert(method)
    model.to(device)
    method.to(device)
    cpu_amp = cfg.cpu_amp and device.type != "cuda"  # the opt-in bf16 path on the CPU
    if cpu_amp and hardware.native_bf16("cpu") is False:
        warnings.warn("cpu_amp=True on a CPU without native bf16 (no AVX512_BF16 or AMX): bf16 "
                      "is emulated there and usually slower than fp32; drop --cpu-amp",
                      stacklevel=3)
    prec = precision.choose(device, cfg.amp, cpu_amp)
    if progress and writes:
        print(f"precision: {prec.reason}", flush=True)
    if cfg.channels_last:  # same arithmetic, faster oneDNN / cuDNN kernels
        model.to(memory_format=torch.channels_last)
    s = Session(cfg, device, splits, out, model, method, make_optimizer(model, method, cfg),
                prec, prec.scaler(device), [], 0, writes)
    if resume and ckpt.exists():
        _restore(s, load_checkpoint(ckpt, map_location=device))
    if out and writes:
        rundir.write_text(out / "config.json", cfg.to_json())
    return s


def check_arguments(cfg: Config, out_dir, resume: bool, splits) -> None:
    """What ``fit`` is given, checked before anything is loaded or written (one line each)."""
    if not isinstance(cfg, Config):
        raise TypeError(f"cfg={type(cfg).__name__} is not valid; it must be a Config "
                        "(okddip_edu.preset(...))")
    if out_dir is not None and not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir={type(out_dir).__name__} is not valid; it must be a path "
                        "or None")
    if not isinstance(resume, bool):
        raise TypeError(f"resume={resume!r} is not valid; use True or False")
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir, the run directory to continue")
    if resume and not (Path(out_dir) / "checkpoint.pt").is_file():
        raise ValueError(f"resume=True is not valid here: no checkpoint in {out_dir}; call "
                         "without resume to start the run")
    if splits is not None:
        data.check_splits(splits, num_classes_of(cfg.dataset))


def _restore(s: Session, state: dict) -> None:
    _check_resumable(state.get("config", {}), s.cfg)
    restore(state, s.model, s.method, s.optimizer)
    if s.scaler.is_enabled() and "scaler" in state:
        s.scaler.load_state_dict(state["scaler"])
    for group in s.optimizer.param_groups:  # saved on another device: keep this one's kernel
        for key in ("fused", "foreach"):
            group[key] = s.optimizer.defaults[key]
    s.rows, s.start = list(state["history"]), state["epoch"] + 1
    if s.cfg.epochs < s.start:
        raise CheckpointError(f"cannot resume with epochs={s.cfg.epochs}: the checkpoint has "
                              f"already finished {s.start} epochs")
    if s.writes:
        for problem in rundir.repair(s.out, s.rows):
            print(f"repaired from the checkpoint: {problem}", flush=True)


def start_epoch(s: Session, epoch: int) -> float:
    """Reseed from (seed, epoch), so a resumed run draws what an uninterrupted one draws
    (dropout, ...); set and return this epoch's lr."""
    torch.manual_seed(s.cfg.seed * 1_000_003 + epoch)
    lr = learning_rate(s.cfg, epoch)
    for group in s.optimizer.param_groups:
        group["lr"] = lr
    return lr


def check_epoch(s: Session, epoch: int, train: dict[str, float]) -> None:
    """Stop with :class:`TrainingDiverged` when a mean training loss, a weight or a buffer
    (BatchNorm statistics can break before the loss) is NaN or infinite."""
    bad = [k for k, v in train.items() if not math.isfinite(v)]
    broken = nonfinite(s.model, s.method)
    if not bad and not broken:
        return
    what = (f"{', '.join(bad)} became {train[bad[0]]}" if bad else
            f"{len(broken)} weights or buffers hold NaN or infinity (first: {broken[0]})")
    diverged(s, epoch, what)


def check_outputs(s: Session, epoch: int, row: dict) -> None:
    """Stop with :class:`TrainingDiverged` when the epoch's row shows divergence that finite
    weights hide: an exploding loss or a collapse to chance (:func:`okddip_edu.health.judge`).
    Called before the epoch is checkpointed, so only a healthy epoch is ever kept."""
    what = health.judge(s.rows, row, s.splits.num_classes, s.start_loss)
    if what is not None:
        diverged(s, epoch, what)


def diverged(s: Session, epoch: int, what: str):
    """Raise :class:`TrainingDiverged`: what went wrong, which checkpoint is kept, what to do."""
    kept = (f"the last good checkpoint (epoch {s.rows[-1]['epoch']}) is kept in {s.out}"
            if s.out and s.rows else "no checkpoint was written")
    raise TrainingDiverged(f"training diverged at epoch {epoch}: {what}; {kept}. Lower the "
                           f"learning rate (lr={s.cfg.lr}) or the distillation weight "
                           f"(alpha={s.cfg.alpha}).")


def save_epoch(s: Session, row: dict) -> pd.DataFrame:
    """Add the epoch's row; checkpoint first (it can rebuild history.csv), then history.csv."""
    s.rows.append(row)
    if s.out and s.writes:
        save_atomic({"format": FORMAT, "epoch": row["epoch"], "config": s.cfg.to_dict(),
                     "model": s.model.state_dict(), "method": s.method.state_dict(),
                     "optimizer": s.optimizer.state_dict(), "history": s.rows,
                     **({"scaler": s.scaler.state_dict()} if s.scaler.is_enabled() else {})},
                    s.out / "checkpoint.pt")
        rundir.write_history(s.out, s.rows)
    return pd.DataFrame(s.rows)


def close(s: Session, summary: dict | None = None) -> FitResult:
    """history.csv and final.json (with ``summary`` merged in): the run is complete."""
    if s.out and s.writes:
        rundir.finish(s.out, s.rows, s.cfg, s.device, summary)
    return s.result()
