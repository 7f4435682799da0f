"""The training engine: ``fit`` trains any model and method pair, one epoch at a time.

    result = fit(preset("quick", method="okddip"), out_dir="runs/okddip")
    result.history          # pandas DataFrame, one row per epoch

Each epoch:

1. lr from the schedule (multistep or cosine), ramp-up weight w(epoch) from the method;
2. training: device-resident batches with on-device augmentation; the method turns the
   model's output into named loss terms; SGD (Nesterov) minimises ``total``;
3. evaluation on the validation split: accuracy of every branch, the leader and the peer
   ensemble, peer diversity, aggregation weights (:mod:`okddip_edu.metrics`);
4. a history row; an atomic checkpoint; ``on_epoch_end(row, history)`` for live plots.

Reproducible: every epoch reseeds from (seed, epoch), so a run interrupted and resumed
gives the same history as one that never stopped (on CPU). Images and weights are kept
channels_last on every device (``Config.channels_last``: the same arithmetic, faster
convolution kernels). The arithmetic is :func:`okddip_edu.precision.choose`'s, printed at the
start: on CUDA bf16 autocast where the GPU has native bf16, else fp16 with gradient scaling;
on the CPU fp32, or bf16 when ``cpu_amp`` asks for it. The fused SGD kernel on CUDA.

A loss, weight or BatchNorm statistic that becomes NaN or infinite stops the run with
:class:`TrainingDiverged`, as do what finite weights can hide (:mod:`okddip_edu.health`):
non-finite validation logits, a loss exploding against its start, a collapse to chance. Each
epoch is judged before it is checkpointed, so the checkpoint kept is the last healthy one.
Run directories, their files and their repair on resume: :mod:`okddip_edu.rundir`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from . import data, health, precision
from .config import Config
from .methods import Method
from .metrics import Evaluator
from .optim import has_fused_sgd, learning_rate, make_optimizer, sgd_kernel
from .precision import Precision
from .session import (FitResult, Session, TrainingDiverged, check_epoch, check_labels,
                      check_outputs, close, diverged, open_session, resolve_device, save_epoch,
                      start_epoch)

__all__ = ["FitResult", "TrainingDiverged", "evaluate", "fit", "has_fused_sgd", "learning_rate",
           "make_optimizer", "resolve_device", "sgd_kernel", "train_step", "check_labels"]


def train_step(model: nn.Module, method: Method, optimizer: torch.optim.Optimizer,
               x: torch.Tensor, y: torch.Tensor, epoch: int, amp: bool = True,
               cpu_amp: bool = False, prec: Precision | None = None,
               scaler: torch.amp.GradScaler | None = None):
    """One SGD step on a batch: forward, named loss terms, backward, update.

    ``prec``: the arithmetic (default: :func:`okddip_edu.precision.choose` for ``x``'s device,
    ``amp`` and ``cpu_amp``); ``scaler``: the gradient scaler an fp16 run keeps across steps.
    Returns the model output and the loss terms (tensors; no host synchronisation).
    """
    prec = prec or precision.choose(x.device, amp, cpu_amp)
    with prec.autocast(x.device):
        output = model(x)
        terms = method(output, y, epoch, x=x)
    update(terms["total"], optimizer, scaler)
    return output, terms


def update(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
           scaler: torch.amp.GradScaler | None = None) -> None:
    """Backward and one SGD step; with an enabled scaler (fp16) the loss is scaled, the
    gradients unscaled, and a step with an overflowed gradient skipped."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None and scaler.is_enabled():
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()


@torch.no_grad()
def evaluate(model: nn.Module, method: Method, loader, device: torch.device,
             amp: bool = False, cpu_amp: bool = False, prec: Precision | None = None
             ) -> dict[str, float]:
    """Every validation metric of ``model`` + ``method`` over ``loader``.

    Logits that are NaN or infinite make every metric meaningless (a NaN logit never wins
    an argmax, so top-1 looks like chance): :class:`~okddip_edu.health.NonFiniteLogits`.
    """
    prec = prec or precision.choose(device, amp, cpu_amp)
    model.eval()
    method.eval()
    ev = Evaluator(peers=method.peers, leader=method.leader,
                   diversity=method.diversity_branches)
    broken = torch.zeros((), dtype=torch.long, device=device)
    total = 0
    for x, y in loader:
        with prec.autocast(device):
            out = model(x)
            weights = method.weights(out)
        broken += health.count_nonfinite(out.logits)
        total += out.logits.numel()
        ev.update(out.logits, y, weights)
    if int(broken):
        raise health.NonFiniteLogits(f"{int(broken)} of {total} logits are NaN or infinite; "
                                     "the model's weights diverged")
    return ev.result()


def fit(cfg: Config, out_dir: str | Path | None = None, *, resume: bool = False,
        splits: data.Splits | None = None,
        on_epoch_end: Callable[[dict, pd.DataFrame], None] | None = None,
        progress: bool = True) -> FitResult:
    """Train ``cfg.method`` on ``cfg.arch`` for ``cfg.epochs`` epochs; return the history.

    With ``out_dir`` every epoch is checkpointed (:mod:`okddip_edu.rundir`); ``resume``
    continues the run there from its last checkpoint and first repairs what the checkpoint
    can rebuild (history.csv, final.json). Set-up, checks and saving: :mod:`.session`.
    """
    s = open_session(cfg, out_dir, resume, splits, progress=progress)
    train_loader = data.DeviceLoader(s.splits.train_x, s.splits.train_y, cfg.batch_size,
                                     s.splits.mean, s.splits.std, device=s.device, train=True,
                                     seed=cfg.seed, drop_last=cfg.drop_last,
                                     channels_last=cfg.channels_last)
    val_loader = validation_loader(s)
    epochs = tqdm(range(s.start, cfg.epochs), desc=f"{cfg.method} {cfg.arch}", unit="epoch",
                  initial=s.start, total=cfg.epochs, disable=not progress)
    for epoch in epochs:
        t0 = time.perf_counter()
        lr = start_epoch(s, epoch)
        train_loader.set_epoch(epoch)
        train = train_epoch(s, train_loader, epoch, progress)
        check_epoch(s, epoch, train)
        row = {"epoch": epoch, "lr": lr, "w": s.method.weight(epoch), **train,
               **{f"val_{k}": v for k, v in validate_checked(s, epoch, val_loader).items()},
               "epoch_time": time.perf_counter() - t0}
        check_outputs(s, epoch, row)  # before the checkpoint: only a healthy epoch is kept
        history = save_epoch(s, row)
        epochs.set_postfix(leader=f"{row['val_top1_leader']:.1f}%",
                           ens=f"{row['val_top1_ens']:.1f}%")
        if on_epoch_end is not None:
            on_epoch_end(row, history)
    return close(s)


def train_epoch(s: Session, loader, epoch: int, progress: bool) -> dict[str, float]:
    """One pass over ``loader``: every step, and the epoch's mean loss terms and head top-1."""
    s.model.train()
    s.method.train()
    sums: dict[str, torch.Tensor] = {}
    correct = torch.zeros((), device=s.device)
    seen = 0
    batches = tqdm(loader, desc=f"epoch {epoch + 1}/{s.cfg.epochs}", leave=False,
                   disable=not progress)
    for step, (x, y) in enumerate(batches):
        output, terms = train_step(s.model, s.method, s.optimizer, x, y, epoch, prec=s.prec,
                                   scaler=s.scaler)
        if epoch == 0 and step == 0:  # the loss at initialisation: where divergence is judged
            s.start_loss = terms["total"].item()
        for k, v in terms.items():
            sums[k] = sums.get(k, 0) + v.detach().float()
        head = s.method.leader if s.method.leader is not None else 0
        correct += (output.logits[:, head].argmax(-1) == y).sum()
        seen += len(y)
        if progress and step % 25 == 0:
            batches.set_postfix(loss=f"{terms['total'].item():.3f}")
    train = {f"train_{k}": (v / len(loader)).item() for k, v in sums.items()}
    train["train_top1_head"] = 100.0 * correct.item() / max(seen, 1)
    return train


def validation_loader(s: Session) -> data.DeviceLoader:
    return data.DeviceLoader(s.splits.val_x, s.splits.val_y, s.cfg.eval_batch_size,
                             s.splits.mean, s.splits.std, device=s.device, train=False,
                             channels_last=s.cfg.channels_last)


def validate(s: Session, loader: data.DeviceLoader) -> dict[str, float]:
    """Every metric on the validation split, in the run's precision."""
    return evaluate(s.model, s.method, loader, s.device, prec=s.prec)


def validate_checked(s: Session, epoch: int, loader: data.DeviceLoader) -> dict[str, float]:
    """:func:`validate`; non-finite logits stop the run as :class:`TrainingDiverged`."""
    try:
        return validate(s, loader)
    except health.NonFiniteLogits as err:
        diverged(s, epoch, f"on the validation split {err}")
