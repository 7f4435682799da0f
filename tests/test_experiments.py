"""Experiment suites: the grids they expand to, shared run directories, and a runner that
skips finished runs and resumes a killed one without losing or recomputing anything.

The runner tests train the ``smoke`` preset on the ``synthetic`` dataset (seconds)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from okddip_edu import cli, engine, experiments
from okddip_edu.config import preset
from okddip_edu.experiments import SUITES, expand, run_key, run_suite, status

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "results"


# grids --------------------------------------------------------------------------------
def test_temperature_suite_is_five_temperatures_by_two_seeds(tmp_path):
    jobs = expand("temperature", "quick", out=tmp_path)
    assert len(jobs) == 10
    assert sorted({j.seed for j in jobs}) == [0, 1]
    for seed in (0, 1):
        mine = [j for j in jobs if j.seed == seed]
        assert [j.variant for j in mine] == ["T=1", "T=2", "T=3", "T=4", "T=5"]
        assert [j.config.temperature for j in mine] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert all(j.config.method == "okddip" and j.config.seed == j.seed for j in jobs)
    assert len({j.run_dir for j in jobs}) == 10


def test_methods_suite_is_six_methods_by_three_seeds(tmp_path):
    jobs = expand("methods", "quick", out=tmp_path)
    assert len(jobs) == 18
    assert sorted({j.seed for j in jobs}) == [0, 1, 2]
    names = ["baseline", "independent", "dml", "cl-ilr", "one", "okddip"]
    assert [j.variant for j in jobs if j.seed == 0] == names
    assert [j.config.method for j in jobs if j.seed == 0] == names
    layouts = {j.variant: j.config.resolved_layout for j in jobs}
    assert layouts == {"baseline": "single", "independent": "branch", "dml": "network",
                       "cl-ilr": "branch", "one": "branch", "okddip": "branch"}


def test_seeds_and_base_overrides(tmp_path):
    jobs = expand("leader", "smoke", seeds=1, out=tmp_path, dataset="synthetic", epochs=3,
                  arch=None)
    assert [(j.variant, j.seed) for j in jobs] == [("on", 0), ("off", 0)]
    assert all(j.config.dataset == "synthetic" and j.config.epochs == 3 for j in jobs)
    assert all(j.config.arch == "resnet8" for j in jobs)  # None overrides nothing
    assert jobs[1].config.second_level is False and jobs[0].config.second_level is True
    assert all(j.run_dir.parent == tmp_path / "runs" for j in jobs)


@pytest.mark.parametrize("suite, seeds, match", [("nosuch", None, "suite='nosuch'"),
                                                  ("leader", 0, "seeds=0")])
def test_expand_refuses_bad_input(suite, seeds, match, tmp_path):
    with pytest.raises(ValueError, match=re.escape(match)):
        expand(suite, "smoke", seeds=seeds, out=tmp_path)


def test_default_okddip_variant_shares_its_run_directory_across_suites(tmp_path):
    default = {"methods": "okddip", "aggregation": "attention", "leader": "on", "peers": "m=3",
               "temperature": "T=3", "detach": "no-detach", "mask_diagonal": "no-mask",
               "layout": "branch"}
    assert set(default) == set(SUITES)
    for seed in (0, 1):
        dirs = {s: next(j.run_dir for j in expand(s, "quick", out=tmp_path)
                        if j.variant == v and j.seed == seed) for s, v in default.items()}
        assert len(set(dirs.values())) == 1, dirs
    # The whole grid: 60 jobs, of which the default variant of seeds 0 and 1 appears in
    # all 8 suites but is trained once per seed -> 60 - 2 * 7 = 46 runs.
    jobs = [j for s in SUITES for j in expand(s, "quick", out=tmp_path)]
    assert len(jobs) == 60
    assert len({j.run_dir for j in jobs}) == 46


def test_run_key_is_stable_and_ignores_device_and_data_path():
    cfg = preset("quick", method="okddip", seed=1)
    key = run_key(cfg)
    assert re.fullmatch(r"okddip-resnet8-cifar10-5k-seed1-[0-9a-f]{10}", key)
    assert run_key(preset("quick", method="okddip", seed=1)) == key
    assert run_key(type(cfg).from_dict(cfg.to_dict())) == key  # survives a JSON round trip
    same = cfg.replace(device="cpu", npz="/somewhere/else.npz", eval_batch_size=100,
                       data_root="/data", preset=None)
    assert run_key(same) == key
    for change in (dict(seed=2), dict(temperature=2.0), dict(detach=True), dict(epochs=13)):
        assert run_key(cfg.replace(**change)) != key, change


def test_run_keys_of_the_committed_results_do_not_move():
    """A config field added later (cpu_amp) leaves existing run names alone at its default,
    so recorded runs still count as done; set, it makes a new run."""
    recorded = set(pd.read_csv(ASSETS / "results.csv")["run"])
    for seed in (0, 1):
        cfg = preset("quick", method="okddip", seed=seed)
        assert run_key(cfg) in recorded
        assert run_key(cfg.replace(cpu_amp=True)) != run_key(cfg)


# the runner ---------------------------------------------------------------------------
class Killed(Exception):
    """Stands for the process being killed after an epoch (its checkpoint is written)."""


REAL_FIT = engine.fit


class FitSpy:
    """Wraps ``engine.fit``: records each call, and can kill a run after its first epoch."""

    def __init__(self, kill: str | None = None):
        self.kill = kill
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, cfg, out_dir=None, **kw):
        self.calls.append((out_dir.name, kw.get("resume", False)))
        if self.kill and out_dir.name == self.kill:
            def die(row, history):
                raise Killed(f"killed after epoch {row['epoch']}")
            kw["on_epoch_end"] = die
        return REAL_FIT(cfg, out_dir, **kw)


def _leader_jobs(out):
    return expand("leader", "smoke", seeds=1, out=out, dataset="synthetic", epochs=2)


@pytest.fixture(scope="module")
def suite_dir(tmp_path_factory):
    """A finished 2-variant suite whose second run was killed once and then resumed."""
    out = tmp_path_factory.mktemp("suite")
    jobs = _leader_jobs(out)
    mp = pytest.MonkeyPatch()
    try:
        spy = FitSpy(kill=jobs[1].run_dir.name)
        mp.setattr(engine, "fit", spy)
        with pytest.raises(Killed):
            run_suite(jobs, out, progress=False, log=lambda *a: None)
        killed = {"status": [status(j) for j in jobs],
                  "rows": len(pd.read_csv(out / "results.csv"))}
        spy = FitSpy()
        mp.setattr(engine, "fit", spy)
        run_suite(jobs, out, progress=False, log=lambda *a: None)
    finally:
        mp.undo()
    return out, jobs, killed, spy.calls


def test_killed_run_is_partial_and_resumes(suite_dir):
    out, jobs, killed, calls = suite_dir
    assert killed["status"] == ["done", "partial"]  # checkpoint of epoch 0, no final.json
    assert killed["rows"] == 1  # the finished run is already in results.csv
    assert calls == [(jobs[1].run_dir.name, True)]  # only the killed run, resumed
    history = pd.read_csv(jobs[1].run_dir / "history.csv")
    assert history["epoch"].tolist() == [0, 1]


def test_results_and_histories_tables(suite_dir):
    out, jobs, _, _ = suite_dir
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 2
    assert set(zip(results["suite"], results["variant"], results["seed"])) == {
        ("leader", "on", 0), ("leader", "off", 0)}
    for col in ("best_top1_leader", "final_top1_leader", "final_top1_ens", "best_epoch",
                "div_l2", "att_diag", "run"):
        assert results[col].notna().all(), col
    assert (results["dataset"] == "synthetic").all() and (results["epochs"] == 2).all()
    assert set(results["run"]) == {j.run_dir.name for j in jobs}
    histories = pd.read_csv(out / "histories.csv")
    assert len(histories) == 4  # 2 runs x 2 epochs
    assert {"val_div_l2", "val_div_disagree", "val_att_diag"} <= set(histories.columns)


def test_finished_runs_are_not_retrained(suite_dir, monkeypatch):
    out, jobs, _, _ = suite_dir
    files = [j.run_dir / name for j in jobs for name in ("final.json", "checkpoint.pt")]
    before = {f: f.stat().st_mtime_ns for f in files}
    spy = FitSpy()
    monkeypatch.setattr(engine, "fit", spy)
    logged = []
    results = run_suite(jobs, out, progress=False, log=logged.append)
    assert spy.calls == []
    assert {f: f.stat().st_mtime_ns for f in files} == before
    assert "2 finished, 0 to run" in logged[0]
    assert len(results) == 2


def test_run_without_final_json_resumes_from_its_checkpoint(suite_dir, monkeypatch):
    out, jobs, _, _ = suite_dir
    (jobs[0].run_dir / "final.json").unlink()
    assert status(jobs[0]) == "partial"
    assert len(pd.read_csv(out / "results.csv")) == 2  # the table is rewritten only on runs
    spy = FitSpy()
    monkeypatch.setattr(engine, "fit", spy)
    results = run_suite(jobs, out, progress=False, log=lambda *a: None)
    assert spy.calls == [(jobs[0].run_dir.name, True)]
    assert status(jobs[0]) == "done"
    assert len(results) == 2 and results["final_top1_leader"].notna().all()


def test_ablate_dry_run_lists_runs_and_trains_nothing(suite_dir, tmp_path, capsys,
                                                      monkeypatch):
    out, jobs, _, _ = suite_dir
    monkeypatch.setattr(engine, "fit", FitSpy())
    args = ["ablate", "leader", "--preset", "smoke", "--dataset", "synthetic", "--epochs", "2",
            "--seeds", "1", "--dry-run"]
    assert cli.main(args + ["--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all(line.startswith("done") for line in lines)
    assert {line.split()[-1] for line in lines} == {str(j.run_dir) for j in jobs}

    fresh = tmp_path / "fresh"
    assert cli.main(args + ["--out", str(fresh)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["missing", "missing"]
    assert not fresh.exists()  # a dry run writes nothing


def test_ablate_unknown_suite_is_one_line_error(capsys, tmp_path):
    assert cli.main(["ablate", "nosuch", "--dry-run", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("okddip-edu ablate: error: suite='nosuch' is not valid")


def test_ablate_variants_keeps_only_those_and_names_the_allowed(capsys, tmp_path):
    base = ["ablate", "methods", "--preset", "smoke", "--seeds", "2", "--dry-run",
            "--out", str(tmp_path)]
    assert cli.main(base + ["--variants", "okddip, baseline"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[1] for line in lines) == ["methods/baseline"] * 2 + \
        ["methods/okddip"] * 2
    assert cli.main(base + ["--variants", "okddip,okdip"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "okdip is not a variant of methods" in err and "allowed: baseline," in err


def test_every_suite_is_listed():
    assert list(experiments.iter_suites()) == list(SUITES)


def test_carried_results_count_as_done_and_fill_suites_that_share_a_run(suite_dir, tmp_path,
                                                                        monkeypatch):
    """Only results.csv and histories.csv travel (no run directories): nothing is retrained,
    and a suite sharing a recorded run gets its rows under its own name."""
    import shutil

    src, jobs, _, _ = suite_dir
    for name in ("results.csv", "histories.csv"):
        shutil.copy(src / name, tmp_path / name)
    spy = FitSpy()
    monkeypatch.setattr(engine, "fit", spy)
    # The detach suite's default variant is the leader suite's "on" run (same config).
    detach = expand("detach", "smoke", seeds=1, out=tmp_path, dataset="synthetic", epochs=2)
    shared = [j for j in detach if j.variant == "no-detach"][0]
    assert status(shared, experiments.recorded_runs(tmp_path)) == "recorded"
    experiments.write_tables(detach, tmp_path)
    results = pd.read_csv(tmp_path / "results.csv")
    row = results[(results.suite == "detach") & (results.variant == "no-detach")]
    on = results[(results.suite == "leader") & (results.variant == "on")]
    assert len(row) == 1 and row["run"].item() == on["run"].item()
    assert row["final_top1_leader"].item() == on["final_top1_leader"].item()
    hist = pd.read_csv(tmp_path / "histories.csv")
    assert (hist.suite == "detach").sum() == 2  # its 2 epochs, copied
    assert spy.calls == []
