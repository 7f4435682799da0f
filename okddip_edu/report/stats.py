"""Statistics over seeds: mean and spread per variant, differences, standard errors, verdicts.

Every number here is a statistic over seeds, one run per seed. For a variant with values
x_1..x_n (one metric, n seeds)::

    mean  = (1/n) sum_i x_i
    std   = sqrt( sum_i (x_i - mean)^2 / (n - 1) )       # sample std, ddof=1; none if n = 1

**Two variants** a and b (different runs, :func:`difference`)::

    diff = mean_a - mean_b
    se   = sqrt( s_a^2 / n_a + s_b^2 / n_b )             # standard error of diff

**Within the same runs** (the leader against its own peers, :func:`paired_difference`),
with d_i = a_i - b_i per run::

    diff = mean(d)
    se   = std(d) / sqrt(n)                              # pandas' Series.sem()

Pairing removes what the runs share (a lucky seed lifts leader and peers alike), so its se
is often much smaller. With one seed either se is NaN: the noise is unknown.

**The 2-se verdict** (:func:`verdict`), with z = diff / se::

    z > 2    ->  supports       (a beats b by more than two standard errors)
    z < -2   ->  contradicts    (b beats a by as much)
    else     ->  cannot tell    (within the seed noise; also when se is NaN or 0)

Two standard errors is roughly the two-sided 95 % point of a normal distribution (1.96); with
a handful of seeds the se is itself uncertain (Student's t with 2 degrees of freedom needs
4.30), so the verdict is a rough guide, not a significance test.
:data:`CLAIMS` lists the paper's claims as such comparisons and :func:`claims` tabulates
those these results can address.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..experiments import SUITES
from .results import _DIGITS, LABELS, METRICS, _ordered, _setting


def summary_table(results: pd.DataFrame, suite: str | None = None) -> pd.DataFrame:
    """Mean and sample std over seeds, per suite and variant.

    Columns: suite, variant, seeds (how many), dataset, arch, epochs, then for every metric
    ``"<label> mean"`` and ``"<label> std"``, the label saying best epoch or final epoch
    (see :data:`METRICS`). Suites and variants keep the order of ``experiments.SUITES``.
    An unknown suite gives an empty table.
    """
    df = results if suite is None else results[results["suite"] == suite]
    columns = ["suite", "variant", "seeds", "dataset", "arch", "epochs"] + [
        f"{label} {stat}" for _, label in METRICS for stat in ("mean", "std")]
    rows = []
    for s in _ordered(df["suite"].tolist(), list(SUITES)):
        part = df[df["suite"] == s]
        order = [v.name for v in SUITES.get(s, [])]
        for v in _ordered(part["variant"].tolist(), order):
            runs = part[part["variant"] == v]
            row: dict[str, Any] = {"suite": s, "variant": v, "seeds": runs["seed"].nunique()}
            for key in ("dataset", "arch", "epochs"):
                row[key] = _setting(runs[key]) if key in runs else None
            for col, label in METRICS:
                values = runs[col].astype(float) if col in runs else pd.Series([math.nan])
                row[f"{label} mean"] = values.mean()
                row[f"{label} std"] = values.std(ddof=1)  # NaN with fewer than 2 seeds
            rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def difference(results: pd.DataFrame, suite: str, a: str, b: str,
               column: str = "final_top1_leader") -> dict[str, Any]:
    """Variant ``a`` minus variant ``b`` of a suite in one metric, over seeds.

    Returns the two means, their difference, the seeds of each and the standard error of the
    difference, sqrt(s_a^2 / n_a + s_b^2 / n_b) with sample stds (NaN with a single seed).
    """
    df = results[results["suite"] == suite]
    values = {}
    for v in (a, b):
        x = df.loc[df["variant"] == v, column].astype(float).dropna()
        if x.empty:
            raise ValueError(f"variant {v!r} of suite {suite!r} has no {column} here")
        values[v] = x
    xa, xb = values[a], values[b]
    se = math.sqrt(xa.var(ddof=1) / len(xa) + xb.var(ddof=1) / len(xb))  # NaN: a single seed
    return {"suite": suite, "a": a, "b": b, "column": column, "mean_a": xa.mean(),
            "mean_b": xb.mean(), "diff": xa.mean() - xb.mean(), "se": se,
            "n_a": len(xa), "n_b": len(xb)}


def describe_difference(d: dict[str, Any]) -> str:
    """One sentence on a :func:`difference`: its size against the seed-to-seed noise, and the
    interval diff ± 2 se it leaves (what a "cannot tell" still rules out)."""
    label = LABELS.get(d["column"], d["column"])
    top1 = "top1" in d["column"]
    unit, k = (" points", 2) if top1 else ("", _DIGITS.get(d["column"], 3))
    head = (f"{d['a']} - {d['b']}, {label}: {d['diff']:+.{k}f}{unit} "
            f"({d['mean_a']:.{k}f} vs {d['mean_b']:.{k}f}; {d['n_a']} and {d['n_b']} seeds)")
    if d["se"] != d["se"]:
        return head + "; one seed only, so the noise between seeds is unknown."
    size = abs(d["diff"]) / d["se"] if d["se"] > 0 else math.inf
    lo, hi = d["diff"] - 2 * d["se"], d["diff"] + 2 * d["se"]
    verdict = (f"more than two standard errors (interval {lo:+.{k}f} to {hi:+.{k}f}): a "
               "difference these seeds agree on" if size > 2 else
               "within two standard errors: these seeds cannot tell them apart, and rule out "
               f"a difference above {hi:+.{k}f} or below {lo:+.{k}f}")
    return f"{head}; standard error {d['se']:.{k}f}, {verdict} (a rough guide, not a test)."


# The paper's claims, each as comparisons of two variants of one suite: (claim, suite, a,
# b, column). "a beats b" is what the paper predicts; columns are results.csv columns, or
# "<column> - <column>" for a within-run difference (the leader against its own peers).
CLAIMS: list[tuple[str, str, str, str, str]] = [
    ("online distillation gives a better deployed network than training it alone",
     "methods", "okddip", "baseline", "final_top1_leader"),
    ("the gain comes from distillation, not from the extra branches",
     "methods", "okddip", "independent", "final_top1_leader"),
    ("attention gives more diverse peers than uniform averaging",
     "aggregation", "attention", "mean", "div_l2"),
    ("attention gives more diverse peers than uniform averaging",
     "aggregation", "attention", "mean", "div_disagree"),
    ("diverse peers give a better leader (attention vs mean)",
     "aggregation", "attention", "mean", "final_top1_leader"),
    ("the second level improves the leader over the peers",
     "leader", "on", "on", "final_top1_leader - final_top1_peer_mean"),
    ("the second level improves the leader over the peers",
     "leader", "on", "off", "final_top1_leader"),
    ("OKDDip beats DML", "methods", "okddip", "dml", "final_top1_leader"),
    ("OKDDip beats CL-ILR", "methods", "okddip", "cl-ilr", "final_top1_leader"),
    ("OKDDip beats ONE", "methods", "okddip", "one", "final_top1_leader"),
]


def paired_difference(results: pd.DataFrame, suite: str, variant: str, col_a: str,
                      col_b: str) -> dict[str, Any]:
    """``col_a - col_b`` within each run of one variant (for example the leader against the
    mean peer of the same run), averaged over seeds; standard error std / sqrt(n)."""
    runs = results[(results["suite"] == suite) & (results["variant"] == variant)]
    d = (runs[col_a].astype(float) - runs[col_b].astype(float)).dropna()
    if d.empty:
        raise ValueError(f"variant {variant!r} of suite {suite!r} has no {col_a} - {col_b} here")
    se = d.sem()  # std(d) / sqrt(n), ddof=1; NaN with a single seed
    return {"suite": suite, "a": variant, "b": variant, "column": f"{col_a} - {col_b}",
            "mean_a": runs[col_a].astype(float).mean(), "mean_b": runs[col_b].astype(float).mean(),
            "diff": d.mean(), "se": se, "n_a": len(d), "n_b": len(d)}


def verdict(d: dict[str, Any], threshold: float = 2.0) -> str:
    """``supports`` (a beats b by more than ``threshold`` standard errors), ``contradicts``
    (b beats a by as much) or ``cannot tell`` (within the seed noise, or one seed only).
    A rough guide for a handful of seeds, not a significance test."""
    if d["se"] != d["se"] or d["se"] <= 0:
        return "cannot tell"
    z = d["diff"] / d["se"]
    return "supports" if z > threshold else "contradicts" if z < -threshold else "cannot tell"


def claims(results: pd.DataFrame) -> pd.DataFrame:
    """Every claim of :data:`CLAIMS` that these results can address: the two numbers compared,
    their difference, its standard error over seeds, and the :func:`verdict`."""
    rows = []
    for claim, suite, a, b, column in CLAIMS:
        try:
            if " - " in column:
                d = paired_difference(results, suite, a, *column.split(" - "))
                compared = f"{suite}/{a}: leader vs mean peer (same runs)"
            else:
                d = difference(results, suite, a, b, column)
                compared = f"{suite}: {a} vs {b}"
        except (ValueError, KeyError):
            continue  # the variants are not in these results
        rows.append({"claim": claim, "compared": compared, "metric": column,
                     "a": d["mean_a"], "b": d["mean_b"], "a - b": d["diff"], "se": d["se"],
                     "seeds": min(d["n_a"], d["n_b"]), "verdict": verdict(d)})
    return pd.DataFrame(rows, columns=["claim", "compared", "metric", "a", "b", "a - b", "se",
                                       "seeds", "verdict"])
