r"""Curves over epochs: training curves of one run, a metric across runs, live plots.

    fig = training_curves(result.history)          # accuracy | CE, total | distillation
    fig = metric_curves(histories, "val_div_l2")   # one line per variant, mean ± std band
    fit(cfg, on_epoch_end=LivePlot())              # redraws the training curves every epoch
    LivePlot.from_history(history)                 # the same figure from a finished run

Every builder takes a history DataFrame (one row per epoch, the columns written by
:func:`okddip_edu.engine.fit`) and returns a plotly ``go.Figure``. Each trace keeps the
name of the history column it plots in ``trace.meta``, so a test (or a curious reader) can
check that the figure shows exactly the history.

The x axis is the ``epoch`` column as the engine writes it, counted from 0 like the
ramp-up w(e): the point at epoch e is measured after training epoch e.
"""

from __future__ import annotations

import re
from typing import Mapping

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..losses import ramp_up

PALETTE = qualitative.Plotly  # 10 distinct colours

# Readable names of the history columns the course plots.
LABELS = {
    "val_top1_leader": "leader",
    "val_top1_ens": "peer ensemble",
    "val_top1_peer_mean": "mean peer",
    "val_top1_peer_best": "best peer",
    "train_top1_head": "leader (train batches)",
    "train_total": "total",
    "train_ce": "CE (L_gt)",
    "train_dis1": "L_dis1 (peers)",
    "train_dis2": "L_dis2 (leader)",
    "train_kd": "KD",
    "train_ce_teacher": "CE of the gated teacher",
    "val_div_l2": "peer diversity: mean pairwise L2 of p",
    "val_div_disagree": "peer diversity: top-1 disagreement",
    "val_div_kl": "peer diversity: mean pairwise KL",
    "val_div_js": "peer diversity: mean pairwise JS",
    "val_ens_gain": "ensemble gain over the mean peer (points)",
    "val_att_diag": "mean attention on itself (diagonal)",
    "val_att_entropy": "attention row entropy",
}

_BRANCH = re.compile(r"^val_top1_b(\d+)$")


def label(column: str) -> str:
    """A readable name for a history column (the column itself when unknown)."""
    m = _BRANCH.match(column)
    if m:
        return f"branch {m.group(1)}"
    return LABELS.get(column, column)


def branch_columns(history: pd.DataFrame) -> list[str]:
    """``val_top1_b0, val_top1_b1, ...`` in branch order."""
    cols = [c for c in history.columns if _BRANCH.match(c)]
    return sorted(cols, key=lambda c: int(_BRANCH.match(c).group(1)))


def loss_columns(history: pd.DataFrame) -> list[str]:
    """Every training loss term the method returned (``train_*`` but not the accuracy)."""
    return [c for c in history.columns if c.startswith("train_") and "top1" not in c]


def _rgba(color: str, alpha: float) -> str:
    color = color.lstrip("#")
    r, g, b = (int(color[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


# One run ----------------------------------------------------------------------------------
def distillation_columns(history: pd.DataFrame) -> list[str]:
    """The distillation terms among :func:`loss_columns`: every loss term that is neither a
    cross-entropy (``train_ce*``) nor the total (``train_dis1``, ``train_dis2``, ``train_kd``).
    They are KL divergences one to three orders of magnitude below the CE, so they get their
    own panel."""
    return [c for c in loss_columns(history)
            if not c.startswith("train_ce") and c != "train_total"]


def training_curves(history: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Validation accuracy (leader, ensemble, every branch) and loss terms against epochs.

    Left: ``val_top1_leader``, ``val_top1_ens`` and each ``val_top1_b{i}`` (dotted). For
    methods without a leader the "leader" line is the mean single-branch accuracy (see
    :mod:`okddip_edu.metrics`). Middle: the cross-entropy terms and the total. Right, only
    when the method has any: the distillation terms (:func:`distillation_columns`) on their
    own y axis. Every loss is the epoch mean over its batches; the total includes
    λ w(e) (λ: the config field ``alpha``), the distillation terms do not.

    This is also the figure of a finished run: ``training_curves(result.history)`` equals
    the last figure :class:`LivePlot` drew after the same epochs.
    """
    dis = distillation_columns(history)
    ce = [c for c in loss_columns(history) if c not in dis]
    panels = ["validation top-1 accuracy (%)", "cross-entropy and total loss"]
    if dis:
        panels.append("distillation terms (before λ w(e))")
    fig = make_subplots(rows=1, cols=len(panels), horizontal_spacing=0.08,
                        subplot_titles=panels)
    x = history["epoch"].tolist()
    solid = [c for c in ("val_top1_leader", "val_top1_ens") if c in history]
    for i, col in enumerate(solid):
        fig.add_trace(go.Scatter(x=x, y=history[col].tolist(), name=label(col), meta=col,
                                 mode="lines+markers", line=dict(color=PALETTE[i], width=3),
                                 legendgroup="accuracy"), row=1, col=1)
    for i, col in enumerate(branch_columns(history)):
        fig.add_trace(go.Scatter(x=x, y=history[col].tolist(), name=label(col), meta=col,
                                 mode="lines", line=dict(color=PALETTE[2 + i % 8], width=1.5,
                                                         dash="dot"),
                                 legendgroup="accuracy"), row=1, col=1)
    for i, col in enumerate(ce + dis):  # colours by position among all loss terms
        fig.add_trace(go.Scatter(x=x, y=history[col].tolist(), name=label(col), meta=col,
                                 mode="lines+markers",
                                 line=dict(color=PALETTE[(5 + i) % 10],
                                           width=3 if col == "train_total" else 1.5),
                                 legendgroup="loss"), row=1, col=2 if col in ce else 3)
    fig.update_xaxes(title_text="epoch (from 0)")
    fig.update_yaxes(title_text="top-1 (%)", row=1, col=1)
    fig.update_yaxes(title_text="CE / total (nats)", row=1, col=2)
    if dis:
        fig.update_yaxes(title_text="distillation: T² KL (nats)", row=1, col=3)
    fig.update_layout(title=title, height=380, margin=dict(l=50, r=20, t=60, b=40),
                      legend=dict(groupclick="toggleitem"))
    return fig


def rampup_curve(lengths: int | list[int] = 80, epochs: int | None = None) -> go.Figure:
    """The ramp-up weight w(e) = exp(-5 (1 - min(e, L)/L)^2) for one or several L."""
    lengths = [lengths] if isinstance(lengths, int) else list(lengths)
    top = epochs if epochs is not None else max(max(lengths) * 5 // 4, 2)
    e = list(range(top + 1))
    fig = go.Figure()
    for i, L in enumerate(lengths):
        fig.add_trace(go.Scatter(x=e, y=[ramp_up(k, L) for k in e], name=f"L = {L}",
                                 mode="lines", line=dict(color=PALETTE[i % 10], width=2.5)))
    fig.update_layout(title="ramp-up weight w(e) of the distillation terms",
                      xaxis_title="epoch e (from 0)", yaxis_title="w(e)", height=330,
                      yaxis_range=[0, 1.05], margin=dict(l=50, r=20, t=50, b=40))
    return fig


# Several runs -----------------------------------------------------------------------------
def as_histories(runs: pd.DataFrame | Mapping[str, pd.DataFrame], color: str = "variant"
                 ) -> pd.DataFrame:
    """One long table from a mapping ``{name: history}`` (the name goes in ``color``)."""
    if isinstance(runs, pd.DataFrame):
        return runs
    frames = []
    for name, h in runs.items():
        h = h.copy()
        h[color] = name
        frames.append(h)
    return pd.concat(frames, ignore_index=True)


def seed_summary(histories: pd.DataFrame, metric: str, color: str = "variant") -> pd.DataFrame:
    """Mean, sample std (ddof=1; 0 for one seed) and number of seeds of ``metric`` per
    ``color`` group and epoch: columns ``color, epoch, mean, std, seeds``."""
    if metric not in histories:
        raise ValueError(f"metric={metric!r} is not a column of these histories")
    h = histories if color in histories else histories.assign(**{color: metric})
    g = h.groupby([color, "epoch"], sort=False)[metric]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out.rename(columns={"count": "seeds"})


def seeds_text(seeds: pd.Series | list[int], band: bool = True) -> str:
    """What a line and its band are, for titles: ``"mean ± std over 5 seeds"`` (``"3-5
    seeds"`` when groups differ, ``"one seed"`` for single runs, ``"mean over 5 seeds"``
    without a band)."""
    lo, hi = int(min(seeds)), int(max(seeds))
    if hi <= 1:
        return "one seed"
    n = f"{lo}" if lo == hi else f"{lo}-{hi}"
    return f"{'mean ± std' if band else 'mean'} over {n} seeds"


def metric_curves(histories: pd.DataFrame | Mapping[str, pd.DataFrame], metric: str,
                  color: str = "variant", band: str | None = "std",
                  title: str | None = None) -> go.Figure:
    """``metric`` against epochs for several runs: one line per ``color`` value, the mean
    over seeds, in a band of mean ± one sample std over seeds (``band="std"``; ``None``: no
    band). Groups with one seed have no band. The title says so: "mean ± std over N seeds".
    ``histories`` has columns ``color``, ``epoch``, ``metric`` and optionally ``seed``
    (e.g. ``histories.csv`` of the experiment suites), or is a mapping ``{name: history}``.
    """
    if band not in ("std", None):
        raise ValueError(f"band={band!r} is not valid; choose std (mean ± std) or None")
    h = as_histories(histories, color)
    stats = seed_summary(h, metric, color)
    fig = go.Figure()
    for i, (name, s) in enumerate(stats.groupby(color, sort=False)):
        col = PALETTE[i % 10]
        x = s["epoch"].tolist()
        if band is not None and s["seeds"].max() > 1:
            lo, hi = s["mean"] - s["std"], s["mean"] + s["std"]
            fig.add_trace(go.Scatter(x=x + x[::-1], y=hi.tolist() + lo.tolist()[::-1],
                                     fill="toself", fillcolor=_rgba(col, 0.18),
                                     line=dict(width=0), hoverinfo="skip", showlegend=False,
                                     legendgroup=str(name), name=f"{name} band",
                                     meta=f"{metric} band"))
        seeds = int(s["seeds"].max())
        fig.add_trace(go.Scatter(x=x, y=s["mean"].tolist(), name=str(name), meta=metric,
                                 mode="lines+markers", line=dict(color=col, width=2.5),
                                 legendgroup=str(name),
                                 hovertemplate=f"{name}<br>epoch %{{x}}<br>%{{y:.4g}}"
                                               f" (mean of {seeds} seed{'s' * (seeds > 1)})"
                                               "<extra></extra>"))
    what = seeds_text(stats.groupby(color, sort=False)["seeds"].max(), band is not None)
    fig.update_layout(title=title or f"{label(metric)} ({what})", xaxis_title="epoch (from 0)",
                      yaxis_title=label(metric), height=380,
                      margin=dict(l=60, r=20, t=60, b=40))
    return fig


# Live -------------------------------------------------------------------------------------
def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    return get_ipython()


class LivePlot:
    """Redraws :func:`training_curves` after every epoch, in place, in a notebook.

        result = fit(cfg, on_epoch_end=LivePlot(title="OKDDip"))

    Call signature ``(row, history)``, as :func:`okddip_edu.engine.fit` calls it. The first
    call displays the figure with a display id; later calls update that same output, so the
    notebook keeps one figure (JupyterLab, Colab, VS Code, and saved notebooks). The figure
    is sent as the default renderer's MIME bundle (``pio.renderers.default``): calling
    ``display(fig)`` on a plotly figure would bypass the display id and append a new
    figure every epoch. Outside IPython nothing is displayed; ``.figure`` always holds the
    latest figure, so the object is tested by calling it directly.

    A finished run (a shipped one, or ``result.history``) gives the same figure without
    training, drawn once: ``LivePlot.from_history(history, title="OKDDip")``.
    (:func:`okddip_edu.pretrained.fit_or_load` with ``on_epoch_end=LivePlot()`` instead
    replays the epochs through the live plot, one redraw per epoch, to the same end.)
    """

    def __init__(self, title: str | None = None, every: int = 1, display: bool = True):
        if every < 1:
            raise ValueError(f"every={every!r} is not valid; it must be >= 1")
        self.title = title  # figure title
        self.every = every  # redraw after epochs 1, 1 + every, 1 + 2 every, ...
        self.display = display  # False: only build .figure
        self.figure: go.Figure | None = None  # the latest figure
        self.handle = None  # IPython DisplayHandle once displayed
        self.calls = 0

    @staticmethod
    def from_history(history: pd.DataFrame, title: str | None = None) -> go.Figure:
        """The figure a ``LivePlot(title=title)`` shows after the epochs of ``history``
        (one row per epoch, as :func:`okddip_edu.engine.fit` writes it): a finished run's
        training curves, drawn at once. Same as :func:`training_curves`."""
        return training_curves(history, title)

    def __call__(self, row: Mapping, history: pd.DataFrame) -> None:
        self.calls += 1
        if (self.calls - 1) % self.every:
            return
        self.figure = training_curves(history, self.title)
        self._show(self.figure)

    def _show(self, fig: go.Figure) -> None:
        if not self.display or _ipython() is None:
            return
        from IPython.display import display

        bundle = fig._repr_mimebundle_()  # the default renderer's MIME bundle
        if not bundle:  # a renderer that opens a browser, for example: nothing to update
            return
        bundle.setdefault("text/plain", f"<training curves, {len(fig.data)} traces>")
        if self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)
