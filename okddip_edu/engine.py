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
:class:`TrainingDiverged`; the last good checkpoint is kept. Run directories, their files and
their repair on resume: :mod:`okddip_edu.rundir`.
"""

from __future__ import annotations

import inspect
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from . import data, hardware, precision, rundir
from .checkpoint import FORMAT, CheckpointError, load_checkpoint, nonfinite, restore, save_atomic
from .config import Config
from .factory import build
from .methods import Method
from .metrics import Evaluator
from .precision import Precision

# Config fields that may differ between a run and its resumption. ``epochs`` may grow (to
# extend a finished run); with a cosine schedule that changes the lr of the epochs to come.
RESUMABLE_CHANGES = {"device", "eval_batch_size", "amp", "channels_last", "cpu_amp", "epochs"}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' is not valid here: no CUDA device is visible; "
                         "use device='cpu' or 'auto'")
    return torch.device(name)


def learning_rate(cfg: Config, epoch: int) -> float:
    """lr at ``epoch``: multistep (x gamma at each milestone) or cosine to 0."""
    if cfg.schedule == "cosine":
        return 0.5 * cfg.lr * (1.0 + math.cos(math.pi * epoch / cfg.epochs))
    return cfg.lr * cfg.gamma ** sum(epoch >= m for m in cfg.milestones)


def make_optimizer(model: nn.Module, method: nn.Module, cfg: Config) -> torch.optim.SGD:
    """SGD (Nesterov when momentum > 0) over every trainable parameter; on CUDA the fused
    kernel (one launch per step instead of several per tensor; the same update)."""
    params = [p for p in [*model.parameters(), *method.parameters()] if p.requires_grad]
    device = params[0].device if params else torch.device("cpu")
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
                           weight_decay=cfg.weight_decay, **sgd_kernel(device))


def has_fused_sgd() -> bool:
    """Whether this torch's SGD has a fused kernel (torch >= 2.0 on CUDA, >= 2.4 on CPU)."""
    return "fused" in inspect.signature(torch.optim.SGD).parameters


def sgd_kernel(device: torch.device) -> dict:
    """The SGD kernel flags for ``device``: fused on CUDA when torch has it, else torch's
    default (which picks the multi-tensor ``foreach`` kernel on CUDA by itself)."""
    return {"fused": True} if device.type == "cuda" and has_fused_sgd() else {}


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
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None and scaler.is_enabled():  # fp16: scale, unscale, skip on overflow
        scaler.scale(terms["total"]).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        terms["total"].backward()
        optimizer.step()
    return output, terms


@torch.no_grad()
def evaluate(model: nn.Module, method: Method, loader, device: torch.device,
             amp: bool = False, cpu_amp: bool = False) -> dict[str, float]:
    """Every validation metric of ``model`` + ``method`` over ``loader``."""
    prec = precision.choose(device, amp, cpu_amp)
    model.eval()
    method.eval()
    ev = Evaluator(peers=method.peers, leader=method.leader,
                   diversity=method.diversity_branches)
    for x, y in loader:
        with prec.autocast(device):
            out = model(x)
            weights = method.weights(out)
        ev.update(out.logits, y, weights)
    return ev.result()


def _check_resumable(saved: dict, cfg: Config) -> None:
    now = cfg.to_dict()
    diff = {k: (saved.get(k), v) for k, v in now.items()
            if k not in RESUMABLE_CHANGES and saved.get(k) != v}
    if diff:
        shown = ", ".join(f"{k}: saved {a!r} vs now {b!r}" for k, (a, b) in sorted(diff.items()))
        raise CheckpointError(f"cannot resume: the checkpoint was written with another config "
                              f"({shown})")


def fit(cfg: Config, out_dir: str | Path | None = None, *, resume: bool = False,
        splits: data.Splits | None = None,
        on_epoch_end: Callable[[dict, pd.DataFrame], None] | None = None,
        progress: bool = True) -> FitResult:
    """Train ``cfg.method`` on ``cfg.arch`` for ``cfg.epochs`` epochs; return the history.

    With ``out_dir`` every epoch is checkpointed (:mod:`okddip_edu.rundir`); ``resume``
    continues the run there from its last checkpoint and first repairs what the checkpoint
    can rebuild (history.csv, final.json).
    """
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir, the run directory to continue")
    device = resolve_device(cfg.device)
    use_cuda = device.type == "cuda"
    splits = data.apply_subset(splits, cfg.train_subset) if splits is not None else data.load(cfg)
    check_labels(splits)
    if cfg.batch_size > len(splits.train_y):
        raise ValueError(f"batch_size={cfg.batch_size} is larger than the {len(splits.train_y)} "
                         "training images; choose a smaller batch size")
    out = rundir.check_out_dir(out_dir) if out_dir is not None else None
    ckpt_path = out / "checkpoint.pt" if out else None
    if out and ckpt_path.exists() and not resume:
        raise FileExistsError(f"{out} already holds a run; pass resume=True (--resume) to "
                              "continue it, or choose another output directory")

    torch.manual_seed(cfg.seed)
    model, method = build(cfg, splits.num_classes)
    model.to(device)
    method.to(device)
    cpu_amp = cfg.cpu_amp and not use_cuda  # the opt-in bf16 path on the CPU
    if cpu_amp and hardware.native_bf16("cpu") is False:
        warnings.warn("cpu_amp=True on a CPU without native bf16 (no AVX512_BF16 or AMX): bf16 "
                      "is emulated there and usually slower than fp32; drop --cpu-amp",
                      stacklevel=2)
    prec = precision.choose(device, cfg.amp, cpu_amp)
    if progress:
        print(f"precision: {prec.reason}", flush=True)
    scaler = prec.scaler(device)
    if cfg.channels_last:  # same arithmetic, faster oneDNN / cuDNN kernels
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, method, cfg)

    rows: list[dict] = []
    start = 0
    if resume and ckpt_path is not None and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, map_location=device)
        _check_resumable(state.get("config", {}), cfg)
        restore(state, model, method, optimizer)
        if scaler.is_enabled() and "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        for group in optimizer.param_groups:  # saved on another device: keep this one's kernel
            for key in ("fused", "foreach"):
                group[key] = optimizer.defaults[key]
        rows = list(state["history"])
        start = state["epoch"] + 1
        if cfg.epochs < start:
            raise CheckpointError(f"cannot resume with epochs={cfg.epochs}: the checkpoint has "
                                  f"already finished {start} epochs")
        for problem in rundir.repair(out, rows):
            print(f"repaired from the checkpoint: {problem}", flush=True)
    if out:
        rundir.write_text(out / "config.json", cfg.to_json())

    train_loader = data.DeviceLoader(splits.train_x, splits.train_y, cfg.batch_size,
                                     splits.mean, splits.std, device=device, train=True,
                                     seed=cfg.seed, drop_last=cfg.drop_last,
                                     channels_last=cfg.channels_last)
    val_loader = data.DeviceLoader(splits.val_x, splits.val_y, cfg.eval_batch_size,
                                   splits.mean, splits.std, device=device, train=False,
                                   channels_last=cfg.channels_last)

    epochs = tqdm(range(start, cfg.epochs), desc=f"{cfg.method} {cfg.arch}", unit="epoch",
                  initial=start, total=cfg.epochs, disable=not progress)
    for epoch in epochs:
        t0 = time.perf_counter()
        torch.manual_seed(cfg.seed * 1_000_003 + epoch)  # dropout etc.: same on resume
        lr = learning_rate(cfg, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        train_loader.set_epoch(epoch)
        model.train()
        method.train()
        sums: dict[str, torch.Tensor] = {}
        correct = torch.zeros((), device=device)
        seen = 0
        batches = tqdm(train_loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                       disable=not progress)
        for step, (x, y) in enumerate(batches):
            output, terms = train_step(model, method, optimizer, x, y, epoch, prec=prec,
                                       scaler=scaler)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0) + v.detach().float()
            head = method.leader if method.leader is not None else 0
            correct += (output.logits[:, head].argmax(-1) == y).sum()
            seen += len(y)
            if progress and step % 25 == 0:
                batches.set_postfix(loss=f"{terms['total'].item():.3f}")
        train = {f"train_{k}": (v / len(train_loader)).item() for k, v in sums.items()}
        bad = [k for k, v in train.items() if not math.isfinite(v)]
        if bad:
            raise TrainingDiverged(
                f"training diverged at epoch {epoch}: {', '.join(bad)} became "
                f"{train[bad[0]]}; {_kept(rows, out)}. Lower the learning rate (lr={cfg.lr}) "
                f"or the distillation weight (alpha={cfg.alpha}).")
        broken = nonfinite(model, method)  # BatchNorm statistics can break before the loss
        if broken:
            raise TrainingDiverged(
                f"training diverged at epoch {epoch}: {len(broken)} weights or buffers hold "
                f"NaN or infinity (first: {broken[0]}); {_kept(rows, out)}. Lower the "
                f"learning rate (lr={cfg.lr}) or the distillation weight (alpha={cfg.alpha}).")
        train["train_top1_head"] = 100.0 * correct.item() / max(seen, 1)
        val = evaluate(model, method, val_loader, device, cfg.amp, cpu_amp)  # same precision
        row = {"epoch": epoch, "lr": lr, "w": method.weight(epoch), **train,
               **{f"val_{k}": v for k, v in val.items()},
               "epoch_time": time.perf_counter() - t0}
        rows.append(row)
        history = pd.DataFrame(rows)
        if out:  # the checkpoint first: it can rebuild history.csv, not the other way round
            save_atomic({"format": FORMAT, "epoch": epoch, "config": cfg.to_dict(),
                         "model": model.state_dict(), "method": method.state_dict(),
                         "optimizer": optimizer.state_dict(), "history": rows,
                         **({"scaler": scaler.state_dict()} if scaler.is_enabled() else {})},
                        ckpt_path)
            rundir.write_history(out, rows)
        epochs.set_postfix(leader=f"{val['top1_leader']:.1f}%", ens=f"{val['top1_ens']:.1f}%")
        if on_epoch_end is not None:
            on_epoch_end(row, history)

    if out:
        rundir.finish(out, rows, cfg, device)
    return FitResult(pd.DataFrame(rows), model.eval(), method.eval(), cfg, out, splits)


def _kept(rows: list[dict], out: Path | None) -> str:
    if out and rows:
        return f"the last good checkpoint (epoch {rows[-1]['epoch']}) is kept in {out}"
    return "no checkpoint was written"


def check_labels(splits: data.Splits) -> None:
    """Integer class labels in 0..C-1, in training and validation; one line otherwise."""
    for part, y in (("training", splits.train_y), ("validation", splits.val_y)):
        if y.dtype.is_floating_point or y.dtype == torch.bool or y.dtype.is_complex:
            raise ValueError(f"{splits.name}: {part} labels must be integer class indices, "
                             f"got {y.dtype}")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= splits.num_classes):
            raise ValueError(f"{splits.name}: {part} labels must be in 0..{splits.num_classes - 1}"
                             f", got {int(y.min())}..{int(y.max())}")
