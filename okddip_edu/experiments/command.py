"""``okddip-edu ablate SUITE``: expand a suite and run what is missing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

from .. import rundir
from ..config import PRESETS
from ..validation import DATASET_FIELDS
from .executors import add_executor_flags, check_executor_flags, run_on_ray
from .runner import run_suite
from .suites import SUITES, Job, expand, recorded_runs, status


def register(sub) -> None:
    p = sub.add_parser("ablate", help="run a comparison or ablation suite (resumable)",
                       description="Run every missing run of a suite: "
                       f"{', '.join(SUITES)} (or 'all'). Finished runs are skipped, an "
                       "interrupted one resumes. Writes results.csv and histories.csv.")
    p.add_argument("suite", help=f"one of: {', '.join(SUITES)}, all")
    p.add_argument("--preset", choices=PRESETS, default="quick")
    p.add_argument("--dataset", help="override the preset's dataset")
    p.add_argument("--arch", help="override the preset's architecture")
    p.add_argument("--epochs", type=int, help="override the preset's epochs")
    p.add_argument("--npz", help="cifar10-5k source file, if not in $OKDDIP_CIFAR10_5K")
    p.add_argument("--device", help="auto | cpu | cuda")
    p.add_argument("--seeds", type=int, help="seeds per variant (default: methods 3, others 2)")
    p.add_argument("--variants", help="only these variants, comma-separated "
                   "(e.g. baseline,independent,okddip; default: all of the suite's)")
    p.add_argument("--out", default="runs/suites", help="suite directory (default: runs/suites)")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their status only")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_executor_flags(p)
    p.set_defaults(func=cmd_ablate)


def cmd_ablate(args) -> int:
    check_executor_flags(args)
    rundir.check_out_dir(args.out, create=not args.dry_run)
    names = list(SUITES) if args.suite == "all" else [args.suite]
    jobs: list[Job] = []
    for name in names:
        jobs += expand(name, args.preset, args.seeds, args.out, dataset=args.dataset,
                       arch=args.arch, epochs=args.epochs, npz=args.npz, device=args.device)
    # Seed-major: every suite gets its first seed before any gets its second, so a grid
    # stopped early still covers every suite.
    jobs = only_variants(jobs, names, args.variants)
    other = sorted({j.config.dataset for j in jobs} - set(DATASET_FIELDS["npz"]))
    if args.npz and other:
        raise ValueError(f"--npz does not apply to dataset {other[0]!r} (it applies to: "
                         f"{', '.join(DATASET_FIELDS['npz'])})")
    jobs.sort(key=lambda j: j.seed)
    if args.dry_run:
        recorded = recorded_runs(args.out, set_aside=False)  # a dry run writes nothing
        for j in jobs:
            print(f"{status(j, recorded):8s} {j.suite}/{j.variant} seed {j.seed}  {j.run_dir}")
        return 0
    if args.executor == "ray":
        return run_on_ray(jobs, args)
    t0 = time.perf_counter()
    results = run_suite(jobs, args.out, progress=not args.quiet)
    print(f"{len(results)} finished rows in {Path(args.out) / 'results.csv'} "
          f"({time.perf_counter() - t0:.0f} s)")
    return 0


def only_variants(jobs: list[Job], suites: list[str], variants: str | None) -> list[Job]:
    """Keep the jobs of the named variants; an unknown name is an error naming the known."""
    if variants is None:
        return jobs
    wanted = [v.strip() for v in variants.split(",") if v.strip()]
    known = list(dict.fromkeys(v.name for s in suites for v in SUITES[s]))
    unknown = [v for v in wanted if v not in known]
    if unknown or not wanted:
        raise ValueError(f"--variants {variants!r}: {', '.join(unknown) or 'no name'} is not "
                         f"a variant of {', '.join(suites)}; allowed: {', '.join(known)}")
    return [j for j in jobs if j.variant in wanted]


def iter_suites() -> Iterator[str]:
    yield from SUITES
