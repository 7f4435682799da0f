"""The pipelines the benchmark compares: each builds a model and trains it, step by step.

Three paths train the same model (same architecture, branches, weights at step 0) on
CIFAR-shaped data (:func:`synthetic_images`: random uint8 images, 100 classes, 32 x 32):

- ``ours``: the engine's training step, :func:`okddip_edu.engine.train_step`, fed by
  :class:`~okddip_edu.data.DeviceLoader` (the dataset lives on the device; per-sample crop,
  flip and normalisation run there); channels_last on every device and bf16 autocast on
  CUDA, as the engine trains.
- ``reference``: what a careful user writes by hand: :func:`~okddip_edu.data.reference_loader`
  (PIL images, torchvision RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor,
  Normalize, a DataLoader with min(8, CPU cores) workers; pinned memory and
  ``non_blocking`` copies on CUDA), fp32, the same model and loss, a plain loop
  ``forward -> loss -> backward -> step``.
- ``ce-only``: our path with the same branches trained by cross-entropy alone (method
  ``independent``): what the distillation itself costs.

A path is a :class:`Trainer`: a step function ``(x, y) -> total loss`` that does one SGD
update, and an endless stream of batches already on the device::

    trainer = make_trainer("ours", settings, x, y, device)
    loss = trainer.step(*next(trainer.batches))   # x (B, 3, 32, 32), y (B,)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import nn

from .. import data, engine, precision
from ..config import Config, preset
from ..factory import build
from .settings import MEAN, NUM_CLASSES, PATHS, STD, BenchSettings

Batch = tuple[torch.Tensor, torch.Tensor]  # images (B, 3, 32, 32) float, labels (B,) int64
StepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x, y) -> total loss


# Data ------------------------------------------------------------------------------------
def synthetic_images(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random uint8 images (n, 3, 32, 32) and labels (n,) in 0..99: CIFAR-100 shaped."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.randint(0, NUM_CLASSES, (n,), generator=g)
    return x, y


def ours_loader(x, y, batch_size: int, device: torch.device, seed: int = 0,
                channels_last: bool = False, train: bool = True) -> data.DeviceLoader:
    """Our batches: the dataset resident on ``device``, augmentation on the device."""
    return data.DeviceLoader(x, y, batch_size, MEAN, STD, device=device, train=train,
                             seed=seed, channels_last=channels_last)


def reference_batches(loader, device: torch.device) -> Iterator[Batch]:
    """The classic loader's batches, forever, copied to ``device`` (non_blocking on CUDA)."""
    non_blocking = device.type == "cuda"
    while True:
        for x, y in loader:
            yield x.to(device, non_blocking=non_blocking), y.to(device, non_blocking=non_blocking)


def device_batches(loader: data.DeviceLoader) -> Iterator[Batch]:
    """A DeviceLoader's batches, forever; each pass is a new epoch (new order, new crops)."""
    epoch = 0
    while True:
        loader.set_epoch(epoch)
        yield from loader
        epoch += 1


# Models and steps -----------------------------------------------------------------------
def make_config(s: BenchSettings, method: str | None = None) -> Config:
    """The run configuration of a path (validated: a bad arch or branch count raises)."""
    cfg = preset("paper", arch=s.arch, method=s.method, branches=s.branches, width=s.width,
                 batch_size=s.batch_size, device=s.device)
    if method is None or method == cfg.method:
        return cfg
    if cfg.resolved_layout == "single":
        return cfg.replace(method="baseline")  # one network: CE alone is the baseline
    return cfg.replace(method=method, layout=cfg.resolved_layout)


def make_optimizer(model: nn.Module, method: nn.Module, cfg: Config, kind: str = "plain",
                   device: torch.device | None = None) -> torch.optim.SGD:
    """``engine.make_optimizer``'s SGD (Nesterov, weight decay), with a chosen kernel.

    ``plain``: torch's default (what a hand-written loop gets); ``foreach``: one
    multi-tensor call per update;
    ``fused``: one fused kernel (CUDA, and CPU in torch >= 2.4); ``auto``: the engine's
    choice (fused on CUDA, torch's default on the CPU).
    """
    if kind not in ("auto", "plain", "foreach", "fused"):
        raise ValueError(f"optimizer={kind!r} is not valid; choose one of: auto, plain, "
                         "foreach, fused")
    opt = engine.make_optimizer(model, method, cfg)  # its parameters and hyperparameters
    if kind == "auto":
        return opt  # the engine's own choice: fused on CUDA, torch's default on the CPU
    if kind == "fused" and not engine.has_fused_sgd():
        raise ValueError(f"optimizer='fused' needs torch.optim.SGD(fused=True), which torch "
                         f"{torch.__version__} does not have; use foreach")
    flags = {"plain": {"foreach": None, "fused": None},  # torch's default kernel
             "foreach": {"foreach": True, "fused": None},
             "fused": {"foreach": None, "fused": True}}[kind]
    (group,) = opt.param_groups
    return torch.optim.SGD(group["params"], **{**opt.defaults, **flags})


def build_model(cfg: Config, device: torch.device, seed: int, channels_last: bool = False
                ) -> tuple[nn.Module, nn.Module]:
    """Model and method of ``cfg`` on ``device``, weights fixed by ``seed``."""
    torch.manual_seed(seed)
    model, method = build(cfg, NUM_CLASSES)
    model.to(device).train()
    method.to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model, method


def ours_step(model, method, optimizer, epoch: int, amp: bool) -> StepFn:
    """Our step: the engine's, in the engine's precision for the device (with ``amp`` on the
    CPU, as the engine trains with ``cpu_amp``), with its gradient scaler where fp16 needs one."""
    state = {}

    def step(x, y):
        if not state:  # the device is known at the first batch
            state["prec"] = prec = precision.choose(x.device, amp, cpu_amp=amp)
            state["scaler"] = prec.scaler(x.device)
        return engine.train_step(model, method, optimizer, x, y, epoch, prec=state["prec"],
                                 scaler=state["scaler"])[1]["total"]
    return step


def plain_step(model, method, optimizer, epoch: int) -> StepFn:
    """The reference loop body: forward, loss, backward, step; fp32, nothing else."""
    def step(x, y):
        loss = method(model(x), y, epoch, x=x)["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss
    return step


# Paths ----------------------------------------------------------------------------------
@dataclass
class Trainer:
    """What one path trains with."""

    step: StepFn  # (x, y) -> total loss; one SGD update
    batches: Iterator[Batch]  # endless stream of training batches on the device
    loader: object = None  # the loader, kept to shut its workers down afterwards


def make_ours(s: BenchSettings, x, y, device: torch.device, method: str | None = None
              ) -> Trainer:
    """``ours`` (or ``ce-only`` with ``method='independent'``): engine step + DeviceLoader."""
    cfg = make_config(s, method)
    model, meth = build_model(cfg, device, s.seed, s.channels_last)
    optimizer = make_optimizer(model, meth, cfg, s.optimizer, device)
    if s.compile:
        model = torch.compile(model)
    loader = ours_loader(x, y, s.batch_size, device, s.seed, s.channels_last)
    return Trainer(ours_step(model, meth, optimizer, cfg.rampup, s.amp),
                   device_batches(loader), loader)


def make_reference(s: BenchSettings, x, y, device: torch.device) -> Trainer:
    """``reference``: torchvision transforms + DataLoader workers, fp32, plain loop."""
    cfg = make_config(s)
    model, meth = build_model(cfg, device, s.seed)
    optimizer = make_optimizer(model, meth, cfg, "plain", device)
    loader = data.reference_loader(x, y, s.batch_size, MEAN, STD, train=True,
                                   num_workers=s.workers, pin_memory=device.type == "cuda",
                                   seed=s.seed)
    return Trainer(plain_step(model, meth, optimizer, cfg.rampup),
                   reference_batches(loader, device), loader)


def make_trainer(path: str, s: BenchSettings, x, y, device: torch.device) -> Trainer:
    if path == "ours":
        return make_ours(s, x, y, device)
    if path == "ce-only":
        return make_ours(s, x, y, device, method="independent")
    if path == "reference":
        return make_reference(s, x, y, device)
    raise ValueError(f"path={path!r} is not valid; choose one of: {', '.join(PATHS)}")
