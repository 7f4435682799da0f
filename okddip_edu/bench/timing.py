"""Step timing: a path warmed up, then timed over a window that never waits on the device.

For ``steps`` timed steps of ``B`` images each, after ``warmup`` untimed ones (worker
start-up, compilation)::

    images_per_s = steps * B / t_window
    epoch_s      = 50,000 / images_per_s          # a CIFAR training epoch, no evaluation
    step_ms      = 1000 * t_window / steps
    cpu_ms/step  = 1000 * (CPU time of this process + its workers) / steps

The window is bracketed by a device sync (``torch.cuda.synchronize()`` on CUDA) and nothing
syncs inside it: no ``.item()``; the loss is summed as a tensor on the device and read once,
after the window. CPU time counts the work a path does, not the time other programs held the
cores, so on a shared machine it is steadier than wall time.

:func:`batch_costs` and :func:`loss_costs` split the time: one batch of each loader made
alone, and the loss alone (forward + backward to the model outputs) with and without
distillation.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import Iterator

import torch

from .. import costs, data
from .memory import MemoryProbe, worker_rss_mb
from .pipelines import (Batch, StepFn, build_model, device_batches, make_config,
                        make_trainer, ours_loader, reference_batches)
from .settings import EPOCH_IMAGES, MEAN, NUM_CLASSES, STD, BenchSettings


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
