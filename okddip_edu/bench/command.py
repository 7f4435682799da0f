"""The ``okddip-edu bench`` command: flags in, a table printed, JSON (or CSV + PNG) written.

    okddip-edu bench --device cpu --steps 20 --warmup 3 --repeats 3 --out assets/benchmarks
    okddip-edu bench --device cuda --out assets/benchmarks/h100
    okddip-edu bench --device cpu --sweep --out assets/benchmarks

Every flag is a field of :class:`~okddip_edu.bench.settings.BenchSettings`. The comparison
writes ``OUT/NAME.json``; ``--sweep`` writes ``OUT/NAME_sweep.{csv,png,json}``. Each file
records the command that repeats the run with every resolved setting spelled out
(:func:`command_line`), the machine and the library versions.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from .. import costs, hardware, rundir
from .compare import environment, format_comparison, run_comparison
from .memory import MemoryProbe
from .pipelines import make_config
from .settings import PATHS, SWEEP_BATCH_SIZES, SWEEP_BRANCHES, BenchSettings, check
from .sweep import format_sweep, plot_sweep, run_sweep, write_sweep_csv


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


def cmd_bench(args: argparse.Namespace) -> int:
    if args.name is not None and (not args.name.strip() or Path(args.name).name != args.name
                                  or args.name in (".", "..")):
        raise ValueError(f"--name={args.name!r} is not valid; it must be a file name stem, "
                         "without folders (the folder is --out)")
    given = [f for f in ("sweep_batch_sizes", "sweep_branches") if getattr(args, f) is not None]
    if given and not args.sweep:
        raise ValueError(f"--{given[0].replace('_', '-')} applies only with --sweep")
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
    plot_sweep(rows, png_path, f"ours: {s.method} {s.arch}, {rundir.device_name(device)}")
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
