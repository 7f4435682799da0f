"""Results of experiment suites: where they are, how they are read, what their columns mean.

    results, histories = load_results("assets/results")
    find_results()        # the first suite directory found: $OKDDIP_RESULTS, assets/results,
                          # the copy inside the installed package

A suite directory holds ``results.csv`` (one row per suite, variant and seed) and
``histories.csv`` (every epoch of every run), written by :mod:`okddip_edu.experiments`,
and often a ``PROVENANCE.md`` saying how they were made. Every accuracy is labelled with
the epoch it comes from (:data:`METRICS`):

- **best epoch**: the epoch whose validation top-1 of the leader is highest. The epoch is
  picked on the very split it is measured on, so the number is optimistic (the released
  OKDDip code does the same with the test set);
- **final epoch**: the last epoch, the honest number.

Suites and variants are listed in the order of ``experiments.SUITES`` (:func:`_ordered`);
the setting of a group of runs (dataset, arch, epochs) is their common value, or all of
them when they differ (:func:`_setting`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .. import resources

ROOT = Path(__file__).resolve().parents[2]  # the repository (okddip_edu/report/ is two down)
ENV_RESULTS = "OKDDIP_RESULTS"  # a suite directory to use instead of assets/results

# (results.csv column, label). "best epoch" and "final epoch" are always spelled out.
METRICS: list[tuple[str, str]] = [
    ("best_top1_leader", "best-epoch leader top-1"),
    ("final_top1_leader", "final-epoch leader top-1"),
    ("final_top1_ens", "final-epoch ensemble top-1"),
    ("final_top1_peer_mean", "final-epoch mean-peer top-1"),
    ("div_l2", "final-epoch div_l2"),
    ("div_disagree", "final-epoch div_disagree"),
    ("div_js", "final-epoch div_js"),
    ("att_diag", "final-epoch att_diag"),
]
LABELS = dict(METRICS)
REQUIRED = ("suite", "variant", "seed", "best_top1_leader", "final_top1_leader")
# Digits shown per metric in formatted tables (accuracies in %, the rest are statistics).
_DIGITS = {"div_l2": 3, "div_disagree": 3, "div_js": 4, "att_diag": 3}


def load_results(directory: str | Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``results.csv`` and ``histories.csv`` of a suite directory (histories: None if absent)."""
    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: no such directory; give the --out directory of "
                                "'okddip-edu ablate'")
    path = d / "results.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run a suite first "
                                f"(okddip-edu ablate SUITE --out {d})")
    from ..experiments.schema import read_table  # strict: rows that do not fit, set aside

    notes: list[str] = []
    results = read_table(path, notes.append, required=REQUIRED[:3])
    missing = [c for c in REQUIRED if c not in results.columns]
    if missing:
        raise ValueError(f"{path} is not a results table: column(s) {missing} missing")
    if results.empty:
        why = notes[0].split(": ", 1)[1] if notes else "a header only"
        raise ValueError(f"{path} holds no finished runs ({why}); run a suite first "
                         f"(okddip-edu ablate SUITE --out {d})")
    hist_path = d / "histories.csv"
    histories = read_table(hist_path, notes.append, required=()) if hist_path.is_file() \
        else None
    for line in notes:  # rows set aside: said once, on stderr
        print(line, file=sys.stderr)
    return results, histories


def results_candidates(directory: str | Path | None = None, name: str = "results"
                       ) -> list[Path]:
    """Where :func:`find_results` looks, in order: ``directory``, ``$OKDDIP_RESULTS``, the
    committed ``assets/<name>`` of the repository checkout, then the copy inside the installed
    package (:mod:`okddip_edu.resources`), then ``./assets/<name>`` and ``../assets/<name>``."""
    given = [Path(c) for c in (directory, os.environ.get(ENV_RESULTS)) if c]
    places = given + resources.asset_dirs(name) + [Path.cwd() / "assets" / name,
                                                   Path.cwd().parent / "assets" / name]
    return list(dict.fromkeys(p.absolute() for p in places))


def find_results(directory: str | Path | None = None, name: str = "results") -> Path | None:
    """The first suite directory holding a results.csv (see :func:`results_candidates`)."""
    for c in results_candidates(directory, name):
        if (c / "results.csv").is_file():
            return c
    return None


def provenance(directory: str | Path) -> str | None:
    """The text of ``PROVENANCE.md`` in a suite directory (how the results were made)."""
    path = Path(directory) / "PROVENANCE.md"
    return path.read_text() if path.is_file() else None


def _ordered(values: Sequence[str], order: Sequence[str]) -> list[str]:
    """``values`` in the order of ``order``; the others after them, in order of appearance."""
    seen = list(dict.fromkeys(values))
    return [v for v in order if v in seen] + [v for v in seen if v not in order]


def _setting(values: pd.Series) -> Any:
    """The one value of a column over runs, or all its values joined by ", " if they differ."""
    uniq = list(dict.fromkeys(values.dropna().tolist()))
    return uniq[0] if len(uniq) == 1 else ", ".join(map(str, uniq))
