"""Benchmark: steady-state training throughput of our pipeline against the classic one.

    okddip-edu bench --device cpu --steps 20 --warmup 3 --repeats 3 --out assets/benchmarks
    okddip-edu bench --device cuda --out assets/benchmarks/h100
    okddip-edu bench --device cpu --sweep --out assets/benchmarks

Three paths train the same model on CIFAR-shaped synthetic data: ``ours`` (the engine's
step fed by the on-device loader), ``reference`` (torchvision transforms, DataLoader
workers, fp32, a plain loop) and ``ce-only`` (ours trained by cross-entropy alone). Per
path: throughput (images/s), time per 50,000-image epoch, CPU time per step, peak memory,
and GFLOP/s against the device's measured matmul rates.

One concept per module:

- :mod:`~okddip_edu.bench.settings`: :class:`BenchSettings`, device-dependent defaults,
  :func:`check`;
- :mod:`~okddip_edu.bench.pipelines`: the three paths (data, model, optimizer, step);
- :mod:`~okddip_edu.bench.memory`: :class:`MemoryProbe`, the peak-memory reading;
- :mod:`~okddip_edu.bench.timing`: the timed window (:func:`time_steps`, :func:`measure`)
  and where the time goes (:func:`batch_costs`, :func:`loss_costs`);
- :mod:`~okddip_edu.bench.compare`: :func:`run_comparison`, the ratios and the arithmetic
  ceiling;
- :mod:`~okddip_edu.bench.sweep`: ``ours`` against batch size and branches, CSV and figure;
- :mod:`~okddip_edu.bench.command`: the ``okddip-edu bench`` sub-command.
"""

from __future__ import annotations

from .command import cmd_bench, command_line, register, settings_from_args
from .compare import (arithmetic, environment, format_arithmetic, format_comparison,
                      median_of, paired_ratios, ratios, run_comparison, summarize_path)
from .memory import MemoryProbe, worker_rss_mb
from .pipelines import (Batch, StepFn, Trainer, build_model, device_batches, make_config,
                        make_optimizer, make_ours, make_reference, make_trainer, ours_loader,
                        ours_step, plain_step, reference_batches, synthetic_images)
from .settings import (DEFAULT_STEPS, DEFAULT_WARMUP, EPOCH_IMAGES, MEAN, NUM_CLASSES, PATHS,
                       STD, SWEEP_ARCH, SWEEP_BATCH_SIZES, SWEEP_BRANCHES, SWEEP_STEPS,
                       SWEEP_WARMUP, BenchSettings, check)
from .sweep import (SweepRow, format_sweep, plot_sweep, run_sweep, sweep_points,
                    write_sweep_csv)
from .timing import Measurement, batch_costs, cpu_seconds, loss_costs, measure, time_steps

__all__ = [
    # settings
    "PATHS", "EPOCH_IMAGES", "NUM_CLASSES", "MEAN", "STD", "SWEEP_BATCH_SIZES",
    "SWEEP_BRANCHES", "DEFAULT_STEPS", "DEFAULT_WARMUP", "SWEEP_STEPS", "SWEEP_WARMUP",
    "SWEEP_ARCH", "BenchSettings", "check",
    # pipelines
    "Batch", "StepFn", "Trainer", "synthetic_images", "ours_loader", "reference_batches",
    "device_batches", "make_config", "make_optimizer", "build_model", "ours_step",
    "plain_step", "make_ours", "make_reference", "make_trainer",
    # memory and timing
    "MemoryProbe", "worker_rss_mb", "Measurement", "time_steps", "cpu_seconds", "measure",
    "batch_costs", "loss_costs",
    # comparison
    "median_of", "summarize_path", "ratios", "paired_ratios", "environment",
    "run_comparison", "arithmetic", "format_comparison", "format_arithmetic",
    # sweep
    "SweepRow", "sweep_points", "run_sweep", "write_sweep_csv", "plot_sweep", "format_sweep",
    # command line
    "settings_from_args", "command_line", "cmd_bench", "register",
]
