"""The resumable runner: train what is missing, share the work between workers.

- a finished run (``final.json``) is skipped, an interrupted run resumes from its last
  checkpoint, nothing is recomputed or lost;
- ``results.csv`` and ``histories.csv`` are rewritten after each run (:mod:`.tables`), so a
  suite can be stopped at any time;
- several workers can share one suite directory (run the same command in two terminals, or
  on two GPUs): a run being trained holds a lock file (:class:`RunLock`), and the other
  workers pass it by.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .suites import Job, recorded_runs, status
from .tables import write_tables


class RunLock:
    """``run_dir/.lock`` holding the owner's pid; a lock whose owner is gone is taken over."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / ".lock"
        self.held = False

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if self._owner_alive():
                    return False
                self.path.unlink(missing_ok=True)  # stale: its worker died
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            self.held = True
            return True
        return False

    def _owner_alive(self) -> bool:
        try:
            pid = int(self.path.read_text().strip() or 0)
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError, FileNotFoundError):
            return False
        except PermissionError:
            return True
        return pid != os.getpid()

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


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

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    splits_cache: dict[tuple, data.Splits] = {}
    recorded = recorded_runs(out)
    todo = [j for j in jobs if status(j, recorded) not in ("done", "recorded")]
    unique = {j.run_dir: j for j in todo}
    log(f"{len(jobs)} runs in the grid, {len(jobs) - len(todo)} finished, "
        f"{len(unique)} to run")
    for i, job in enumerate(unique.values(), 1):
        if status(job) == "done":  # finished meanwhile, by this or another worker
            continue
        lock = RunLock(job.run_dir)
        if not lock.acquire():
            log(f"[{i}/{len(unique)}] {job.suite}/{job.variant} seed {job.seed}: another "
                "worker is training it; passed by")
            continue
        try:
            resume = status(job) == "partial"
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
        write_tables(jobs, out)
    return write_tables(jobs, out)
