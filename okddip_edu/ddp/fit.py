r"""``fit`` on N processes: DistributedDataParallel over the model and the method together.

    torchrun --nproc-per-node N -m okddip_edu train --preset paper --out runs/r32-ddp

Every process builds the same model and method from the same seed, takes its shard of each
global batch (:mod:`.shards`), and computes its loss on it. DDP averages the gradients over
the N processes during the backward pass, so every process takes the same SGD step:

.. math::

    g = \frac{1}{N} \sum_{r=1}^{N} \nabla_\theta \Big( \frac{n_r N}{n} L_r \Big)
      = \nabla_\theta \frac{1}{n} \sum_{i=1}^{n} \ell_i

with L_r the mean loss of rank r's n_r images and n the global batch (n_r N / n = 1 when
N divides n). BatchNorm is synchronised (:mod:`.batchnorm`), so the statistics are those of
the global batch too, and the run computes what a single process computes with the same
global batch, up to the order of float sums.

- The OKDDip method's own parameters (W_q, W_k, ONE's gate) are in the same DDP module as
  the model, so their gradients are averaged too.
- Each epoch reseeds from (seed, epoch) on every rank; each rank draws the augmentation
  of the whole global batch and keeps its rows, so every image is cropped and flipped as
  in the single-process run. Dropout (VGG only) draws its masks per shard: the same
  distribution, not the same numbers.
- Training losses and accuracy in the history are the global-batch values (all-reduced).
- Evaluation runs on rank 0 alone, on the whole validation split, exactly as
  :func:`okddip_edu.engine.evaluate`; the other ranks wait for its numbers.
- Only rank 0 writes ``config.json``, ``history.csv``, ``checkpoint.pt`` and ``final.json``;
  every rank reads the checkpoint to resume. A checkpoint holds the plain model and method
  state (no DDP wrapper), so a run can be resumed with any number of processes, or one.

The run's set-up, resume, checks and saving are :mod:`okddip_edu.session`'s, as for
:func:`okddip_edu.engine.fit`; only the step and the reduction over ranks are this module's.
``tests/test_ddp.py`` checks that the two agree.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .. import data, engine, health, rundir
from ..config import Config
from ..session import (FitResult, check_epoch, check_outputs, close, diverged, open_session,
                       save_epoch, start_epoch)
from . import batchnorm, process, shards


class GroupStep(nn.Module):
    """The model and the method as one module: x, y -> (group output, loss terms).

    DDP wraps this, so the method's own parameters are averaged with the model's."""

    def __init__(self, model: nn.Module, method: nn.Module):
        super().__init__()
        self.model = model
        self.method = method

    def forward(self, x: torch.Tensor, y: torch.Tensor, epoch: int):
        output = self.model(x)  # GroupOutput: logits (b, n, C), features (b, n, d)
        return output, self.method(output, y, epoch, x=x)


def _no_buffer_sync() -> dict:
    """DDP's switch that stops it copying rank 0's buffers before every forward: the
    synchronised BatchNorm keeps the running statistics identical on every rank already."""
    params = inspect.signature(DistributedDataParallel.__init__).parameters
    return {"forward_sync_buffers": False} if "forward_sync_buffers" in params \
        else {"broadcast_buffers": False}


def fit(cfg: Config, out_dir: str | Path | None = None, *, resume: bool = False,
        splits: data.Splits | None = None,
        on_epoch_end: Callable[[dict, pd.DataFrame], None] | None = None,
        progress: bool = True) -> FitResult:
    """:func:`okddip_edu.engine.fit` on every process of the group (``torchrun``).

    ``on_epoch_end`` is called on every rank with the same row. Returns the same
    :class:`~okddip_edu.engine.FitResult` on every rank."""
    proc = process.start(cfg.device)
    try:
        return _fit(proc, cfg, out_dir, resume, splits, on_epoch_end, progress)
    finally:
        process.stop(proc)


def launched_fit(cfg: Config, out_dir: str | Path | None = None, **kw) -> FitResult:
    """:func:`fit` under ``torchrun`` with N > 1 processes, else the single-process fit."""
    return fit(cfg, out_dir, **kw) if process.launched() else engine.fit(cfg, out_dir, **kw)


def _load_in_turn(proc: process.Process, cfg: Config) -> data.Splits:
    """The dataset on every rank, never downloaded by two processes into one folder at
    once: rank 0 first, then the first process of each machine, then the others."""
    splits = None
    for turn in (proc.rank == 0, proc.local_rank == 0, True):
        if splits is None and turn:
            splits = data.load(cfg)
        dist.barrier()
    return splits


def _fit(proc: process.Process, cfg: Config, out_dir, resume: bool, splits,
         on_epoch_end, progress: bool) -> FitResult:
    device, main = proc.device, proc.main
    progress = progress and main
    s = open_session(cfg, out_dir, resume, splits, device=device, writes=main,
                     progress=progress, load=lambda c: _load_in_turn(proc, c),
                     convert=lambda m: batchnorm.convert(m, device))
    shards.check_shardable(cfg.batch_size, proc.world, len(s.splits.train_y), cfg.drop_last)
    dist.barrier()  # every rank has read the checkpoint before rank 0 writes anything

    # static_graph: the same parameters take part in every step, which lets DDP skip those
    # that never get a gradient (OKDDip's W_q, W_k with --detach) as one process does.
    step = DistributedDataParallel(GroupStep(s.model, s.method), static_graph=True,
                                   device_ids=[device.index] if device.type == "cuda" else None,
                                   **_no_buffer_sync())
    train_loader = shards.ShardedLoader(
        data.DeviceLoader(s.splits.train_x, s.splits.train_y, cfg.batch_size, s.splits.mean,
                          s.splits.std, device=device, train=True, seed=cfg.seed,
                          drop_last=cfg.drop_last, channels_last=cfg.channels_last),
        proc.rank, proc.world)
    val_loader = engine.validation_loader(s)

    epochs = tqdm(range(s.start, cfg.epochs), desc=f"{cfg.method} {cfg.arch} x{proc.world}",
                  unit="epoch", initial=s.start, total=cfg.epochs, disable=not progress)
    for epoch in epochs:
        t0 = time.perf_counter()
        lr = start_epoch(s, epoch)  # as engine.fit: same on every rank, same on resume
        train_loader.set_epoch(epoch)
        train = _train_epoch(s, step, train_loader, proc.world, epoch, progress)
        check_epoch(s, epoch, train)  # the same on every rank: sums and weights agree
        val = [_validate(s, val_loader) if main else None]
        dist.broadcast_object_list(val, src=0)  # rank 0's numbers, on every rank
        if isinstance(val[0], str):  # non-finite logits: every rank stops alike
            diverged(s, epoch, val[0])
        row = {"epoch": epoch, "lr": lr, "w": s.method.weight(epoch), **train,
               **{f"val_{k}": v for k, v in val[0].items()},
               "epoch_time": time.perf_counter() - t0}
        check_outputs(s, epoch, row)  # the same row on every rank, before any checkpoint
        history = save_epoch(s, row)  # rank 0 writes
        epochs.set_postfix(leader=f"{row['val_top1_leader']:.1f}%",
                           ens=f"{row['val_top1_ens']:.1f}%")
        if on_epoch_end is not None:
            on_epoch_end(row, history)
    result = close(s, {"processes": proc.world,
                       "device": f"{proc.world} x {rundir.device_name(device)}"})
    dist.barrier()  # final.json is written before any rank returns
    return result


def _validate(s, loader) -> dict[str, float] | str:
    """Rank 0's metrics, or what was wrong with its logits (sent to every rank)."""
    try:
        return engine.validate(s, loader)
    except health.NonFiniteLogits as err:
        return f"on the validation split {err}"


def _train_epoch(s, step: DistributedDataParallel, loader: shards.ShardedLoader, world: int,
                 epoch: int, progress: bool) -> dict[str, float]:
    """One epoch on this rank's shards; the loss terms and head top-1 of the global batches
    (all-reduced), the same on every rank."""
    step.train()
    sums: dict[str, torch.Tensor] = {}
    correct = torch.zeros((), device=s.device)
    seen = 0
    batches = tqdm(loader, desc=f"epoch {epoch + 1}/{s.cfg.epochs}", leave=False,
                   disable=not progress)
    for i, (x, y, n) in enumerate(batches):
        share = len(y) / n  # n_r / n: this rank's part of the global batch
        with s.prec.autocast(s.device):
            output, terms = step(x, y, epoch)
        loss = terms["total"]
        if len(y) * world != n:  # an uneven last batch: weigh by n_r N / n
            loss = loss * (share * world)
        engine.update(loss, s.optimizer, s.scaler)  # DDP averages the gradients here
        for k, v in terms.items():
            sums[k] = sums.get(k, 0) + v.detach().float() * share
        head = s.method.leader if s.method.leader is not None else 0
        correct += (output.logits[:, head].argmax(-1) == y).sum()
        seen += len(y)
        if progress and i % 25 == 0:
            batches.set_postfix(loss=f"{terms['total'].item():.3f}")
    keys = list(sums)
    totals = torch.stack([*(sums[k] for k in keys), correct.float(),
                          torch.tensor(float(seen), device=s.device)])  # (K + 2,)
    dist.all_reduce(totals)  # sums over ranks: global-batch means, correct, images
    train = {f"train_{k}": (totals[j] / len(loader)).item() for j, k in enumerate(keys)}
    train["train_top1_head"] = 100.0 * totals[-2].item() / max(totals[-1].item(), 1)
    return train
