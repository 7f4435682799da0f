"""Sweeps on Ray: every missing run of a suite is one Ray task, on any number of machines.

    okddip-edu ablate methods --preset paper --seeds 3 --executor ray --address auto

The driver (this module) expands nothing itself: it takes the jobs of
:func:`~okddip_edu.experiments.suites.expand`, keeps those that are not finished (the same
``done`` / ``recorded`` / ``partial`` rules as the local runner), and submits one task per
run directory. Ray places each task where its resources are free (``--gpus-per-run``,
``--cpus-per-run``); the driver gathers results as tasks finish, rewriting ``results.csv``
and ``histories.csv`` with :func:`~okddip_edu.experiments.tables.write_tables` after each,
so the tables are those of the local runner, row for row.

Failures are Ray's to retry: a worker that dies (killed, out of memory, node lost) is
retried up to ``retries`` times (``max_retries``), and so is a task that raises
(``retry_exceptions``); each retry resumes from the checkpoint of the failed attempt
(:mod:`.ray_tasks`). A run that still fails is reported with its error; the others go on.

Every worker reads and writes the run directories, so the output folder must be on storage
that every node mounts at the same path (NFS, Lustre, GPFS, ...). :func:`check_storage`
checks that at start, with a marker file each node must see.
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
from tqdm.auto import tqdm

from .ray_tasks import journal, one_line, probe_storage, train_task
from .suites import Job, recorded_runs, status
from .tables import write_tables

INSTALL = "pip install 'okddip-edu[ray]'"
LOCAL_OBJECT_STORE = 128 * 2**20  # bytes; tasks pass small dicts, never tensors
FORWARDED_ENV = ("OKDDIP_CIFAR10_5K",)  # data locations for remote workers (and the data folder)


class StorageError(FileNotFoundError):
    """A Ray worker cannot see (or write) the suite's output folder."""


@dataclass
class SweepResult:
    results: pd.DataFrame  # results.csv after the sweep
    failed: dict[str, str] = field(default_factory=dict)  # "suite/variant seed s" -> error
    seconds: float = 0.0  # wall time of the sweep, start-up and storage check included


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def connect(address: str | None, num_cpus: int | None = None) -> bool:
    """Join the cluster at ``address``, or start a local Ray instance (None). Returns
    whether this call started Ray (and so should shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    if address:  # remote workers do not inherit this shell: give them its data locations
        from ..data import ENV_DATA, data_root

        env = {k: str(Path(os.environ[k]).resolve()) for k in FORWARDED_ENV if k in os.environ}
        env[ENV_DATA] = str(data_root().resolve())  # ./data means this folder, not theirs
        try:
            ray.init(address=address, runtime_env={"env_vars": env} if env else None)
        except ConnectionError as err:
            raise ValueError(f"--address={address!r} is not valid: no Ray cluster let us in "
                             f"({one_line(err)}); start one with `ray start --head`, use its "
                             "authentication here (RAY_AUTH_MODE=token, its token), or drop "
                             "--address for a local Ray instance") from err
    else:
        ray.init(num_cpus=num_cpus, object_store_memory=LOCAL_OBJECT_STORE,
                 include_dashboard=False)
    return True


def check_storage(out: Path, timeout_s: float = 120.0) -> int:
    """Every alive node sees a marker file the driver wrote in ``out``, and the driver
    sees the answer each node writes beside it. Returns the number of nodes; raises
    :class:`StorageError` naming the folder and the first node that failed."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    marker = out / f".storage-check-{uuid.uuid4().hex[:8]}"
    write_marker(marker)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    probe = ray.remote(num_cpus=0, max_retries=0)(probe_storage)
    refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
        n["NodeID"], soft=False)).remote(str(marker)) for n in nodes]
    try:
        answers = ray.get(refs, timeout=timeout_s)
    except ray.exceptions.GetTimeoutError as err:
        raise StorageError(f"not every Ray node answered the storage check of {out.resolve()} "
                           f"within {timeout_s:.0f} s; see `ray status`") from err
    finally:
        for p in out.glob(f"{marker.name}*"):
            p.unlink(missing_ok=True)
    for (host, seen), node in zip(answers, nodes):
        if not seen:
            raise StorageError(
                f"the Ray worker on {host} ({node.get('NodeManagerAddress')}) cannot see the "
                f"output folder {out.resolve()}: run directories must be on storage every "
                "node mounts at the same path (NFS, Lustre, ...); choose such a folder with "
                "--out")
    return len(nodes)


def write_marker(marker: Path) -> None:
    marker.write_text(str(os.getpid()))


def run_suite_ray(jobs: list[Job], out: str | Path, *, address: str | None = None,
                  gpus_per_run: float | None = None, cpus_per_run: float = 1.0,
                  retries: int = 2, num_cpus: int | None = None, progress: bool = True,
                  log: Callable[[str], None] | None = None,
                  on_epoch_end: Callable | None = None) -> SweepResult:
    """Run every job that is not finished as a Ray task; gather the tables as they finish.

    ``gpus_per_run`` None: 1 when the cluster has GPUs, else 0 (fractions share a GPU).
    ``num_cpus`` sizes a local instance only. ``on_epoch_end`` is handed to each run's
    ``fit`` on its worker (a callback for live logging, or for fault injection in tests).
    """
    import ray

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = connect(address, num_cpus)
    try:
        nodes = check_storage(out)
        if gpus_per_run is None:
            gpus_per_run = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        recorded = recorded_runs(out)
        todo = {j.run_dir: j for j in jobs if status(j, recorded) not in ("done", "recorded")}
        bar = tqdm(total=len(todo), unit="run", desc="suite on ray", disable=not progress)
        say = log or bar.write
        say(f"{len(jobs)} runs in the grid, {len(jobs) - len(todo)} finished, {len(todo)} to "
            f"run as Ray tasks on {nodes} node(s), {gpus_per_run:g} GPU and "
            f"{cpus_per_run:g} CPU each")
        _fetch_data(todo.values())
        task = ray.remote(train_task)
        refs = {}
        for job in todo.values():
            if gpus_per_run == 0 and job.config.device == "auto":  # no GPU reserved: none used
                job = dataclasses.replace(job, config=job.config.replace(device="cpu"))
            ref = task.options(num_cpus=cpus_per_run, num_gpus=gpus_per_run,
                               max_retries=retries, retry_exceptions=True,
                               name=f"{job.suite}/{job.variant}/seed{job.seed}").remote(
                job, max(1, int(cpus_per_run)), on_epoch_end)
            refs[ref] = job
        failed = _gather(refs, jobs, out, bar, say, retries)
        bar.close()
        return SweepResult(write_tables(jobs, out), failed, time.perf_counter() - t0)
    finally:
        if started:
            ray.shutdown()


def _fetch_data(jobs) -> None:
    """Load each dataset once on the driver before any task starts: a missing dataset
    fails here, in one line, and a download happens once, not in every task at once."""
    from .. import data

    seen = set()
    for job in jobs:
        cfg = job.config
        key = (cfg.dataset, cfg.npz, cfg.val_size, cfg.data_root)
        if key not in seen:
            seen.add(key)
            data.load(cfg.replace(train_subset=None))


def _name(job: Job) -> str:
    return f"{job.suite}/{job.variant} seed {job.seed}"


def _gather(refs: dict, jobs: list[Job], out: Path, bar, say, retries: int) -> dict[str, str]:
    """Wait for the tasks; report attempts that fail as they happen; write the tables
    after each finished run. Returns the runs that failed for good, with their errors."""
    import ray
    from ray.exceptions import RayError, RayTaskError

    failed: dict[str, str] = {}
    base = {job.run_dir: len(journal(job.run_dir)) for job in refs.values()}  # earlier runs
    read = dict(base)
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=1.0)
            running = _scan(refs.values(), base, read, say, retries)
            for ref in ready:
                job = refs.pop(ref)
                try:
                    outcome = ray.get(ref)
                except RayTaskError as err:  # raised on every attempt
                    outcome = {"status": "failed", "error": one_line(err.cause or err)}
                except RayError as err:  # its worker died on every attempt
                    outcome = {"status": "failed", "error": f"{type(err).__name__}: the "
                               f"worker died {retries + 1} times"}
                if outcome["status"] == "diverged":
                    say(f"{_name(job)}: diverged, left out of the results: {outcome['error']}")
                elif outcome["status"] == "failed":
                    failed[_name(job)] = outcome["error"]
                    say(f"{_name(job)}: failed for good: {outcome['error']}")
                write_tables(jobs, out)
                bar.update()
            running = min(running, len(refs))
            bar.set_postfix(running=running, queued=len(refs) - running, failed=len(failed))
    except KeyboardInterrupt:  # finished runs are in the tables; the others resume later
        for ref in refs:
            ray.cancel(ref, force=True)
        write_tables(jobs, out)
        raise
    return failed


def _scan(jobs, base: dict, read: dict, say, retries: int) -> int:
    """Say each new ``failed`` / ``lost`` line of the in-flight runs' journals; return how
    many of them are running now (their last line is an attempt's ``start``)."""
    running = 0
    for job in jobs:
        lines = journal(job.run_dir)
        for i in range(read[job.run_dir], len(lines)):
            if lines[i].startswith(("failed", "lost")):
                attempt = sum(1 for x in lines[base[job.run_dir]:i] if x.startswith("start"))
                if attempt == 0:  # its last attempt belonged to an earlier, interrupted sweep
                    say(f"{_name(job)}: the earlier sweep's attempt was {lines[i]}")
                    continue
                more = ("Ray retries it from its checkpoint" if attempt <= retries
                        else "no retry left")
                say(f"{_name(job)}: attempt {attempt} {lines[i]}; {more}")
        read[job.run_dir] = len(lines)
        running += bool(lines) and lines[-1].startswith("start")
    return running
