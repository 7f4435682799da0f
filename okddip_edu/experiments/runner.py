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

import json
import os
import socket
from pathlib import Path

import pandas as pd

from .. import rundir
from .suites import Job, recorded_runs, status
from .tables import write_tables


class RunLock:
    """``run_dir/.lock``: which worker trains the run, as ``{"host", "pid", "start"}``.

    ``start`` is the owner's process start time, so a lock whose pid now belongs to another
    process (pid reuse after a reboot) is recognised as stale and taken over, as is one whose
    process is gone. A lock from another host is trusted (its liveness cannot be seen from
    here); delete it by hand if that worker is known to be dead.
    """

    def __init__(self, run_dir: Path):
        self.path = run_dir / ".lock"
        self.held = False

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if self.owner_alive():
                    return False
                self.path.unlink(missing_ok=True)  # stale: its worker died
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(_me(), f)
            self.held = True
            return True
        return False

    def owner(self) -> dict | None:
        """The lock's owner, or None when the lock is gone or unreadable."""
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return None
        try:
            owner = json.loads(text)
        except ValueError:
            return None
        if isinstance(owner, int):  # an older lock: the pid alone
            return {"host": socket.gethostname(), "pid": owner, "start": None}
        return owner if isinstance(owner, dict) and "pid" in owner else None

    def owner_alive(self) -> bool:
        owner = self.owner()
        if owner is None:
            return False
        if owner.get("host") != socket.gethostname():
            return True  # another machine's worker: cannot tell, so trust it
        pid = owner.get("pid")
        if not isinstance(pid, int) or pid == os.getpid():
            return False
        started = process_start(pid)
        if started is None:
            return False  # no such process
        return owner.get("start") is None or abs(started - owner["start"]) < 1.0

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def process_start(pid: int) -> float | None:
    """Start time of process ``pid`` (seconds since boot on Linux, else epoch seconds via
    psutil), or None when no such process exists."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    except FileNotFoundError:
        return None
    except OSError:
        pass
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except ImportError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return 0.0
    except Exception:  # psutil.NoSuchProcess
        return None


def _me() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": process_start(os.getpid())}


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
    recorded = recorded_runs(out)
    todo = [j for j in jobs if status(j, recorded) not in ("done", "recorded")]
    unique = {j.run_dir: j for j in todo}
    log(f"{len(jobs)} runs in the grid, {len(jobs) - len(todo)} finished, "
        f"{len(unique)} to run")
    elsewhere = []  # runs another live worker holds
    for i, job in enumerate(unique.values(), 1):
        if status(job) == "done":  # finished meanwhile, by this or another worker
            continue
        lock = RunLock(job.run_dir)
        if not lock.acquire():
            log(f"[{i}/{len(unique)}] {job.suite}/{job.variant} seed {job.seed}: another "
                f"worker is training it ({lock.owner()}); passed by")
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
