"""The side-by-side comparison: every path, repeated, summarised, with its arithmetic ceiling.

:func:`run_comparison` measures ``ours``, ``reference`` and ``ce-only`` ``repeats`` times,
interleaved (a slow drift of a shared machine hits every path alike), and reports the
median of each figure over the repeats. The ratios, on those medians::

    ours / reference      = images_per_s(ours) / images_per_s(reference)     # speed-up
    {method} / ce-only    = images_per_s(ce-only) / images_per_s(ours)       # a time ratio
    distillation overhead = 100 * ({method} / ce-only - 1)  %

and the same ratios within each repeat (paths run back to back), one value per repeat.

**Arithmetic.** Each path's rate against this device's measured matmul rates
(``costs.matmul_rates``, the best of the repeats), with ``F`` the training FLOPs of one
image (:func:`okddip_edu.costs.train_flops_per_image`)::

    GFLOP/s(path)  = images_per_s(path) * F / 1e9
    share_of_fp32  = GFLOP/s(path) / matmul GFLOP/s (fp32)      # likewise bf16, if native
    fp32 bound     = matmul GFLOP/s (fp32) / GFLOP/s(reference)

The fp32 bound is the most any fp32 rewrite of ``ours`` could gain over the reference on
this device: nothing computes faster than its dense matmul.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import statistics
import time
from typing import Callable

import torch

from .. import costs, rundir
from .memory import MemoryProbe
from .pipelines import make_config, synthetic_images
from .settings import EPOCH_IMAGES, NUM_CLASSES, PATHS, BenchSettings
from .timing import Measurement, batch_costs, loss_costs, measure


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
    return {"device": rundir.device_name(device), "device_type": device.type,
            "versions": rundir.versions(), "platform": platform.platform(),
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
