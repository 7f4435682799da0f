"""What a Ray worker runs: one job of a suite, under its run lock, with an attempt journal.

:func:`train_task` is the body of every Ray task of ``okddip-edu ablate --executor ray``.
It trains the job with :func:`~okddip_edu.experiments.runner.train_job`, the function the
local runner calls, so a run is the same run whichever executor trains it: same directory,
same files, resumed from its checkpoint when it has one.

- **Lock.** The task holds the run's lock file (:class:`~.runner.RunLock`) while it trains,
  so a local worker started on the same suite folder passes the run by, and the task waits
  while a local worker holds it.
- **Journal.** Each attempt appends to ``run_dir/attempts.log``: ``start`` (with its pid,
  host and the epoch it resumes after), then ``done``, ``diverged: ...`` or
  ``failed: ...``. An attempt whose process was killed writes nothing more; the next
  attempt finds its ``start`` unanswered and writes ``lost: ...``. The driver reads these
  lines to report failures as they happen.
- **Retries.** An unexpected error is raised again, so Ray retries the task
  (``retry_exceptions``) and the retry resumes from the checkpoint the failed attempt left;
  a killed worker is retried the same way (``max_retries``). Errors that would only repeat
  (a diverged run, a config the checkpoint refuses, bad input) are returned, not retried.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from ..checkpoint import CheckpointError
from .runner import RunLock, train_job
from .suites import Job, status

JOURNAL = "attempts.log"
LOCK_POLL_S = 10.0  # how often a task waiting for a local worker's lock looks again


def note(run_dir: Path, text: str) -> None:
    """Append one line to the run's attempt journal."""
    with open(run_dir / JOURNAL, "a") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}\n")


def journal(run_dir: Path) -> list[str]:
    """The run's journal lines, without their time stamps."""
    path = run_dir / JOURNAL
    if not path.exists():
        return []
    return [line.split(" ", 1)[1] for line in path.read_text().splitlines() if " " in line]


def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def epochs_done(job: Job) -> int:
    """Epochs in the run's history (written with each checkpoint)."""
    path = job.run_dir / "history.csv"
    return max(len(path.read_text().splitlines()) - 1, 0) if path.exists() else 0


def train_task(job: Job, threads: int = 1, on_epoch_end=None) -> dict:
    """One attempt at ``job``. Returns ``{"status": "done" | "diverged" | "failed",
    "error": str | None}``; raises on errors worth a retry."""
    import torch

    from ..data import DataUnavailableError
    from ..engine import TrainingDiverged

    torch.set_num_threads(max(1, threads))
    run_dir = job.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = journal(run_dir)
    if lines and lines[-1].startswith("start"):  # that attempt's process died mid-run
        note(run_dir, f"lost: the process of the last attempt ({lines[-1][6:]}) died "
                      "without a word (killed, out of memory, or its node went away)")
        _drop_lock_of(run_dir, lines[-1])
    lock = RunLock(run_dir)
    while not lock.acquire():  # a local worker on this machine trains it now
        if status(job) == "done":
            return {"status": "done", "error": None}
        time.sleep(LOCK_POLL_S)
    try:
        if status(job) == "done":  # finished meanwhile, by that local worker
            return {"status": "done", "error": None}
        k = epochs_done(job)
        note(run_dir, f"start pid={os.getpid()} host={socket.gethostname()}"
                      + (f" resuming after epoch {k - 1}" if k else ""))
        try:
            train_job(job, progress=False, on_epoch_end=on_epoch_end)
        except TrainingDiverged as err:  # deterministic: a retry would diverge again
            note(run_dir, f"diverged: {one_line(err)}")
            return {"status": "diverged", "error": one_line(err)}
        except (CheckpointError, DataUnavailableError, FileExistsError, ValueError) as err:
            note(run_dir, f"failed: {one_line(err)}")  # bad input: a retry changes nothing
            return {"status": "failed", "error": one_line(err)}
        except Exception as err:
            note(run_dir, f"failed: {one_line(err)}")
            raise  # Ray retries it, from the checkpoint this attempt left
        note(run_dir, "done")
        return {"status": "done", "error": None}
    finally:
        lock.release()


def _drop_lock_of(run_dir: Path, start_line: str) -> None:
    """Remove the lock a dead attempt left. Its pid may belong to another machine, where
    the lock's own liveness test (a signal to that pid here) cannot tell."""
    pid = start_line.split("pid=", 1)[-1].split(" ", 1)[0]
    owner = RunLock(run_dir).owner()  # {"host", "pid", "start"} (an older lock: the pid)
    if owner is not None and str(owner["pid"]) == pid:
        (run_dir / ".lock").unlink(missing_ok=True)


def probe_storage(marker: str) -> tuple[str, bool]:
    """Run on one node: does it see ``marker``, written by the driver? It answers by
    writing ``marker.<host>`` beside it, which the driver then looks for."""
    host = socket.gethostname()
    path = Path(marker)
    seen = path.exists()
    if seen:
        try:
            path.with_name(f"{path.name}.{host}").write_text(host)
        except OSError:
            seen = False
    return host, seen
