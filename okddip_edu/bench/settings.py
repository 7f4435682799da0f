"""Benchmark settings: what to measure and how, with the defaults that depend on the device.

:class:`BenchSettings` is one run of ``okddip-edu bench``; its fields are the command's
flags. Fields left ``None`` take a default for the device the run lands on
(:meth:`BenchSettings.resolved`): the CPU gets few steps, CUDA many; the sweep gets fewer
and, on the CPU, a smaller network.

Fast-path options apply to ``ours`` and ``ce-only`` only (``reference`` stays plain fp32):
``compile`` (``torch.compile`` of the model), ``optimizer="fused"`` (one fused SGD kernel;
the default ``auto`` picks it on CUDA), ``amp`` (bf16 autocast; on CUDA by default, as the
engine trains, and on the CPU only when asked, as the engine's ``cpu_amp``), and
``channels_last`` (the engine's default on every device; off keeps the NCHW layout).

:func:`check` rejects settings that cannot run, naming the flag to fix.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from .. import data, engine

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


def check(s: BenchSettings, sweep: bool = False) -> None:
    """Raise ``ValueError`` for settings that cannot run, naming the flag."""
    low = {"width": 2, "branches": 2}  # the smallest network and group that train
    for name in ("steps", "batch_size", "repeats", "images", "branches", "width", "matmul_size"):
        v = getattr(s, name)
        if name == "matmul_size" and v is None:
            continue
        if not isinstance(v, int) or v < low.get(name, 1):
            raise ValueError(f"--{name.replace('_', '-')}={v!r} is not valid; it must be >= "
                             f"{low.get(name, 1)}")
    sizes = (s.batch_size, *s.sweep_batch_sizes) if sweep else (s.batch_size,)
    if max(sizes) > s.images or min(sizes) < 1:
        raise ValueError(f"batch sizes {sizes} are not valid for --images={s.images}; "
                         "each must be 1..images")
    if s.warmup < 0 or s.workers < 0:
        raise ValueError("--warmup and --workers must be >= 0")
    if s.threads is not None and s.threads < 1:
        raise ValueError(f"--threads={s.threads} is not valid; it must be >= 1")
    if not 0 <= s.seed <= 2**31 - 1:
        raise ValueError(f"--seed={s.seed} is not valid; it must be 0..{2**31 - 1}")
    for flag, values, least in (("--sweep-batch-sizes", s.sweep_batch_sizes, 1),
                                ("--sweep-branches", s.sweep_branches, 2)):
        if min(values, default=0) < least:
            raise ValueError(f"{flag}={' '.join(map(str, values))} is not valid; each must be "
                             f">= {least}")
