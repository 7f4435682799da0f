"""The resumable runner: train what is missing, share the work between workers.

- a finished run (``final.json``) is skipped, an interrupted run resumes from its last
  checkpoint, nothing is recomputed or lost;
- ``results.csv`` and ``histories.csv`` are rewritten after each run (:mod:`.tables`), so a
  suite can be stopped at any time;
- several workers can share one suite directory (run the same command in two terminals, or
  on two GPUs): a run being trained holds a lock file (:class:`RunLock`), and the other
  workers pass it by; a lock whose owner is gone is taken over (:mod:`.locks`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import rundir
from .locks import RunLock
from .suites import Job, recorded_runs, status
from .tables import write_tables


def train_job(job: Job, *, splits=None, progress: bool = True, on_epoch_end=None) -> None:
    """Train one job to its last epoch: from its checkpoint when it has one, else afresh.
    The local runner and every Ray task call this."""
    from ..engine import fit

    fit(job.config, job.run_dir, resume=status(job) == "partial", splits=splits,
        progress=progress, on_epoch_end=on_epoch_end)


def run_suite(jobs: list[Job], out: str | Path, *, progress: bool = True,
              log=print) -> pd.DataFrame:
    """Run every job that is not finished; return the results table of all jobs."""
    from .. import data
    from ..engine import TrainingDiverged

    out = rundir.check_out_dir(out)
    splits_cache: dict[tuple, data.Splits] = {}
    recorded = recorded_runs(out, log)
    todo = [j for j in jobs if status(j, recorded) not in ("done", "recorded")]
    unique = {j.run_dir: j for j in todo}
    log(f"{len(jobs)} runs in the grid, {len(jobs) - len(todo)} finished, "
        f"{len(unique)} to run")
    elsewhere = []  # runs another live worker holds
    for i, job in enumerate(unique.values(), 1):
        if status(job) == "done":  # finished meanwhile, by this or another worker
            continue
        lock = RunLock(job.run_dir, log)
        if not lock.acquire():
            log(f"[{i}/{len(unique)}] {job.suite}/{job.variant} seed {job.seed}: another "
                f"worker is training it ({lock.describe()}); passed by")
            elsewhere.append(job)
            continue
        try:
            state = status(job)  # again, under the lock: another worker may have finished it
            if state == "done":
                continue
            resume = state == "partial"
            log(f"[{i}/{len(unique)}] {job.suite}/{job.variant} seed {job.seed}"
                f"{' (resuming)' if resume else ''} -> {job.run_dir}")
            key = (job.config.dataset, job.config.npz, job.config.val_size, job.config.data_root)
            if key not in splits_cache:
                splits_cache[key] = data.load(job.config.replace(train_subset=None))
            train_job(job, splits=splits_cache[key], progress=progress)
        except TrainingDiverged as err:  # one bad run must not stop the suite
            log(f"    diverged, left out of the results: {err}")
            continue
        finally:
            lock.release()
        write_tables(jobs, out, log)
    unfinished = [j for j in elsewhere if status(j) != "done"]
    if unfinished:
        log(f"{len(unfinished)} run(s) held by other workers are not finished yet: "
            + ", ".join(f"{j.suite}/{j.variant} seed {j.seed}" for j in unfinished))
    return write_tables(jobs, out, log)
