r"""The evidence table: each claim of the paper against every source of numbers we have.

One row per claim (:data:`EVIDENCE`), one column per source:

- **paper**: the OKDDip paper's own figure where ``published.csv`` has one (only its
  ResNet-32 / CIFAR-100 OKDDip cell is confirmed; the other arm of a comparison is not);
- **independent re-runs**: a difference computed from ``published.csv`` (winycg/MCL-OKD,
  CIFAR-100, one run per cell, its own cosine-restart schedule): ResNet-32, and the range
  over every network that source reports;
- **ours**, one column per scale (``quick``: ``assets/results``; ``course``:
  ``assets/results-course``): the difference a - b over seeds with its interval
  diff ± 2 se (:func:`~okddip_edu.report.stats.difference`), the 2-se verdict, and what the
  interval rules out::

      lo, hi = diff - 2 se, diff + 2 se
      cannot tell  ->  rules out a gain above hi and a loss above -lo
      supports     ->  rules out no gain (lo > 0)
      contradicts  ->  rules out the claimed gain (hi < 0)

Ours is the final epoch (no selection on the validation set); the paper and the re-runs
report the best epoch or do not say. ``python -m okddip_edu.report.evidence README.md``
writes the markdown table between the README's evidence markers; a test checks that the
README holds exactly what the committed CSVs give.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import resources
from .published import load_published
from .results import load_results
from .stats import difference, verdict


@dataclass(frozen=True)
class Claim:
    text: str  # what the paper claims, as "a beats b"
    suite: str  # the suite whose variants a and b are compared
    a: str  # the variant the paper says is better
    b: str  # the variant it is compared with
    column: str  # results.csv column compared (final epoch)
    published: tuple[str, str] | None = None  # (method a, method b) in published.csv


EVIDENCE: list[Claim] = [
    Claim("OKDDip's leader beats a single network", "methods", "okddip", "baseline",
          "final_top1_leader", ("OKDDip", "baseline")),
    Claim("... beats independent branches (the gain is distillation, not extra branches)",
          "methods", "okddip", "independent", "final_top1_leader"),
    Claim("... beats DML", "methods", "okddip", "dml", "final_top1_leader", ("OKDDip", "DML")),
    Claim("... beats CL-ILR", "methods", "okddip", "cl-ilr", "final_top1_leader",
          ("OKDDip", "CL-ILR")),
    Claim("... beats ONE", "methods", "okddip", "one", "final_top1_leader", ("OKDDip", "ONE")),
    Claim("attention gives more diverse peers than a uniform mean", "aggregation",
          "attention", "mean", "div_l2"),
    Claim("attention's diverse peers give a better leader than a uniform mean",
          "aggregation", "attention", "mean", "final_top1_leader"),
    Claim("the second level (leader learns from the peers) helps the leader", "leader",
          "on", "off", "final_top1_leader"),
    Claim("diversity is kept: OKDDip's peers differ more than ONE's", "methods", "okddip",
          "one", "div_l2"),
    Claim("diversity is kept: OKDDip's peers differ more than CL-ILR's", "methods", "okddip",
          "cl-ilr", "div_l2"),
]
SCALES = {"quick": "results", "course": "results-course"}  # scale -> assets/<folder>
SCALE_NOTES = {"quick": "quick: ResNet-8, 4,085 images, 12 epochs",
               "course": "course: ResNet-8, 2,000 images, 60 epochs"}
_ROLE = {"OKDDip": "leader", "baseline": "single"}  # DML, CL-ILR, ONE: one member ("single")


def committed_scales() -> dict[str, pd.DataFrame]:
    """The committed results of each scale that is found (clone or installed package)."""
    found = {}
    for scale, name in SCALES.items():
        folder = resources.asset_dir(name, required="results.csv")
        if folder is not None:
            found[scale] = load_results(folder)[0]
    return found


def _num(x: float, top1: bool, sign: bool = True) -> str:
    return f"{x:{'+' if sign else ''}.{2 if top1 else 3}f}"


def ours(results: pd.DataFrame, c: Claim) -> str:
    """One cell: a - b ± 2 se over seeds, the verdict, what the interval rules out."""
    try:
        d = difference(results, c.suite, c.a, c.b, c.column)
    except (ValueError, KeyError):
        return "not run at this scale"
    top1 = "top1" in c.column
    seeds = f"{d['n_a']} vs {d['n_b']} seeds"
    if d["se"] != d["se"]:
        return f"{_num(d['diff'], top1)} ({seeds}): one seed, no interval"
    lo, hi = d["diff"] - 2 * d["se"], d["diff"] + 2 * d["se"]
    v = verdict(d)
    rules_out = {"cannot tell": f"rules out a gain above {_num(hi, top1, sign=False)} and a "
                                f"loss above {_num(-lo, top1, sign=False)}",
                 "supports": "rules out no gain",
                 "contradicts": "rules out the claimed gain"}[v]
    return (f"{_num(d['diff'], top1)} ± {_num(2 * d['se'], top1, sign=False)} ({seeds}): "
            f"**{v}**; {rules_out}")


def rerun(published: pd.DataFrame, c: Claim) -> str:
    """The independent re-runs' difference (accuracy points), ResNet-32 and the range."""
    if c.published is None or "top1" not in c.column:
        return "not reported"
    ma, mb = c.published
    df = published[(published["source"] == "winycg/MCL-OKD README")
                   & (published["dataset"] == "CIFAR-100")]

    def acc(method: str) -> pd.Series:
        part = df[(df["method"] == method) & (df["role"] == _ROLE.get(method, "single"))]
        return part.set_index("arch")["top1_acc"]

    diffs = (acc(ma) - acc(mb)).dropna()
    if diffs.empty:
        return "not reported"
    r32 = diffs.get("ResNet-32", math.nan)
    return (f"{r32:+.2f} (ResNet-32); {diffs.min():+.2f} to {diffs.max():+.2f} over "
            f"{len(diffs)} networks; 1 run each")


def paper(published: pd.DataFrame, c: Claim) -> str:
    if c.published is None:
        return "not available here"
    row = published[published["note"] == "the paper's confirmed cell"]
    if row.empty:
        return "not available here"
    r = row.iloc[0]
    return (f"OKDDip {r['top1_acc']:.2f} ± {r['std']:.2f} ({r['arch']}, {r['dataset']}); "
            f"{c.published[1]}: not available here")


def table(scales: dict[str, pd.DataFrame] | None = None,
          published: pd.DataFrame | None = None) -> pd.DataFrame:
    """The evidence table (one row per claim of :data:`EVIDENCE`)."""
    scales = committed_scales() if scales is None else scales
    try:
        published = load_published() if published is None else published
    except FileNotFoundError:
        published = pd.DataFrame(columns=["source", "dataset", "method", "role", "arch",
                                          "top1_acc", "note", "std"])
    rows = []
    for c in EVIDENCE:
        row = {"claim (a beats b)": c.text, "a vs b": f"{c.suite}: {c.a} vs {c.b}",
               "metric": "leader top-1 (points)" if "top1" in c.column else c.column,
               "paper": paper(published, c), "independent re-runs": rerun(published, c)}
        for scale, results in scales.items():
            row[SCALE_NOTES.get(scale, scale)] = ours(results, c)
        rows.append(row)
    return pd.DataFrame(rows)


CAPTION = (
    "Ours: final-epoch validation top-1 of the leader (for DML, CL-ILR and ONE, which have no "
    "leader: the mean single network), a − b ± 2 standard errors over seeds; a verdict needs "
    "the interval to exclude 0. Paper and re-runs: CIFAR-100, best epoch or not stated; "
    "re-runs are single runs of winycg/MCL-OKD with its own schedule. Generated by "
    "`python -m okddip_edu.report.evidence README.md` from the committed CSVs.")
START, END = "<!-- evidence table: start -->", "<!-- evidence table: end -->"


def markdown(df: pd.DataFrame | None = None) -> str:
    from .write import to_markdown

    df = table() if df is None else df
    return to_markdown(df, index=False) + "\n\n" + CAPTION


def update_readme(path: str | Path, check: bool = False) -> bool:
    """Write the table between the markers of ``path``; True if it changed (with
    ``check``, change nothing and only say whether it would)."""
    path = Path(path)
    text = path.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{path} has no '{START}' ... '{END}' block")
    head, rest = text.split(START, 1)
    new = f"{head}{START}\n{markdown()}\n{END}{rest.split(END, 1)[1]}"
    if new != text and not check:
        path.write_text(new)
    return new != text


if __name__ == "__main__":  # python -m okddip_edu.report.evidence README.md [--check]
    args = sys.argv[1:]
    changed = update_readme(args[0], check="--check" in args)
    state = "up to date" if not changed else "out of date" if "--check" in args else "updated"
    print(f"{args[0]}: {state}")
    sys.exit(1 if changed and "--check" in args else 0)
