"""Benchmark: steady-state training throughput of our pipeline against the classic one.

    okddip-edu bench --device cpu --steps 20 --warmup 3 --repeats 3 --out assets/benchmarks
    okddip-edu bench --device cuda --out assets/benchmarks/h100
    okddip-edu bench --device cpu --sweep --out assets/benchmarks

Three paths train the same model (same architecture, branches, weights at step 0) on
CIFAR-shaped data (synthetic uint8 images, 100 classes, 32 x 32):

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

What is measured, per path:

- **throughput** (images/s): ``steps x batch_size`` over the wall time of the timed window;
  ``warmup`` steps before it are excluded (they include worker start-up and compilation);
  the window is bracketed by ``torch.cuda.synchronize()`` on CUDA and nothing syncs inside
  it (no ``.item()``: the loss is summed on the device and read once, after the window);
- **time per epoch** = 50,000 / throughput: a CIFAR training epoch at that speed, without
  evaluation;
- **peak memory**: CUDA: ``torch.cuda.max_memory_allocated`` over the timed window (weights,
  optimizer state, activations and, for ``ours``, the resident dataset); CPU: the peak
  growth of this process's resident set (RSS) from just before the path is built to the
  end of its timed window (weights, optimizer state, activations, loader buffers; for
  ``reference`` also its HWC copy of the images for PIL), sampled every 10 ms by psutil
  (``resource.getrusage`` high-water mark if psutil is missing). DataLoader worker
  processes are not in it; their RSS is reported apart;
- **arithmetic**: each path's GFLOP/s (images/s x the training FLOPs per image of
  :mod:`okddip_edu.costs`) against this device's measured fp32 and bf16 matmul rates. The
  fp32 rate over the reference's rate bounds what any fp32 rewrite of ``ours`` can gain.

Fast-path options (``ours`` and ``ce-only`` only; ``reference`` stays plain fp32):
``--compile`` (``torch.compile`` of the model), ``--optimizer fused`` (one fused SGD
kernel; the default ``auto`` picks it on CUDA), ``--amp`` to use bf16 autocast on the CPU
too (as the engine does with ``cpu_amp``), ``--no-channels-last`` to keep the contiguous
NCHW layout (the engine's default is channels_last on every device).

``--sweep`` measures ``ours`` against batch size and number of branches instead, and writes
a CSV and a figure.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import dataclasses
import gc
import json
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from . import costs, data, engine, hardware
from .config import Config, preset
from .factory import build

PATHS = ("ours", "reference", "ce-only")
EPOCH_IMAGES = 50_000  # a CIFAR training epoch
NUM_CLASSES = 100  # CIFAR-100 shaped labels
MEAN, STD = data.CIFAR100_MEAN, data.CIFAR100_STD
SWEEP_BATCH_SIZES = (128, 256, 512, 1024)
SWEEP_BRANCHES = (2, 4, 6, 8)
# Defaults that depend on the device: (cpu, cuda).
DEFAULT_STEPS = {"cpu": 30, "cuda": 200}
DEFAULT_WARMUP = {"cpu": 5, "cuda": 20}
SWEEP_STEPS = {"cpu": 3, "cuda": 50}
SWEEP_WARMUP = {"cpu": 1, "cuda": 10}
SWEEP_ARCH = {"cpu": "resnet8", "cuda": "resnet32"}

Batch = tuple[torch.Tensor, torch.Tensor]  # images (B, 3, 32, 32) float, labels (B,) int64
StepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x, y) -> total loss


@dataclass
class BenchSettings:
    """What to benchmark and how; ``None`` fields take device-dependent defaults."""

    device: str = "auto"  # auto | cpu | cuda
    arch: str | None = None  # None: resnet32 (sweep on CPU: resnet8)
    method: str = "okddip"  # the distillation method of ours and reference
    branches: int = 4  # n branches (OKDDip: 1 leader + n-1 peers)
    width: int = 16  # ResNet base width (16 is the paper's)
    batch_size: int = 128  # images per step
    steps: int | None = None  # timed steps; None: 30 on CPU, 200 on CUDA (sweep: 3 / 50)
    warmup: int | None = None  # untimed steps first; None: 5 on CPU, 20 on CUDA (sweep: 1 / 10)
    repeats: int = 1  # runs of each path, interleaved; the median is reported
    images: int = EPOCH_IMAGES  # synthetic uint8 training images (a CIFAR epoch's worth)
    workers: int | None = None  # reference DataLoader workers; None: min(8, CPU cores)
    compile: bool = False  # torch.compile the model of ours and ce-only
    optimizer: str = "auto"  # SGD kernel for ours: auto (fused on CUDA) | plain | foreach | fused
    amp: bool | None = None  # bf16 autocast for ours; None: as the engine (CUDA only)
    channels_last: bool = True  # channels_last for ours (the engine's default on every device)
    threads: int | None = None  # torch CPU threads; None: torch's default
    matmul_size: int | None = None  # side of the square matmul timed for the ceiling; None:
    # costs.MATMUL_SIZE of the device (2048 CPU, 8192 CUDA)
    seed: int = 0  # weights, data, shuffling and augmentation
    sweep_batch_sizes: tuple[int, ...] = SWEEP_BATCH_SIZES  # --sweep: batch sizes
    sweep_branches: tuple[int, ...] = SWEEP_BRANCHES  # --sweep: numbers of branches

    def resolved(self, sweep: bool = False) -> "BenchSettings":
        """A copy with every ``None`` default filled in for the device it will run on."""
        dev = engine.resolve_device(self.device).type
        cuda = dev == "cuda"
        return dataclasses.replace(
            self, device=dev,
            arch=self.arch or (SWEEP_ARCH[dev] if sweep else "resnet32"),
            steps=self.steps if self.steps is not None else (
                SWEEP_STEPS if sweep else DEFAULT_STEPS)[dev],
            warmup=self.warmup if self.warmup is not None else (
                SWEEP_WARMUP if sweep else DEFAULT_WARMUP)[dev],
            workers=self.workers if self.workers is not None else min(8, os.cpu_count() or 1),
            amp=cuda if self.amp is None else self.amp)


@dataclass
class Measurement:
    """One timed run of one path."""

    path: str  # ours | reference | ce-only
    repeat: int  # 0-based repeat index
    batch_size: int  # images per step
    branches: int  # n
    steps: int  # timed steps
    seconds: float  # wall time of the timed window
    warmup_s: float  # wall time of the warm-up steps (worker start-up, compilation)
    images_per_s: float  # steps * batch_size / seconds
    epoch_s: float  # EPOCH_IMAGES / images_per_s
    step_ms: float  # 1000 * seconds / steps
    cpu_ms_per_step: float  # CPU time per step: this process + DataLoader workers
    peak_mem_mb: float  # see MemoryProbe
    worker_rss_mb: float  # RSS of DataLoader workers at the end of the window (psutil)
    loss: float  # mean total loss over the timed steps (read after the window)


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
    """Our step: the engine's; with ``amp`` on the CPU, as the engine trains with ``cpu_amp``."""
    def step(x, y):
        return engine.train_step(model, method, optimizer, x, y, epoch, amp,
                                 cpu_amp=amp)[1]["total"]
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


# Memory ---------------------------------------------------------------------------------
class MemoryProbe:
    """Peak memory of one path.

    CUDA: ``torch.cuda.max_memory_allocated`` over the timed window (absolute: weights,
    optimizer state, activations, resident data). CPU: the peak RSS of this process while
    the path is built, warmed up and timed, minus its RSS just before (after a
    ``malloc_trim``, so memory freed by an earlier path does not hide this one's).

        probe.begin()   # before the path is built
        probe.window()  # at the start of the timed window
        mib = probe.end()
    """

    def __init__(self, device: torch.device, interval: float = 0.01):
        self.device = device
        self.interval = interval  # seconds between RSS samples
        self.kind = self._kind(device)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._base = 0  # bytes before the path was built
        self._peak = 0  # bytes, highest sample

    @staticmethod
    def _kind(device: torch.device) -> str:
        if device.type == "cuda":
            return "torch.cuda.max_memory_allocated over the timed window (absolute)"
        try:
            import psutil  # noqa: F401
            return ("peak RSS growth of the main process from before the path is built to "
                    "the end of its timed window (psutil, sampled every 10 ms)")
        except ImportError:
            return "growth of the RSS high-water mark (resource.getrusage ru_maxrss)"

    def begin(self) -> None:
        if self.device.type == "cuda":
            return
        gc.collect()
        _trim_heap()
        self._base = self._peak = _rss_bytes()
        if "psutil" in self.kind:
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def window(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, _rss_bytes())

    def end(self) -> float:
        """Peak in MiB (see the class docstring)."""
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self._peak = max(self._peak, _rss_bytes())
        return max(0, self._peak - self._base) / 2**20


def _trim_heap() -> None:
    """Return freed heap pages to the OS (glibc only; elsewhere a no-op)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss_bytes() -> int:
    """Current RSS with psutil, else the RSS high-water mark (ru_maxrss is KiB on Linux)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        import resource

        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def worker_rss_mb() -> float:
    """Summed RSS of this process's children (DataLoader workers; shared pages counted)."""
    try:
        import psutil

        return sum(c.memory_info().rss for c in psutil.Process().children()) / 2**20
    except Exception:  # psutil missing, or a child exited while we looked
        return float("nan")


# Timing ---------------------------------------------------------------------------------
def time_steps(step: StepFn, batches: Iterator[Batch], steps: int, warmup: int,
               device: torch.device, probe: MemoryProbe | None = None) -> dict:
    """Run ``warmup`` then ``steps`` training steps; time, memory and loss of the second part.

    The timed window starts and ends with a device sync; inside it nothing waits for the
    device (losses are summed as tensors and read once after the window).
    """
    t0 = time.perf_counter()
    for _ in range(warmup):
        step(*next(batches))
    costs.sync(device)
    warmup_s = time.perf_counter() - t0
    if probe is None:
        probe = MemoryProbe(device)
        probe.begin()
    probe.window()
    total = torch.zeros((), device=device)
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    for _ in range(steps):
        total += step(*next(batches)).detach().float()
    costs.sync(device)
    seconds = time.perf_counter() - t0
    cpu_s = cpu_seconds() - cpu0
    peak = probe.end()
    return {"seconds": seconds, "cpu_s": cpu_s, "warmup_s": warmup_s, "peak_mem_mb": peak,
            "worker_rss_mb": worker_rss_mb(), "loss": float(total / steps)}


def cpu_seconds() -> float:
    """CPU time used so far by this process (all threads) and its live children (workers).

    On a shared machine it is steadier than wall time: it counts the work a path does, not
    the time other programs held the cores.
    """
    total = time.process_time()
    try:
        import psutil

        for child in psutil.Process().children():
            t = child.cpu_times()
            total += t.user + t.system
    except Exception:  # psutil missing, or a child exited while we looked
        pass
    return total


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


def measure(path: str, s: BenchSettings, x, y, device: torch.device, repeat: int = 0
            ) -> Measurement:
    """Build ``path`` fresh, warm it up, time ``s.steps`` steps; free it again."""
    probe = MemoryProbe(device)
    probe.begin()
    trainer = make_trainer(path, s, x, y, device)
    try:
        r = time_steps(trainer.step, trainer.batches, s.steps, s.warmup, device, probe)
    finally:
        trainer.batches.close()  # ends the generator; DataLoader workers shut down below
        del trainer
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    ips = s.steps * s.batch_size / r["seconds"]
    return Measurement(
        path=path, repeat=repeat, batch_size=s.batch_size, branches=s.branches, steps=s.steps,
        seconds=r["seconds"], warmup_s=r["warmup_s"], images_per_s=ips,
        epoch_s=EPOCH_IMAGES / ips, step_ms=1000 * r["seconds"] / s.steps,
        cpu_ms_per_step=1000 * r["cpu_s"] / s.steps, peak_mem_mb=r["peak_mem_mb"],
        worker_rss_mb=r["worker_rss_mb"], loss=r["loss"])


# Where the time goes ---------------------------------------------------------------------
def batch_costs(s: BenchSettings, x, y, device: torch.device, batches: int = 5) -> dict:
    """Milliseconds to make one training batch, without training.

    ``ours_batch_ms``: DeviceLoader (gather, crop, flip, normalise on the device);
    ``reference_batch_ms``: the torchvision transforms of one batch in this process, i.e.
    the CPU time one DataLoader worker spends per batch.
    """
    ours = device_batches(ours_loader(x, y, s.batch_size, device, s.seed, s.channels_last))
    ref_loader = data.reference_loader(x, y, s.batch_size, MEAN, STD, num_workers=0,
                                       seed=s.seed)
    ref = reference_batches(ref_loader, torch.device("cpu"))
    return {"ours_batch_ms": _ms_per_batch(ours, batches, device),
            "reference_batch_ms": _ms_per_batch(ref, batches, torch.device("cpu"))}


def loss_costs(s: BenchSettings, device: torch.device, repeats: int = 10) -> dict:
    """Milliseconds for the loss alone (forward + backward to the model outputs), with the
    distillation method and with CE only: the direct cost of distillation, free of the
    network's cost and of most of the machine's noise."""
    cfg = make_config(s)
    model, _ = build_model(cfg, device, s.seed)
    x = torch.randn(s.batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, NUM_CLASSES, (s.batch_size,), device=device)
    with torch.no_grad():
        out = model(x)  # GroupOutput: features (B, n, d), logits (B, n, C), trunk (B, d0)
    timings = {}
    for label, name in ((s.method, None), ("ce", "independent")):
        _, method = build_model(make_config(s, name), device, s.seed)
        leaves = type(out)(*(t.detach().requires_grad_() for t in out))
        method(leaves, y, cfg.rampup)["total"].backward()  # warm-up
        costs.sync(device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            method(leaves, y, cfg.rampup)["total"].backward()
        costs.sync(device)
        timings[f"loss_ms_{label}"] = 1000 * (time.perf_counter() - t0) / repeats
    return timings


def _ms_per_batch(batches: Iterator[Batch], n: int, device: torch.device) -> float:
    next(batches)
    costs.sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        next(batches)
    costs.sync(device)
    return 1000 * (time.perf_counter() - t0) / n


# Summaries -------------------------------------------------------------------------------
def median_of(runs: list[Measurement], key: str) -> float:
    return statistics.median(getattr(m, key) for m in runs)


def summarize_path(runs: list[Measurement]) -> dict:
    """Median of every figure over the repeats of one path, plus the runs themselves."""
    keys = ("images_per_s", "epoch_s", "step_ms", "cpu_ms_per_step", "peak_mem_mb",
            "warmup_s", "loss")
    return {**{k: median_of(runs, k) for k in keys},
            "runs": [dataclasses.asdict(m) for m in runs]}


def ratios(paths: dict, method: str) -> dict:
    """ours/reference speed-up, and what distillation costs over CE alone (both on medians).

    ``{method}/ce-only`` is a time ratio (step time with distillation / without);
    ``distillation_overhead_pct`` = 100 (ratio - 1).
    """
    ours, ref, ce = (paths[p]["images_per_s"] for p in PATHS)
    cost = ce / ours
    out = {"ours/reference": ours / ref, f"{method}/ce-only": cost,
           "distillation_overhead_pct": 100 * (cost - 1)}
    if all("cpu_ms_per_step" in paths[p] for p in ("ours", "reference")):
        # The same speed-up in CPU work (this process + workers) instead of wall time.
        out["ours/reference_cpu_time"] = (paths["reference"]["cpu_ms_per_step"]
                                          / paths["ours"]["cpu_ms_per_step"])
    return out


def paired_ratios(runs: dict[str, list[Measurement]], method: str) -> dict:
    """The same ratios within each repeat (paths run back to back), so slow drift of a
    shared machine cancels; one value per repeat."""
    per = [ratios({p: {"images_per_s": runs[p][r].images_per_s} for p in PATHS}, method)
           for r in range(len(runs["ours"]))]
    return {k: [q[k] for q in per] for k in per[0]}


def environment(device: torch.device) -> dict:
    """Where and with what the figures were taken."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"device": engine._device_name(device), "device_type": device.type,
            "versions": engine.versions(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(),
            "loadavg_1_5_15": list(load) if load else None,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def run_comparison(s: BenchSettings, log: Callable[[str], None] = print) -> dict:
    """Every path ``s.repeats`` times (interleaved, so drift hits all alike); the summary."""
    device = torch.device(s.device)
    x, y = synthetic_images(s.images, s.seed)
    env = environment(device)
    runs: dict[str, list[Measurement]] = {p: [] for p in PATHS}
    matmul = []  # the device's matmul rates, once per repeat (the machine's speed drifts)
    for r in range(s.repeats):
        for path in PATHS:
            m = measure(path, s, x, y, device, r)
            runs[path].append(m)
            log(f"  repeat {r + 1}/{s.repeats} {path:<9} {m.images_per_s:8.1f} images/s  "
                f"(warm-up {m.warmup_s:.1f} s, loss {m.loss:.3f})")
        matmul.append(costs.matmul_rates(device, s.matmul_size))
    paths = {p: summarize_path(ms) for p, ms in runs.items()}
    env["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {"benchmark": "training throughput", **env,
            "memory_measure": MemoryProbe(device).kind,
            "settings": {k: v for k, v in dataclasses.asdict(s).items()
                         if not k.startswith("sweep_")},
            "paths": paths,
            "ratios": ratios(paths, s.method),
            "ratios_per_repeat": paired_ratios(runs, s.method),
            "costs": {**batch_costs(s, x, y, device), **loss_costs(s, device)},
            "arithmetic": arithmetic(s, paths, device, matmul),
            "epoch_images": EPOCH_IMAGES}


def arithmetic(s: BenchSettings, paths: dict, device: torch.device,
               matmul: list[dict[str, float]]) -> dict:
    """Each path's arithmetic rate against the device's measured matmul rates.

    ``matmul_gflops``: the best matmul rate per dtype over ``matmul`` (one measurement per
    repeat), the most this device delivered: fp32 always, bf16 only where it is native
    (``matmul_skipped`` says why it is missing); ``gflops``: images/s x training GFLOP per
    image (:mod:`okddip_edu.costs`; the same arithmetic for every path of the method, CE
    only differs by the loss); ``share_of_fp32`` (and ``share_of_bf16``): that rate over
    the matmul rate; ``fp32_bound_ours/reference``: the fp32 matmul rate over the
    reference's arithmetic rate, the most any fp32 rewrite of ``ours`` could gain.
    """
    per_image = costs.train_flops_per_image(make_config(s), NUM_CLASSES) / 1e9
    peak = {k: max(m[k] for m in matmul) for k in matmul[0]}
    rates = {p: paths[p]["images_per_s"] * per_image for p in PATHS}
    skipped = costs.bf16_skipped(device)
    return {"train_gflop_per_image": per_image, "matmul_gflops": peak,
            "matmul_gflops_per_repeat": matmul,
            "matmul_size": s.matmul_size or costs.MATMUL_SIZE.get(device.type),
            "matmul_skipped": {"bf16": skipped} if skipped else {},
            "gflops": rates,
            **{f"share_of_{k}": {p: r / v for p, r in rates.items()} for k, v in peak.items()},
            "fp32_bound_ours/reference": peak["fp32"] / rates["reference"]}


def format_comparison(result: dict) -> str:
    """The comparison as a text table with the ratios under it."""
    s = result["settings"]
    head = (f"{s['method']} {s['arch']} ({s['branches']} branches), batch {s['batch_size']}, "
            f"{s['steps']} timed steps after {s['warmup']} warm-up, median of {s['repeats']}; "
            f"{result['device']}")
    rows = [f"{'path':<10} {'images/s':>9} {'epoch (50k)':>12} {'step ms':>9} "
            f"{'CPU ms/step':>12} {'peak mem MiB':>13} {'warm-up s':>10}"]
    for p in PATHS:
        r = result["paths"][p]
        rows.append(f"{p:<10} {r['images_per_s']:9.1f} {_duration(r['epoch_s']):>12} "
                    f"{r['step_ms']:9.1f} {r['cpu_ms_per_step']:12.1f} "
                    f"{r['peak_mem_mb']:13.1f} {r['warmup_s']:10.1f}")
    q, per = result["ratios"], result["ratios_per_repeat"]
    c = result["costs"]
    cost = f"{s['method']}/ce-only"
    rows += ["", f"ours / reference (throughput): {q['ours/reference']:.2f}x"
             f"{_spread(per['ours/reference'])}; in CPU time per step: "
             f"{q['ours/reference_cpu_time']:.2f}x",
             f"{s['method']} / ce-only (step time): {q[cost]:.2f}x{_spread(per[cost])} "
             f"(distillation overhead {q['distillation_overhead_pct']:+.1f} %)",
             f"one batch: ours {c['ours_batch_ms']:.1f} ms on the device, reference "
             f"{c['reference_batch_ms']:.1f} ms of worker CPU time",
             f"loss alone (forward + backward): {s['method']} {c['loss_ms_' + s['method']]:.1f}"
             f" ms, CE only {c['loss_ms_ce']:.1f} ms",
             f"memory: {result['memory_measure']}"]
    if "arithmetic" in result:
        rows += format_arithmetic(result["arithmetic"])
    return "\n".join([head, *rows])


def format_arithmetic(a: dict) -> list[str]:
    """Lines: each path's GFLOP/s against the device's measured matmul rates."""
    peak = a["matmul_gflops"]
    shares = ", ".join(
        f"{p} {a['gflops'][p]:.1f} ("
        + ", ".join(f"{100 * a['share_of_' + k][p]:.0f} % of {k}" for k in peak) + ")"
        for p in PATHS)
    measured = ", ".join(f"{k} {v:.1f}" for k, v in peak.items())
    skipped = [f"{k} not measured: {why}" for k, why in a.get("matmul_skipped", {}).items()]
    return [f"arithmetic: {a['train_gflop_per_image']:.3f} GFLOP per image per training step; "
            f"measured matmul rate (best of the repeats): {measured} GFLOP/s",
            *skipped,
            f"GFLOP/s: {shares}",
            f"fp32 bound: no fp32 path can beat the reference by more than "
            f"{a['fp32_bound_ours/reference']:.2f}x here (fp32 matmul rate / reference's rate)"]


def _spread(values: list[float]) -> str:
    """`` (per repeat: a..b)`` when there are several repeats."""
    if len(values) < 2:
        return ""
    return f" (per repeat {min(values):.2f}..{max(values):.2f})"


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.1f} s"


# Sweep -----------------------------------------------------------------------------------
@dataclass
class SweepRow:
    sweep: str  # batch_size | branches: the quantity varied
    arch: str  # architecture
    method: str  # method
    device: str  # cpu | cuda
    batch_size: int  # images per step
    branches: int  # n
    steps: int  # timed steps
    images_per_s: float  # median over repeats (nan if skipped)
    epoch_s: float  # EPOCH_IMAGES / images_per_s
    step_ms: float  # median step time
    peak_mem_mb: float  # median peak memory (see MemoryProbe)
    note: str = ""  # why a point was skipped, if it was


def sweep_points(s: BenchSettings) -> list[tuple[str, int, int]]:
    """(quantity varied, batch size, branches) of every sweep point."""
    return ([("batch_size", b, s.branches) for b in s.sweep_batch_sizes]
            + [("branches", s.batch_size, n) for n in s.sweep_branches])


def run_sweep(s: BenchSettings, log: Callable[[str], None] = print) -> list[SweepRow]:
    """``ours`` at every sweep point; a point the method cannot run is recorded as skipped."""
    device = torch.device(s.device)
    x, y = synthetic_images(s.images, s.seed)
    rows = []
    for sweep, b, n in sweep_points(s):
        point = dataclasses.replace(s, batch_size=b, branches=n)
        try:
            make_config(point)
        except ValueError as err:
            rows.append(SweepRow(sweep, s.arch, s.method, s.device, b, n, s.steps,
                                 float("nan"), float("nan"), float("nan"), float("nan"),
                                 f"skipped: {err}"))
            log(f"  {sweep}: batch {b}, {n} branches: skipped ({err})")
            continue
        ms = [measure("ours", point, x, y, device, r) for r in range(s.repeats)]
        rows.append(SweepRow(sweep, s.arch, s.method, s.device, b, n, s.steps,
                             median_of(ms, "images_per_s"), median_of(ms, "epoch_s"),
                             median_of(ms, "step_ms"), median_of(ms, "peak_mem_mb")))
        log(f"  {sweep}: batch {b}, {n} branches: {rows[-1].images_per_s:.1f} images/s")
    return rows


def write_sweep_csv(rows: list[SweepRow], path: Path) -> None:
    names = [f.name for f in dataclasses.fields(SweepRow)]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=names)
        w.writeheader()
        for r in rows:
            w.writerow({k: round(v, 2) if isinstance(v, float) else v
                        for k, v in dataclasses.asdict(r).items()})


def plot_sweep(rows: list[SweepRow], path: Path, title: str) -> None:
    """Two panels: images/s against batch size and against number of branches."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), constrained_layout=True)
    for ax, sweep, label in zip(axes, ("batch_size", "branches"), ("batch size", "branches")):
        pts = [(getattr(r, sweep), r.images_per_s) for r in rows
               if r.sweep == sweep and r.images_per_s == r.images_per_s]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o")
        ax.set_xlabel(label)
        ax.set_ylabel("images / s")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        if sweep == "batch_size":
            ax.set_xscale("log", base=2)
            ax.set_xticks([p[0] for p in pts], [str(p[0]) for p in pts])
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def format_sweep(rows: list[SweepRow]) -> str:
    lines = [f"{'sweep':<11} {'batch':>6} {'branches':>9} {'images/s':>9} {'epoch (50k)':>12} "
             f"{'peak mem MiB':>13}"]
    for r in rows:
        if r.note:
            lines.append(f"{r.sweep:<11} {r.batch_size:6d} {r.branches:9d}   {r.note}")
            continue
        lines.append(f"{r.sweep:<11} {r.batch_size:6d} {r.branches:9d} {r.images_per_s:9.1f} "
                     f"{_duration(r.epoch_s):>12} {r.peak_mem_mb:13.1f}")
    return "\n".join(lines)


# Command line ----------------------------------------------------------------------------
def settings_from_args(args: argparse.Namespace) -> BenchSettings:
    fields = {f.name for f in dataclasses.fields(BenchSettings)}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    for k in ("sweep_batch_sizes", "sweep_branches"):
        if k in given:
            given[k] = tuple(given[k])
    return BenchSettings(**given)


def command_line(s: BenchSettings, sweep: bool, out: str | Path, name: str) -> str:
    """The command that repeats a run, with every resolved setting spelled out."""
    parts = ["okddip-edu bench", f"--device {s.device}", f"--arch {s.arch}",
             f"--method {s.method}", f"--branches {s.branches}", f"--width {s.width}",
             f"--batch-size {s.batch_size}", f"--steps {s.steps}", f"--warmup {s.warmup}",
             f"--repeats {s.repeats}", f"--images {s.images}", f"--workers {s.workers}",
             f"--optimizer {s.optimizer}", "--amp" if s.amp else "--no-amp",
             "--channels-last" if s.channels_last else "--no-channels-last", f"--seed {s.seed}"]
    if s.compile:
        parts.append("--compile")
    if s.threads:
        parts.append(f"--threads {s.threads}")
    if s.matmul_size:
        parts.append(f"--matmul-size {s.matmul_size}")
    if sweep:
        parts += ["--sweep", "--sweep-batch-sizes", *map(str, s.sweep_batch_sizes),
                  "--sweep-branches", *map(str, s.sweep_branches)]
    return " ".join([*parts, f"--out {out}", f"--name {name}"])


def check(s: BenchSettings, sweep: bool = False) -> None:
    """Raise ``ValueError`` for settings that cannot run, naming the flag."""
    for name in ("steps", "batch_size", "repeats", "images", "branches", "width", "matmul_size"):
        v = getattr(s, name)
        if name == "matmul_size" and v is None:
            continue
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"--{name.replace('_', '-')}={v!r} is not valid; it must be >= 1")
    sizes = (s.batch_size, *s.sweep_batch_sizes) if sweep else (s.batch_size,)
    if max(sizes) > s.images or min(sizes) < 1:
        raise ValueError(f"batch sizes {sizes} are not valid for --images={s.images}; "
                         "each must be 1..images")
    if s.warmup < 0 or s.workers < 0:
        raise ValueError("--warmup and --workers must be >= 0")
    if s.threads is not None and s.threads < 1:
        raise ValueError(f"--threads={s.threads} is not valid; it must be >= 1")


def cmd_bench(args: argparse.Namespace) -> int:
    s = settings_from_args(args).resolved(sweep=args.sweep)
    check(s, args.sweep)
    threads = torch.get_num_threads()
    if s.threads:
        torch.set_num_threads(s.threads)
    try:
        return _run_command(args, s)
    finally:
        torch.set_num_threads(threads)


def _run_command(args: argparse.Namespace, s: BenchSettings) -> int:
    if not args.sweep:
        make_config(s)  # a bad arch/method/branches fails here, before anything is made
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = args.name or s.device
    if args.sweep:
        return _sweep_command(s, out, name)
    print(f"benchmarking {', '.join(PATHS)} on {s.device} ({s.repeats} repeat(s))", flush=True)
    if s.amp and not hardware.native_bf16(s.device):
        print(f"warning: --amp on {s.device} without native bf16 "
              f"({costs.bf16_skipped(s.device)}): ours runs emulated bf16, usually slower than "
              "fp32", flush=True)
    result = run_comparison(s, log=lambda m: print(m, flush=True))
    result["command"] = command_line(s, False, out, name)
    print(format_comparison(result))
    path = out / f"{name}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"written: {path}")
    return 0


def _sweep_command(s: BenchSettings, out: Path, name: str) -> int:
    print(f"sweep of ours: {s.method} {s.arch} on {s.device}, {s.steps} steps after "
          f"{s.warmup} warm-up", flush=True)
    device = torch.device(s.device)
    env = environment(device)  # taken at the start
    t0 = time.perf_counter()
    rows = run_sweep(s, log=lambda m: print(m, flush=True))
    print(format_sweep(rows))
    csv_path, png_path = out / f"{name}_sweep.csv", out / f"{name}_sweep.png"
    write_sweep_csv(rows, csv_path)
    plot_sweep(rows, png_path, f"ours: {s.method} {s.arch}, {engine._device_name(device)}")
    meta = {"benchmark": "sweep of ours", "command": command_line(s, True, out, name), **env,
            "settings": dataclasses.asdict(s), "wall_s": time.perf_counter() - t0,
            "memory_measure": MemoryProbe(device).kind,
            "rows": [dataclasses.asdict(r) for r in rows]}
    (out / f"{name}_sweep.json").write_text(json.dumps(meta, indent=2))
    print(f"written: {csv_path}, {png_path}")
    return 0


def register(subparsers) -> None:
    """Add the ``bench`` sub-command to the ``okddip-edu`` parser."""
    d = BenchSettings()
    p = subparsers.add_parser(
        "bench", help="training throughput: ours vs the classic pipeline vs CE only",
        description="Steady-state training throughput (images/s), time per 50,000-image "
        "epoch and peak memory of three paths on synthetic CIFAR-100-shaped data: ours "
        "(engine step + on-device augmentation), reference (torchvision transforms + "
        "DataLoader, fp32, plain loop) and ce-only (ours without distillation).")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=d.device)
    p.add_argument("--arch", help="architecture (default: resnet32; --sweep on CPU: resnet8)")
    p.add_argument("--method", default=d.method, help="distillation method (default: okddip)")
    p.add_argument("--branches", type=int, default=d.branches, help="branches n (default: 4)")
    p.add_argument("--width", type=int, default=d.width, help="ResNet base width (default 16)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--steps", type=int, help="timed steps (default: 30 CPU, 200 CUDA; "
                   "sweep: 3 / 50)")
    p.add_argument("--warmup", type=int, help="untimed steps first (default: 5 CPU, 20 CUDA; "
                   "sweep: 1 / 10)")
    p.add_argument("--repeats", type=int, default=d.repeats,
                   help="runs of each path, interleaved; medians are reported (default: 1)")
    p.add_argument("--images", type=int, default=d.images,
                   help=f"synthetic training images (default: {d.images})")
    p.add_argument("--workers", type=int,
                   help="reference DataLoader workers (default: min(8, CPU cores))")
    p.add_argument("--compile", action="store_true", help="torch.compile the model of ours")
    p.add_argument("--optimizer", choices=["auto", "plain", "foreach", "fused"],
                   default=d.optimizer, help="SGD kernel of ours (auto: fused on CUDA)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast for ours (default: on CUDA only, as the engine)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                   default=d.channels_last,
                   help="channels_last for ours (default: on, as the engine on every device)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--matmul-size", type=int,
                   help="side of the square matmul timed for the arithmetic ceiling "
                   "(default: 2048 on CPU, 8192 on CUDA)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--sweep", action="store_true",
                   help="measure ours against batch size and branches; write CSV + PNG")
    p.add_argument("--sweep-batch-sizes", type=int, nargs="+",
                   help=f"--sweep batch sizes (default: {' '.join(map(str, SWEEP_BATCH_SIZES))})")
    p.add_argument("--sweep-branches", type=int, nargs="+",
                   help=f"--sweep branch counts (default: {' '.join(map(str, SWEEP_BRANCHES))})")
    p.add_argument("--out", default="runs/bench", help="output folder (default: runs/bench)")
    p.add_argument("--name", help="file name stem (default: the device type, e.g. cpu.json)")
    p.set_defaults(func=cmd_bench)
