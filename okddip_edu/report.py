"""Reports of experiment suites: mean +- std over seeds, published numbers beside them, figures.

    okddip-edu report runs/suites              # writes runs/suites/report.md and its PNGs

    results, histories = load_results("assets/results")
    summary_table(results, "temperature")      # one row per variant, mean and std over seeds
    published_for("cifar100", "resnet32")      # the published numbers of that setting

A suite directory holds ``results.csv`` (one row per suite, variant and seed) and
``histories.csv`` (every epoch of every run), written by :mod:`okddip_edu.experiments`.
Every accuracy is labelled with the epoch it comes from:

- **best epoch**: the epoch whose validation top-1 of the leader is highest. The epoch is
  picked on the very split it is measured on, so the number is optimistic (the released
  OKDDip code does the same with the test set);
- **final epoch**: the last epoch, the honest number.

Standard deviations are sample standard deviations over seeds (``ddof=1``); with one seed
there is none. Figures are built on ``matplotlib.figure.Figure`` objects, not pyplot, so
they render with the Agg backend anywhere (command line, CI) and display in notebooks.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .experiments import SUITES

ROOT = Path(__file__).resolve().parents[1]
ENV_RESULTS = "OKDDIP_RESULTS"  # a suite directory to use instead of assets/results
DPI = 110

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


# loading ------------------------------------------------------------------------------
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
    results = pd.read_csv(path)
    missing = [c for c in REQUIRED if c not in results.columns]
    if missing:
        raise ValueError(f"{path} is not a results table: column(s) {missing} missing")
    hist_path = d / "histories.csv"
    histories = pd.read_csv(hist_path) if hist_path.is_file() else None
    return results, histories


def find_results(directory: str | Path | None = None) -> Path | None:
    """The first suite directory holding a results.csv: ``directory``, ``$OKDDIP_RESULTS``,
    the repository's ``assets/results``, then ``./assets/results`` and ``../assets/results``."""
    candidates = [directory, os.environ.get(ENV_RESULTS), ROOT / "assets" / "results",
                  Path.cwd() / "assets" / "results", Path.cwd().parent / "assets" / "results"]
    for c in candidates:
        if c and (Path(c) / "results.csv").is_file():
            return Path(c)
    return None


def provenance(directory: str | Path) -> str | None:
    """The text of ``PROVENANCE.md`` in a suite directory (how the results were made)."""
    path = Path(directory) / "PROVENANCE.md"
    return path.read_text() if path.is_file() else None


# tables -------------------------------------------------------------------------------
def _ordered(values: Sequence[str], order: Sequence[str]) -> list[str]:
    """``values`` in the order of ``order``; the others after them, in order of appearance."""
    seen = list(dict.fromkeys(values))
    return [v for v in order if v in seen] + [v for v in seen if v not in order]


def _setting(values: pd.Series) -> Any:
    uniq = list(dict.fromkeys(values.dropna().tolist()))
    return uniq[0] if len(uniq) == 1 else ", ".join(map(str, uniq))


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
                row[f"{label} std"] = values.std(ddof=1) if values.notna().sum() > 1 else math.nan
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
    se = math.sqrt(xa.var(ddof=1) / len(xa) + xb.var(ddof=1) / len(xb)) \
        if len(xa) > 1 and len(xb) > 1 else math.nan
    return {"suite": suite, "a": a, "b": b, "column": column, "mean_a": xa.mean(),
            "mean_b": xb.mean(), "diff": xa.mean() - xb.mean(), "se": se,
            "n_a": len(xa), "n_b": len(xb)}


def describe_difference(d: dict[str, Any]) -> str:
    """One sentence on a :func:`difference`: its size against the seed-to-seed noise."""
    label = LABELS.get(d["column"], d["column"])
    top1 = "top1" in d["column"]
    unit, k = (" points", 2) if top1 else ("", _DIGITS.get(d["column"], 3))
    head = (f"{d['a']} - {d['b']}, {label}: {d['diff']:+.{k}f}{unit} "
            f"({d['mean_a']:.{k}f} vs {d['mean_b']:.{k}f}; {d['n_a']} and {d['n_b']} seeds)")
    if d["se"] != d["se"]:
        return head + "; one seed only, so the noise between seeds is unknown."
    size = abs(d["diff"]) / d["se"] if d["se"] > 0 else math.inf
    verdict = ("more than two standard errors: a difference these seeds agree on"
               if size > 2 else "within two standard errors: these seeds cannot tell them apart")
    return f"{head}; standard error {d['se']:.{k}f}, {verdict} (a rough guide, not a test)."


# The paper's claims, each as comparisons of two variants of one suite: (claim, suite, a,
# b, column). "a beats b" is what the paper predicts; columns are results.csv columns, or
# "<column> - <column>" for a within-run difference (the leader against its own peers).
CLAIMS: list[tuple[str, str, str, str, str]] = [
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
    se = d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else math.nan
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


def _pm(mean: float, std: float, digits: int) -> str:
    if mean != mean:  # NaN: the metric does not exist for this variant
        return "-"
    if std != std:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_summary(table: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """A summary table as text, one ``mean ± std`` cell per metric, indexed by variant.

    ``metrics``: results.csv column names to keep (default: all of :data:`METRICS`). A metric
    that no variant has (the diversity of a single network) is dropped.
    """
    keep = [(c, lab) for c, lab in METRICS if metrics is None or c in metrics]
    out = pd.DataFrame({"variant": table["variant"], "seeds": table["seeds"]})
    for col, label in keep:
        mean, std = table[f"{label} mean"], table[f"{label} std"]
        if mean.notna().any():
            digits = _DIGITS.get(col, 2)
            out[label] = [_pm(m, s, digits) for m, s in zip(mean, std)]
    return out.set_index("variant")


def to_markdown(df: pd.DataFrame, index: bool = True, floatfmt: str = ".2f") -> str:
    """A GitHub markdown table of ``df`` (no dependency on ``tabulate``)."""
    def cell(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            text = "-" if v != v else format(v, floatfmt)
        else:
            text = "" if v is None else str(v)
        return text.replace("|", "\\|").replace("\n", " ")

    frame = df.reset_index() if index and not isinstance(df.index, pd.RangeIndex) else df
    header = [cell(c) for c in frame.columns]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


# published numbers --------------------------------------------------------------------
def published_path() -> Path:
    """``assets/published/published.csv`` of the repository (or of ./ or ../), or a copy
    named ``published.csv`` inside the package."""
    candidates = [Path(__file__).with_name("published.csv"),  # if shipped in the package
                  ROOT / "assets" / "published" / "published.csv",
                  Path.cwd() / "assets" / "published" / "published.csv",
                  Path.cwd().parent / "assets" / "published" / "published.csv"]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError("assets/published/published.csv not found (it comes with the "
                            "okddip_edu repository, not with the installed package); looked "
                            "at: " + ", ".join(str(c) for c in candidates))


def load_published(path: str | Path | None = None) -> pd.DataFrame:
    """Every published number, with ``top1_acc`` (accuracy in %) added for comparisons."""
    df = pd.read_csv(path or published_path())
    df["top1_acc"] = np.where(df["metric"] == "top1_error", 100.0 - df["value"], df["value"])
    return df


def _norm(name: str) -> str:
    """'ResNet-32' and 'resnet32', 'CIFAR-100' and 'cifar100' compare equal."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def published_for(dataset: str, arch: str, method: str | None = None,
                  path: str | Path | None = None) -> pd.DataFrame:
    """Published numbers for a dataset and architecture (ours or the papers' names).

    ``published_for("cifar100", "resnet32")`` gives the OKDDip paper's cell, its
    reproductions and the re-runs of PCL and MCL-OKD. ``cifar10-5k`` (our offline subset)
    matches nothing: no paper trains on it. ``method``: keep one method (okddip, dml, ...).
    """
    df = load_published(path)
    keep = (df["dataset"].map(_norm) == _norm(dataset)) & (df["arch"].map(_norm) == _norm(arch))
    if method is not None:
        keep &= df["method"].map(_norm) == _norm(method)
    return df[keep].reset_index(drop=True)


def published_band(dataset: str, arch: str, method: str = "okddip", role: str = "leader",
                   path: str | Path | None = None) -> tuple[float, float] | None:
    """(lowest, highest) published top-1 accuracy of ``method``'s ``role``; None if none."""
    df = published_for(dataset, arch, method, path)
    df = df[df["role"] == role]
    return None if df.empty else (float(df["top1_acc"].min()), float(df["top1_acc"].max()))


def no_published_reason(dataset: str, arch: str, epochs: Any = None) -> str:
    """One sentence: why no published number sits beside results of this setting."""
    setting = f"{dataset} / {arch}" + (f" / {epochs} epochs" if epochs is not None else "")
    if _norm(dataset) not in ("cifar10", "cifar100"):
        why = (f"the published results use the full CIFAR-10/100 training sets (50,000 "
               f"images) and long schedules (the paper: 300 epochs), and {dataset} is not "
               "one of them")
    else:
        why = "no source listed in assets/published/published.csv reports this network"
    return (f"No published number exists for {setting}: {why}, so these runs can only be "
            "compared with each other.")


# figures ------------------------------------------------------------------------------
def _sd(values) -> tuple[float, float]:
    """Error bar of seaborn plots: mean +- sample std (ddof=1)."""
    v = np.asarray(values, dtype=float)
    m, s = v.mean(), v.std(ddof=1)
    return m - s, m + s


def _styled(builder):
    """Run a figure builder inside seaborn's whitegrid style (no global rcParams change)."""
    import functools

    @functools.wraps(builder)
    def wrapper(*args, **kwargs):
        import seaborn as sns

        with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.75):
            return builder(*args, **kwargs)
    return wrapper


def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _setting_title(df: pd.DataFrame) -> str:
    parts = [str(_setting(df[k])) for k in ("dataset", "arch") if k in df]
    if "epochs" in df:
        parts.append(f"{_setting(df['epochs'])} epochs")
    return ", ".join(parts)


@_styled
def suite_figure(results: pd.DataFrame, suite: str):
    """Bar chart of a suite: final-epoch top-1 of the leader and of the peer ensemble per
    variant (mean, error bars = sample std over seeds, dots = single seeds).

    Returns a ``matplotlib.figure.Figure``; its axes' ``containers`` hold the bars (leader
    first, then ensemble), in the variant order of ``experiments.SUITES``.
    """
    import seaborn as sns

    df = results[results["suite"] == suite]
    if df.empty:
        raise ValueError(f"suite={suite!r} has no results here; suites present: "
                         f"{', '.join(_ordered(results['suite'].tolist(), list(SUITES)))}")
    order = _ordered(df["variant"].tolist(), [v.name for v in SUITES.get(suite, [])])
    kinds = {"final_top1_leader": "leader (final epoch)",
             "final_top1_ens": "ensemble (final epoch)"}
    long = df.melt(id_vars=["variant", "seed"], value_vars=list(kinds), var_name="what",
                   value_name="top-1 %")
    long["what"] = long["what"].map(kinds)
    hue_order = list(kinds.values())
    fig, axes = _figure(max(3.6, 0.75 * len(order) + 1.6), 2.9)
    ax = axes[0, 0]
    sns.barplot(long, x="variant", y="top-1 %", hue="what", order=order, hue_order=hue_order,
                errorbar=_sd, capsize=0.15, err_kws={"linewidth": 1}, palette="deep", ax=ax)
    sns.stripplot(long, x="variant", y="top-1 %", hue="what", order=order, hue_order=hue_order,
                  dodge=True, palette=["#222222", "#222222"], size=2.5, legend=False,
                  ax=ax)
    lo = math.floor(max(0.0, long["top-1 %"].min() - 8) / 5) * 5
    hi = min(100.0, long["top-1 %"].max() + 4)
    ax.set_ylim(lo, hi)
    ax.set_ylabel(f"top-1 % (axis from {lo:g})")
    ax.set_xlabel("")
    n = df.groupby("variant")["seed"].nunique()
    seeds = f"{n.min()}" if n.min() == n.max() else f"{n.min()}-{n.max()}"
    ax.set_title(f"{suite}: {_setting_title(df)}; mean ± std over {seeds} seed(s)",
                 fontsize="medium")
    handles, labels = ax.get_legend_handles_labels()
    ax.get_legend().remove()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize="small",
               frameon=False)
    if len(order) > 4:
        ax.tick_params(axis="x", labelrotation=20)
    return fig


@_styled
def diversity_figure(histories: pd.DataFrame, suite: str = "methods", setting: str = ""):
    """Peer diversity over epochs (div_l2 and top-1 disagreement), one line per variant
    (mean over seeds, band = std). Methods with one network have no diversity and no line.
    ``setting``: text for the title, e.g. "cifar10-5k, resnet8, 12 epochs"."""
    import seaborn as sns
    from matplotlib.ticker import MaxNLocator

    df = histories[histories["suite"] == suite].copy()
    cols = [c for c in ("val_div_l2", "val_div_disagree") if c in df]
    if df.empty or not cols:
        raise ValueError(f"suite={suite!r} has no diversity history here")
    df["epoch "] = df["epoch"] + 1
    order = [v for v in _ordered(df["variant"].tolist(), [v.name for v in SUITES.get(suite, [])])
             if df.loc[df["variant"] == v, cols[0]].notna().any()]
    fig, axes = _figure(3.3 * len(cols) + 1.2, 2.7, ncols=len(cols))
    titles = {"val_div_l2": "div_l2: mean pairwise L2 of peer softmax",
              "val_div_disagree": "div_disagree: peer pairs whose top-1 differ"}
    for ax, col in zip(axes[0], cols):
        sns.lineplot(df[df["variant"].isin(order)], x="epoch ", y=col, hue="variant",
                     hue_order=order, errorbar="sd", marker="o", markersize=3, ax=ax,
                     legend=ax is axes[0, -1])
        ax.set_title(titles[col], fontsize="medium")
        ax.set_ylabel(col[4:])
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if axes[0, -1].get_legend() is not None:
        sns.move_legend(axes[0, -1], "upper left", bbox_to_anchor=(1.01, 1), fontsize="small",
                        title=None, frameon=False)
    setting = setting or _setting_title(df)
    fig.suptitle(f"{suite}: validation diversity of the peers" + (f" ({setting})" if setting
                                                                   else ""), fontsize="medium")
    return fig


def _num_peers(hist: pd.DataFrame) -> int:
    """m of a run's history: the rows of its attention matrix (val_att_a{i}_b0) present."""
    return sum(1 for c in hist.columns
               if re.fullmatch(r"val_att_a\d+_b0", c) and hist[c].notna().any())


@_styled
def attention_figure(histories: pd.DataFrame):
    """Mean attention diagonal (how much of a peer's target is its own logits) over epochs,
    one panel per suite, one line per OKDDip variant that has an attention matrix."""
    import seaborn as sns
    from matplotlib.ticker import MaxNLocator

    if "val_att_diag" not in histories:
        raise ValueError("no attention history here (column val_att_diag missing)")
    df = histories[histories["val_att_diag"].notna()].copy()
    if df.empty:
        raise ValueError("no run here has an attention matrix")
    df["epoch "] = df["epoch"] + 1
    suites = _ordered(df["suite"].tolist(), list(SUITES))
    ncols = min(3, len(suites))
    nrows = math.ceil(len(suites) / ncols)
    fig, axes = _figure(2.9 * ncols + 0.4, 2.1 * nrows + 0.3, ncols=ncols, nrows=nrows)
    for ax in axes.flat[len(suites):]:
        ax.set_visible(False)
    for ax, s in zip(axes.flat, suites):
        part = df[df["suite"] == s]
        order = _ordered(part["variant"].tolist(), [v.name for v in SUITES.get(s, [])])
        sns.lineplot(part, x="epoch ", y="val_att_diag", hue="variant", hue_order=order,
                     errorbar="sd", ax=ax)
        peers = {_num_peers(part[part["variant"] == v]) for v in order}
        if len(peers) == 1 and peers != {0}:
            m = peers.pop()
            ax.axhline(1 / m, color="gray", linestyle=":", linewidth=1, label=f"1/m (m={m})")
        ax.set_title(s, fontsize="medium")
        ax.set_xlabel("epoch")
        ax.set_ylabel("att_diag")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(title=None, fontsize="x-small", frameon=False)
    sep = " " if ncols == 3 else "\n"
    fig.suptitle(f"attention diagonal over epochs{sep}(1/m: uniform weights; 1: a peer copies "
                 "itself)", fontsize="medium")
    return fig


# the report ---------------------------------------------------------------------------
def _published_section(part: pd.DataFrame, suite: str) -> str:
    dataset, arch, epochs = (_setting(part[k]) for k in ("dataset", "arch", "epochs"))
    try:
        pub = published_for(str(dataset), str(arch))
    except FileNotFoundError as err:
        return f"Published numbers: not available ({err})."
    if suite != "methods":
        pub = pub[pub["method"] == "OKDDip"]
    if pub.empty:
        return no_published_reason(str(dataset), str(arch), epochs)
    if epochs != 300:
        note = (f" These runs trained for {epochs} epochs; the published numbers come from "
                "complete schedules (the paper's: 300 epochs), which a shorter run is not "
                "expected to reach.")
    else:
        note = ""
    shown = pub[["method", "role", "metric", "value", "std", "top1_acc", "schedule", "source",
                 "note"]].rename(columns={"top1_acc": "top-1 acc %"})
    intro = ("Published numbers for this setting (assets/published/published.csv; the paper's "
             "ablation tables are not available, so only the default OKDDip appears)."
             if suite != "methods" else "Published numbers for this setting "
             "(assets/published/published.csv).")
    return intro + note + "\n\n" + to_markdown(shown, index=False)


def write_report(directory: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.md`` and its PNG figures for a suite directory; return report.md's path.

    Per suite: a mean ± std table (best and final epoch labelled, seeds counted), the
    dataset/architecture/epochs, a bar chart, and the published numbers of the same setting
    or a sentence saying why there are none. Also the peer diversity over epochs (methods
    suite) and the attention diagonal over epochs (OKDDip variants), when histories exist.
    """
    results, histories = load_results(directory)
    out = Path(out) if out is not None else Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    table = summary_table(results)
    lines = ["# Comparison and ablation results", "",
             f"{len(results)} finished runs ({results['suite'].nunique()} suites). Every cell: "
             "mean ± sample standard deviation over seeds (no ± with one seed). "
             "**Best epoch**: the epoch with the highest validation top-1 of the leader, picked "
             "on that same split (optimistic). **Final epoch**: the last epoch. Top-1 in %. "
             "Methods without a leader report the mean single-branch accuracy as 'leader'.", ""]
    for suite in table["suite"].unique():
        part = results[results["suite"] == suite]
        t = table[table["suite"] == suite]
        dataset, arch, epochs = (_setting(part[k]) for k in ("dataset", "arch", "epochs"))
        n = t["seeds"]
        seeds = f"{n.min()}" if n.min() == n.max() else f"{n.min()} to {n.max()}"
        png = f"{suite}_top1.png"
        suite_figure(results, suite).savefig(out / png, dpi=DPI)
        lines += [f"## {suite}", "",
                  f"Dataset {dataset}, {arch}, {epochs} epochs; {seeds} seed(s) per variant.", "",
                  to_markdown(format_summary(t)), "",
                  f"![{suite}: final-epoch top-1 of leader and ensemble]({png})", "",
                  _published_section(part, suite), ""]
    found = claims(results)
    if not found.empty:
        shown = found.copy()
        for col in ("a", "b", "a - b", "se"):
            shown[col] = [f"{v:.3f}" if "div" in m else f"{v:.2f}"
                          for v, m in zip(found[col], found["metric"])]
        lines += ["## The paper's claims at this scale", "",
                  "Each claim as a comparison of two variants (a, b: means over seeds; se: "
                  "standard error of a - b over seeds). **supports**: a - b is more than two "
                  "standard errors in the paper's direction; **contradicts**: as much the other "
                  "way; **cannot tell**: within that, or one seed only. A rough guide for a "
                  "few seeds, not a significance test; and a result at this scale says "
                  "nothing about CIFAR-100 at 300 epochs.", "",
                  to_markdown(shown, index=False), ""]
    if histories is not None:
        lines += ["## Over epochs", ""]
        if "methods" in set(histories["suite"]) and "val_div_l2" in histories:
            setting = _setting_title(results[results["suite"] == "methods"])
            fig = diversity_figure(histories, "methods", setting)
            fig.savefig(out / "methods_diversity.png", dpi=DPI)
            lines += ["Peer diversity on the validation split, methods suite (mean over seeds, "
                      "band: std):", "", "![peer diversity](methods_diversity.png)", ""]
        if "val_att_diag" in histories and histories["val_att_diag"].notna().any():
            attention_figure(histories).savefig(out / "attention_diag.png", dpi=DPI)
            lines += ["Mean diagonal of OKDDip's attention (the weight of a peer's own logits "
                      "in its target):", "", "![attention diagonal](attention_diag.png)", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


# command line -------------------------------------------------------------------------
def register(sub) -> None:
    p = sub.add_parser("report", help="tables and figures of a suite directory",
                       description="Summarise the results.csv and histories.csv of a suite "
                       "directory (written by 'okddip-edu ablate'): report.md with mean ± std "
                       "tables over seeds, published numbers of the same setting, and PNG "
                       "figures. Prints the markdown.")
    p.add_argument("dir", help="suite directory (the --out of 'okddip-edu ablate')")
    p.add_argument("--out", help="where to write report.md and the figures (default: DIR)")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    path = write_report(args.dir, args.out)
    print(path.read_text())
    figures = sorted(p.name for p in path.parent.glob("*.png"))
    print(f"written: {path} and {len(figures)} figure(s)")
    return 0
