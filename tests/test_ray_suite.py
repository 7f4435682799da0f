"""Sweeps on Ray: a suite run as Ray tasks on a local Ray instance writes the local runner's
results.csv and histories.csv, even when a worker is killed mid-run and another run raises
(each retry resumes from the checkpoint; nothing is lost or counted twice); a run that
fails every attempt is reported and the others kept; finished runs are skipped; a folder
the workers cannot see is refused in one line; without Ray, ``--executor ray`` says how to
install it.

One local Ray instance serves the whole module (its start-up takes seconds). The runs are
the ``smoke`` preset on the ``synthetic`` dataset, as in ``test_experiments.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from okddip_edu import cli
from okddip_edu.experiments import expand, run_suite, status
from okddip_edu.experiments.ray_tasks import journal

try:
    import ray
except ImportError:  # CI installs the [ray] extra; elsewhere these tests say why they skip
    ray = None

needs_ray = pytest.mark.skipif(ray is None, reason="ray is not installed: "
                               "pip install -c constraints.txt -e '.[ray]'")
SUITE = ["leader", "--preset", "smoke", "--dataset", "synthetic", "--epochs", "2",
         "--seeds", "1"]


def leader_jobs(out: Path):
    return expand("leader", "smoke", seeds=1, out=out, dataset="synthetic", epochs=2)


def kill_one_fail_one(marker: Path):
    """An ``on_epoch_end`` for the workers: the first run to finish epoch 0 has its worker
    SIGKILLed, the second raises an error; both have their checkpoint of epoch 0 written,
    and every later call passes (one marker file per fault, taken atomically)."""
    def on_epoch_end(row, history):
        import os
        import signal

        if row["epoch"] != 0:
            return
        for fault in ("killed", "failed"):
            try:
                os.close(os.open(f"{marker}.{fault}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                continue
            if fault == "killed":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("disk full (a fault injected by the test)")
    return on_epoch_end  # defined in a function: Ray pickles it by value for the workers


@pytest.fixture(scope="module")
def ray_instance():
    for attempt in (1, 2):  # Ray gives its processes 30 s to start: a busy machine may miss it
        try:
            ray.init(num_cpus=2, object_store_memory=80 * 2**20, include_dashboard=False,
                     log_to_driver=False)
            break
        except Exception as err:
            ray.shutdown()
            if attempt == 2 or "timed out during startup" not in str(err):
                raise
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_tables(tmp_path_factory) -> Path:
    """The lock-file runner's folder: the suite in this process, on one thread (as a task)."""
    out = tmp_path_factory.mktemp("local")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_suite(leader_jobs(out), out, progress=False, log=lambda *a: None)
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def ray_sweep(ray_instance, tmp_path_factory):
    """The same suite as Ray tasks; one worker is killed mid-run, one run raises."""
    from okddip_edu.experiments.ray_runner import run_suite_ray

    out = tmp_path_factory.mktemp("ray")
    jobs = leader_jobs(out)
    logged: list[str] = []
    sweep = run_suite_ray(jobs, out, progress=False, log=logged.append,
                          on_epoch_end=kill_one_fail_one(out.parent / out.name))
    return out, jobs, sweep, logged


@needs_ray
def test_ray_tables_equal_the_local_runners(ray_sweep, local_tables):
    out, jobs, sweep, _ = ray_sweep
    assert sweep.failed == {}
    for name, timing in (("results.csv", ["wall_time_s"]), ("histories.csv", ["epoch_time"])):
        on_ray, local = pd.read_csv(out / name), pd.read_csv(local_tables / name)
        pd.testing.assert_frame_equal(on_ray.drop(columns=timing), local.drop(columns=timing))


@needs_ray
def test_a_killed_worker_and_an_error_are_retried_from_the_checkpoint(ray_sweep):
    out, jobs, sweep, logged = ray_sweep
    journals = {j.variant: journal(j.run_dir) for j in jobs}
    faults = sorted(line.split(" ")[0] for lines in journals.values() for line in lines
                    if line.startswith(("lost", "failed")))
    assert faults == ["failed:", "lost:"], journals
    for lines in journals.values():  # each run: one fault, then one resumed attempt
        assert [x.split(" ")[0] for x in lines] in (["start", "lost:", "start", "done"],
                                                    ["start", "failed:", "start", "done"])
        assert lines[2].endswith("resuming after epoch 0")  # not retrained from scratch
    assert sum("attempt 1 lost:" in m and "Ray retries it" in m for m in logged) == 1
    assert sum("attempt 1 failed: RuntimeError: disk full" in m for m in logged) == 1
    results = pd.read_csv(out / "results.csv")
    keys = list(zip(results["suite"], results["variant"], results["seed"]))
    assert sorted(keys) == [("leader", "off", 0), ("leader", "on", 0)]  # each exactly once
    histories = pd.read_csv(out / "histories.csv")
    assert sorted(histories.groupby("variant")["epoch"].apply(list).tolist()) == [[0, 1], [0, 1]]
    assert all(status(j) == "done" and not (j.run_dir / ".lock").exists() for j in jobs)


@needs_ray
def test_a_run_that_fails_every_attempt_is_reported_and_the_others_kept(ray_instance,
                                                                        tmp_path):
    from okddip_edu.experiments.ray_runner import _gather

    @ray.remote(max_retries=1, retry_exceptions=True)
    def broken():
        raise RuntimeError("CUDA error: an illegal memory access")

    @ray.remote
    def fine():
        return {"status": "done", "error": None}

    bad, good = leader_jobs(tmp_path)
    logged: list[str] = []
    failed = _gather({broken.remote(): bad, fine.remote(): good}, [bad, good], tmp_path,
                     tqdm_off(), logged.append, retries=1)
    assert failed == {"leader/on seed 0": "RuntimeError: CUDA error: an illegal memory access"}
    assert any(m.startswith("leader/on seed 0: failed for good: RuntimeError") for m in logged)


def test_failed_runs_make_ablate_exit_1_and_are_listed(monkeypatch, tmp_path, capsys):
    from okddip_edu.experiments import ray_runner

    sweep = ray_runner.SweepResult(pd.DataFrame([{"run": "a"}]), {"leader/on seed 0": "boom"})
    monkeypatch.setattr(ray_runner, "ray_available", lambda: True)
    monkeypatch.setattr(ray_runner, "run_suite_ray", lambda *a, **k: sweep)
    assert cli.main(["ablate", *SUITE, "--executor", "ray", "--quiet", "--out",
                     str(tmp_path)]) == 1
    assert "failed: leader/on seed 0: boom" in capsys.readouterr().out


def tqdm_off():
    from tqdm.auto import tqdm

    return tqdm(total=2, disable=True)


@needs_ray
def test_ablate_on_ray_skips_finished_runs(ray_sweep, capsys):
    out, jobs, _, _ = ray_sweep
    before = {j.run_dir: (j.run_dir / "final.json").stat().st_mtime_ns for j in jobs}
    rows = pd.read_csv(out / "results.csv")
    assert cli.main(["ablate", *SUITE, "--executor", "ray", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 finished, 0 to run" in printed and "2 finished rows" in printed
    assert {j.run_dir: (j.run_dir / "final.json").stat().st_mtime_ns for j in jobs} == before
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), rows)


@needs_ray
def test_a_folder_the_workers_cannot_see_is_refused(ray_instance, tmp_path, monkeypatch,
                                                    capsys):
    from okddip_edu.experiments import ray_runner

    monkeypatch.setattr(ray_runner, "write_marker", lambda path: None)  # never reaches them
    out = tmp_path / "suite"
    assert cli.main(["ablate", *SUITE, "--executor", "ray", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("okddip-edu ablate: error: the Ray worker on ")
    assert f"cannot see the output folder {out.resolve()}" in err
    assert not (out / "runs").exists()  # nothing was trained


def test_executor_ray_without_ray_says_how_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    assert cli.main(["ablate", *SUITE, "--executor", "ray", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("okddip-edu ablate: error: --executor ray needs Ray, which is not "
                   "installed here: pip install 'okddip-edu[ray]'")
