"""The suite's tables: ``results.csv`` (one row per suite, variant and seed) and
``histories.csv`` (every epoch of every run), merged with what the folder already holds.

Files are replaced atomically (written beside, then renamed), so readers and other workers
never see half a table. What a folder already holds is read strictly (:mod:`.schema`): a row
that does not fit is set aside in ``<table>.rejected``, never merged or multiplied.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from .. import rundir
from ..checkpoint import CheckpointError, load_checkpoint
from .schema import read_table
from .suites import Job, status


def _finished(job: Job, log: Callable[[str], None]) -> tuple[dict, pd.DataFrame] | None:
    """A done run's row and history, repaired from its checkpoint where a file is missing,
    garbled or short; None (and a line saying why) when nothing can rebuild them."""
    run = job.run_dir
    try:
        summary = rundir.read_json(run / "final.json")
        history = rundir.read_csv(run / "history.csv")
        if len(history) != summary["final_epoch"] + 1:
            raise rundir.RunDirError(f"{run / 'history.csv'} has {len(history)} rows, "
                                     f"final.json says {summary['final_epoch'] + 1}")
        return _result_row(job, summary), history
    except (rundir.RunDirError, KeyError, TypeError, FileNotFoundError) as err:
        problem = str(err) if not isinstance(err, KeyError) else f"final.json lacks {err}"
    try:
        rows = load_checkpoint(run / "checkpoint.pt")["history"]
    except CheckpointError as err:
        log(f"    {run.name}: {problem}; cannot rebuild it ({err}); left out of the tables")
        return None
    if len(rows) != job.config.epochs:
        log(f"    {run.name}: {problem}; its checkpoint holds {len(rows)} of {job.config.epochs} "
            "epochs, so the run is not finished: resume it (okddip-edu ablate again)")
        (run / "final.json").unlink(missing_ok=True)
        return None
    rundir.finish(run, rows, job.config, None)
    log(f"    {run.name}: {problem}; rebuilt history.csv and final.json from its checkpoint")
    return _result_row(job, rundir.read_json(run / "final.json")), pd.DataFrame(rows)


def _result_row(job: Job, summary: dict) -> dict[str, Any]:
    f, b, cfg = summary["final"], summary["best"], job.config
    nan = float("nan")
    return {
        "suite": job.suite, "variant": job.variant, "seed": job.seed,
        "dataset": cfg.dataset, "arch": cfg.arch, "method": cfg.method,
        "epochs": cfg.epochs, "best_epoch": summary["best_epoch"],
        "best_top1_leader": b["top1_leader"], "final_top1_leader": f["top1_leader"],
        "final_top1_peer_mean": f["top1_peer_mean"], "final_top1_peer_best": f["top1_peer_best"],
        "final_top1_ens": f["top1_ens"], "best_top1_ens": b["top1_ens"],
        "div_l2": f.get("div_l2", nan), "div_disagree": f.get("div_disagree", nan),
        "div_kl": f.get("div_kl", nan), "div_js": f.get("div_js", nan),
        "ens_gain": f.get("ens_gain", nan), "att_diag": f.get("att_diag", nan),
        "wall_time_s": summary["wall_time_s"], "device": summary.get("device"),
        "torch": summary["versions"]["torch"], "okddip_edu": summary["versions"]["okddip_edu"],
        "run": job.run_dir.name,
    }


def write_tables(jobs: list[Job], out: str | Path, log: Callable[[str], None] = print
                 ) -> pd.DataFrame:
    """results.csv (finished runs of ``jobs``) and histories.csv (their epochs), merged with
    what ``out`` already holds for other suites."""
    out = Path(out)
    rows, hist = [], []
    for j in (j for j in jobs if status(j) == "done"):
        found = _finished(j, log)
        if found is None:
            continue
        row, h = found
        rows.append(row)
        h.insert(0, "suite", j.suite)
        h.insert(1, "variant", j.variant)
        h.insert(2, "seed", j.seed)
        h["run"] = j.run_dir.name
        hist.append(h)
    # A run finished elsewhere (only its rows were carried over) may be shared with a
    # suite that has no row for it yet: copy its rows under that suite's name.
    extra_rows, extra_hist = _rows_of_recorded(jobs, out, log)
    new = pd.concat([pd.DataFrame(rows), extra_rows], ignore_index=True)
    hist += extra_hist
    results = _merge(out / "results.csv", new, log=log)
    _merge(out / "histories.csv", pd.concat(hist, ignore_index=True) if hist else pd.DataFrame(),
           extra_key=("epoch",), log=log)
    return results


def _rows_of_recorded(jobs: list[Job], out: Path, log: Callable[[str], None] = print
                      ) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    res_path, hist_path = out / "results.csv", out / "histories.csv"
    if not res_path.exists():
        return pd.DataFrame(), []
    results = read_table(res_path, log)
    histories = read_table(hist_path, log) if hist_path.exists() else pd.DataFrame()
    have = set(zip(results["suite"], results["variant"], results["seed"]))
    rows, hist = [], []
    for j in jobs:
        if (j.suite, j.variant, j.seed) in have or status(j) == "done":
            continue
        src = results[results["run"] == j.run_dir.name]
        if src.empty:
            continue
        row = src.iloc[[0]].assign(suite=j.suite, variant=j.variant, seed=j.seed)
        rows.append(row)
        if "run" in histories:
            h = histories[histories["run"] == j.run_dir.name]
            first = h[["suite", "variant", "seed"]].drop_duplicates().head(1)
            h = h.merge(first, on=["suite", "variant", "seed"])
            hist.append(h.assign(suite=j.suite, variant=j.variant, seed=j.seed))
        have.add((j.suite, j.variant, j.seed))
    return (pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()), hist


def _merge(path: Path, new: pd.DataFrame, extra_key: tuple[str, ...] = (),
           log: Callable[[str], None] = print) -> pd.DataFrame:
    """Replace the rows of ``path`` that ``new`` covers (same suite, variant, seed[, epoch])."""
    key = ["suite", "variant", "seed", *extra_key]
    old = read_table(path, log) if path.exists() else pd.DataFrame()
    if new.empty:
        return old
    if not old.empty:
        keep = ~old.set_index(key).index.isin(new.set_index(key).index)
        columns = list(dict.fromkeys([*new.columns, *old.columns]))  # not the finish order
        new = pd.concat([old[keep], new], ignore_index=True)[columns]
    new = new.sort_values(key, kind="stable").reset_index(drop=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    new.to_csv(tmp, index=False)
    os.replace(tmp, path)  # readers and other workers never see half a file
    return new
