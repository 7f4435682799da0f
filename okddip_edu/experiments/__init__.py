"""Experiment suites: the paper's comparisons and ablations as grids of configs x seeds.

    okddip-edu ablate methods --preset quick --seeds 3 --out runs/suites

A suite is a list of variants, each a few config overrides of one base config (OKDDip with
the preset's settings). The runner

- runs only what is missing: a finished run (``final.json``) is skipped, an interrupted run
  resumes from its last checkpoint, nothing is recomputed or lost;
- shares identical runs between suites: OKDDip's default variant appears in every ablation
  but is trained once per seed (run directories are named by the config's content);
- rewrites ``results.csv`` (one row per suite, variant and seed) and ``histories.csv`` (every
  epoch of every run) after each run, so a suite can be stopped at any time;
- lets several workers share one suite directory (run the same command in two terminals, or
  on two GPUs): a run being trained holds a lock file, and the other workers pass it by;
- or hands every missing run to Ray, one task each, on any number of machines
  (``--executor ray``: :mod:`.ray_runner`, :mod:`.ray_tasks`), with the same runs and tables.
"""

from .command import cmd_ablate, iter_suites, register
from .runner import RunLock, run_suite
from .suites import DEFAULT_SEEDS, SUITES, Job, Variant, expand, recorded_runs, run_key, status
from .tables import write_tables

__all__ = ["DEFAULT_SEEDS", "SUITES", "Job", "RunLock", "Variant", "cmd_ablate", "expand",
           "iter_suites", "recorded_runs", "register", "run_key", "run_suite", "status",
           "write_tables"]
