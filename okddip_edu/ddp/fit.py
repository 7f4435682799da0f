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

The loop mirrors :func:`okddip_edu.engine.fit` step by step; ``tests/test_ddp.py`` checks
that the two agree.
"""

from __future__ import annotations

import inspect
import json
import math
import time
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .. import data, engine
from ..checkpoint import FORMAT, CheckpointError, load_checkpoint, restore, save_atomic
from ..config import Config
from ..factory import build
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
        progress: bool = True) -> engine.FitResult:
    """:func:`okddip_edu.engine.fit` on every process of the group (``torchrun``).

    ``on_epoch_end`` is called on every rank with the same row. Returns the same
    :class:`~okddip_edu.engine.FitResult` on every rank."""
    proc = process.start(cfg.device)
    try:
        return _fit(proc, cfg, out_dir, resume, splits, on_epoch_end, progress)
    finally:
        process.stop(proc)


def launched_fit(cfg: Config, out_dir: str | Path | None = None, **kw) -> engine.FitResult:
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
         on_epoch_end, progress: bool) -> engine.FitResult:
    device, main = proc.device, proc.main
    progress = progress and main
    splits = data.apply_subset(splits, cfg.train_subset) if splits is not None \
        else _load_in_turn(proc, cfg)
    n_train = len(splits.train_y)
    if cfg.batch_size > n_train:
        raise ValueError(f"batch_size={cfg.batch_size} is larger than the {n_train} "
                         "training images; choose a smaller batch size")
    shards.check_shardable(cfg.batch_size, proc.world, n_train, cfg.drop_last)
    out = Path(out_dir) if out_dir is not None else None
    ckpt_path = out / "checkpoint.pt" if out else None
    if out and ckpt_path.exists() and not resume:
        raise FileExistsError(f"{out} already holds a run; pass resume=True (--resume) to "
                              "continue it, or choose another output directory")

    torch.manual_seed(cfg.seed)
    model, method = build(cfg, splits.num_classes)
    model, method = batchnorm.convert(model, device), batchnorm.convert(method, device)
    model.to(device)
    method.to(device)
    cpu_amp = cfg.cpu_amp and device.type != "cuda"
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = engine.make_optimizer(model, method, cfg)

    rows: list[dict] = []
    start = 0
    if resume and ckpt_path is not None and ckpt_path.exists():  # every rank reads it
        state = load_checkpoint(ckpt_path, map_location=device)
        engine._check_resumable(state.get("config", {}), cfg)
        restore(state, model, method, optimizer)
        for group in optimizer.param_groups:
            for key in ("fused", "foreach"):
                group[key] = optimizer.defaults[key]
        rows = list(state["history"])
        start = state["epoch"] + 1
        if cfg.epochs < start:
            raise CheckpointError(f"cannot resume with epochs={cfg.epochs}: the checkpoint has "
                                  f"already finished {start} epochs")
    dist.barrier()  # every rank has read the checkpoint before rank 0 writes anything
    if out and main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(cfg.to_json())

    # static_graph: the same parameters take part in every step, which lets DDP skip those
    # that never get a gradient (OKDDip's W_q, W_k with --detach) as one process does.
    step = DistributedDataParallel(GroupStep(model, method), static_graph=True,
                                   device_ids=[device.index] if device.type == "cuda" else None,
                                   **_no_buffer_sync())
    train_loader = shards.ShardedLoader(
        data.DeviceLoader(splits.train_x, splits.train_y, cfg.batch_size, splits.mean,
                          splits.std, device=device, train=True, seed=cfg.seed,
                          drop_last=cfg.drop_last, channels_last=cfg.channels_last),
        proc.rank, proc.world)
    val_loader = data.DeviceLoader(splits.val_x, splits.val_y, cfg.eval_batch_size,
                                   splits.mean, splits.std, device=device, train=False,
                                   channels_last=cfg.channels_last)

    epochs = tqdm(range(start, cfg.epochs), desc=f"{cfg.method} {cfg.arch} x{proc.world}",
                  unit="epoch", initial=start, total=cfg.epochs, disable=not progress)
    for epoch in epochs:
        t0 = time.perf_counter()
        torch.manual_seed(cfg.seed * 1_000_003 + epoch)  # as engine.fit: same on resume
        lr = engine.learning_rate(cfg, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        train_loader.set_epoch(epoch)
        step.train()
        sums: dict[str, torch.Tensor] = {}
        correct = torch.zeros((), device=device)
        seen = 0
        batches = tqdm(train_loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                       disable=not progress)
        for i, (x, y, n) in enumerate(batches):
            share = len(y) / n  # n_r / n: this rank's part of the global batch
            with engine.autocast(device, cfg.amp, cpu=cpu_amp):
                output, terms = step(x, y, epoch)
            loss = terms["total"]
            if len(y) * proc.world != n:  # an uneven last batch: weigh by n_r N / n
                loss = loss * (share * proc.world)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # DDP averages the gradients over the ranks here
            optimizer.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0) + v.detach().float() * share
            head = method.leader if method.leader is not None else 0
            correct += (output.logits[:, head].argmax(-1) == y).sum()
            seen += len(y)
            if progress and i % 25 == 0:
                batches.set_postfix(loss=f"{terms['total'].item():.3f}")
        keys = list(sums)
        seen = torch.tensor(float(seen), device=device)
        totals = torch.stack([*(sums[k] for k in keys), correct.float(), seen])  # (K + 2,)
        dist.all_reduce(totals)  # sums over ranks: global-batch means, correct, images
        train = {f"train_{k}": (totals[j] / len(train_loader)).item()
                 for j, k in enumerate(keys)}
        bad = [k for k, v in train.items() if not math.isfinite(v)]
        if bad:  # the same on every rank: the sums were all-reduced
            kept = (f"the last good checkpoint (epoch {rows[-1]['epoch']}) is kept in {out}"
                    if out and rows else "no checkpoint was written")
            raise engine.TrainingDiverged(
                f"training diverged at epoch {epoch}: {', '.join(bad)} became "
                f"{train[bad[0]]}; {kept}. Lower the learning rate (lr={cfg.lr}) or the "
                f"distillation weight (alpha={cfg.alpha}).")
        train["train_top1_head"] = 100.0 * totals[-2].item() / max(totals[-1].item(), 1)
        val = [engine.evaluate(model, method, val_loader, device, cfg.amp, cpu_amp)
               if main else None]
        dist.broadcast_object_list(val, src=0)  # rank 0's numbers, on every rank
        row = {"epoch": epoch, "lr": lr, "w": method.weight(epoch), **train,
               **{f"val_{k}": v for k, v in val[0].items()},
               "epoch_time": time.perf_counter() - t0}
        rows.append(row)
        history = pd.DataFrame(rows)
        if out and main:
            save_atomic({"format": FORMAT, "epoch": epoch, "config": cfg.to_dict(),
                         "model": model.state_dict(), "method": method.state_dict(),
                         "optimizer": optimizer.state_dict(), "history": rows}, ckpt_path)
            history.to_csv(out / "history.csv", index=False)
        epochs.set_postfix(leader=f"{val[0]['top1_leader']:.1f}%",
                           ens=f"{val[0]['top1_ens']:.1f}%")
        if on_epoch_end is not None:
            on_epoch_end(row, history)

    history = pd.DataFrame(rows)
    if out and main:
        summary = engine.summarize(history, cfg, device)
        summary["device"] = f"{proc.world} x {summary['device']}"
        summary["processes"] = proc.world
        (out / "final.json").write_text(json.dumps(summary, indent=2))
    dist.barrier()  # final.json is written before any rank returns
    return engine.FitResult(history, model.eval(), method.eval(), cfg, out, splits)
