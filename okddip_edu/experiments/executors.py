"""``okddip-edu ablate --executor local | ray``: who trains the runs of a suite.

- ``local`` (the default): this process trains the missing runs one after the other
  (:func:`~.runner.run_suite`); more terminals on the same folder share the work through
  lock files.
- ``ray``: every missing run is a Ray task (:func:`~.ray_runner.run_suite_ray`), on a local
  Ray instance or on the cluster at ``--address``. Ray is an optional extra:
  ``pip install 'okddip-edu[ray]'``.

Both write the same run directories and the same ``results.csv`` and ``histories.csv``.
"""

from __future__ import annotations

import math
from pathlib import Path


def add_executor_flags(p) -> None:
    g = p.add_argument_group("executor")
    g.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local: train here, run after run (default); ray: one Ray task per run")
    g.add_argument("--address", help="ray: address of a running cluster (e.g. auto, "
                   "HEAD_IP:6379); default: start a local Ray instance")
    g.add_argument("--gpus-per-run", type=float, help="ray: GPUs per run (default: 1 when "
                   "the cluster has GPUs, else 0; 0.5 puts two runs on a GPU)")
    g.add_argument("--cpus-per-run", type=float, default=1.0,
                   help="ray: CPU cores per run, also its torch threads (default: 1)")
    g.add_argument("--retries", type=int, default=2,
                   help="ray: retries of a run that fails or whose worker dies, each from "
                   "its last checkpoint (default: 2)")


def check_executor_flags(args) -> None:
    """The Ray flags' values, checked whichever executor runs (a bad value is never silent)."""
    from ..cli import CLIError

    for flag, value, ok, allowed in (
            ("--retries", args.retries, args.retries >= 0, "an integer >= 0"),
            ("--cpus-per-run", args.cpus_per_run,
             math.isfinite(args.cpus_per_run) and args.cpus_per_run > 0, "a number > 0"),
            ("--gpus-per-run", args.gpus_per_run, args.gpus_per_run is None or (
                math.isfinite(args.gpus_per_run) and args.gpus_per_run >= 0), ">= 0")):
        if not ok:
            raise CLIError(f"{flag}={value} is not valid; it must be {allowed}")


def run_on_ray(jobs, args) -> int:
    """The ``--executor ray`` path of ``okddip-edu ablate``; exit status 1 if a run failed."""
    from ..cli import CLIError
    from .ray_runner import INSTALL, ray_available, run_suite_ray

    if not ray_available():
        raise CLIError(f"--executor ray needs Ray, which is not installed here: {INSTALL}")
    check_executor_flags(args)
    sweep = run_suite_ray(jobs, args.out, address=args.address,
                          gpus_per_run=args.gpus_per_run, cpus_per_run=args.cpus_per_run,
                          retries=args.retries, progress=not args.quiet,
                          log=print if args.quiet else None)
    print(f"{len(sweep.results)} finished rows in {Path(args.out) / 'results.csv'} "
          f"({sweep.seconds:.0f} s)")
    for name, error in sweep.failed.items():
        print(f"failed: {name}: {error}")
    return 1 if sweep.failed else 0
