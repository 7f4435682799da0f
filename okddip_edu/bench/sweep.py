"""The sweep: ``ours`` against batch size and against the number of branches.

Two one-dimensional sweeps around the settings: every batch size of ``sweep_batch_sizes`` at
``branches``, then every branch count of ``sweep_branches`` at ``batch_size``. Each point is
measured ``repeats`` times (:func:`~okddip_edu.bench.timing.measure`) and reported as the
median; a point the method cannot run (OKDDip needs a leader and two peers, so n >= 3) is
recorded as skipped, with the reason. The rows go to a CSV, a text table and a two-panel
figure (images/s against batch size, log2 axis, and against branches).
"""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .compare import _duration, median_of
from .pipelines import make_config, synthetic_images
from .settings import BenchSettings
from .timing import measure


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
