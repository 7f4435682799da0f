"""Figures of suite results: seaborn on ``matplotlib.figure.Figure`` objects.

    suite_figure(results, "methods")      # bars: final-epoch top-1 of leader and ensemble
    diversity_figure(histories)           # div_l2 and top-1 disagreement over epochs
    attention_figure(histories)           # the attention diagonal over epochs, per suite

Every bar and line is the mean over seeds; error bars and bands are one sample standard
deviation (seaborn's ``errorbar="sd"``, ddof=1), so a bar reads ``mean ± std`` like the
tables. Figures are built on ``Figure`` objects, not pyplot, so they render with the Agg
backend anywhere (command line, CI) and display in notebooks; each builder runs inside
seaborn's whitegrid style without changing the global rcParams.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from ..experiments import SUITES
from .results import _ordered, _setting

DPI = 110  # dots per inch of every figure, on screen and in report.md's PNGs


def _styled(builder):
    """Run a figure builder inside seaborn's whitegrid style (no global rcParams change), with
    the same jitter every time, so a figure redrawn from the same results is the same file."""
    import functools

    @functools.wraps(builder)
    def wrapper(*args, **kwargs):
        import seaborn as sns

        state = np.random.get_state()
        np.random.seed(0)  # seaborn's strip-plot jitter draws from numpy's global generator
        try:
            with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.75):
                return builder(*args, **kwargs)
        finally:
            np.random.set_state(state)  # the caller's random stream is left as it was
    return wrapper


def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _seeds_title(df: pd.DataFrame) -> str:
    """"mean ± std over 5 seed(s)" (or "3-5 seed(s)"): what every bar, line and band shows."""
    n = df.groupby([k for k in ("suite", "variant") if k in df])["seed"].nunique()
    seeds = f"{n.min()}" if n.min() == n.max() else f"{n.min()}-{n.max()}"
    return f"mean ± std over {seeds} seed(s)"


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
                errorbar="sd", capsize=0.15, err_kws={"linewidth": 1}, palette="deep", ax=ax)
    sns.stripplot(long, x="variant", y="top-1 %", hue="what", order=order, hue_order=hue_order,
                  dodge=True, palette=["#222222", "#222222"], size=2.5, legend=False,
                  ax=ax)
    lo = math.floor(max(0.0, long["top-1 %"].min() - 8) / 5) * 5
    hi = min(100.0, long["top-1 %"].max() + 4)
    ax.set_ylim(lo, hi)
    ax.set_ylabel(f"top-1 % (axis from {lo:g})")
    ax.set_xlabel("")
    ax.set_title(f"{suite}: {_setting_title(df)}; {_seeds_title(df)}",
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
    order = [v for v in _ordered(df["variant"].tolist(), [v.name for v in SUITES.get(suite, [])])
             if df.loc[df["variant"] == v, cols[0]].notna().any()]
    fig, axes = _figure(3.3 * len(cols) + 1.2, 2.7, ncols=len(cols))
    titles = {"val_div_l2": "div_l2: mean pairwise L2 of peer softmax",
              "val_div_disagree": "div_disagree: peer pairs whose top-1 differ"}
    for ax, col in zip(axes[0], cols):
        sns.lineplot(df[df["variant"].isin(order)], x="epoch", y=col, hue="variant",
                     hue_order=order, errorbar="sd", marker="o", markersize=3, ax=ax,
                     legend=ax is axes[0, -1])
        ax.set_title(titles[col], fontsize="medium")
        ax.set_ylabel(col[4:])
        ax.set_xlabel("epoch (from 0)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if axes[0, -1].get_legend() is not None:
        sns.move_legend(axes[0, -1], "upper left", bbox_to_anchor=(1.01, 1), fontsize="small",
                        title=None, frameon=False)
    setting = setting or _setting_title(df)
    what = "; ".join(p for p in (setting, _seeds_title(df[df["variant"].isin(order)])) if p)
    fig.suptitle(f"{suite}: validation diversity of the peers ({what})", fontsize="medium")
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
    suites = _ordered(df["suite"].tolist(), list(SUITES))
    ncols = min(3, len(suites))
    nrows = math.ceil(len(suites) / ncols)
    fig, axes = _figure(2.9 * ncols + 0.4, 2.1 * nrows + 0.3, ncols=ncols, nrows=nrows)
    for ax in axes.flat[len(suites):]:
        ax.set_visible(False)
    for ax, s in zip(axes.flat, suites):
        part = df[df["suite"] == s]
        order = _ordered(part["variant"].tolist(), [v.name for v in SUITES.get(s, [])])
        sns.lineplot(part, x="epoch", y="val_att_diag", hue="variant", hue_order=order,
                     errorbar="sd", ax=ax)
        peers = {_num_peers(part[part["variant"] == v]) for v in order}
        if len(peers) == 1 and peers != {0}:
            m = peers.pop()
            ax.axhline(1 / m, color="gray", linestyle=":", linewidth=1, label=f"1/m (m={m})")
        ax.set_title(s, fontsize="medium")
        ax.set_xlabel("epoch (from 0)")
        ax.set_ylabel("att_diag")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(title=None, fontsize="x-small", frameon=False)
    sep = " " if ncols == 3 else "\n"
    fig.suptitle(f"attention diagonal over epochs, {_seeds_title(df)}{sep}(1/m: uniform "
                 "weights; 1: a peer copies itself)", fontsize="medium")
    return fig
