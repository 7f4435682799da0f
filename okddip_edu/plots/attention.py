r"""Figures about OKDDip's first level: attention weights, per-peer targets, and how both
evolve over training.

For every sample, peer a mixes the m peers' logits with its own attention row,

    alpha_ab = softmax_b(q_a . k_b),     t_a = sum_b alpha_ab z_b,

so a sample has an m x m weight matrix (rows sum to 1) and m targets. Builders (each returns
a plotly ``go.Figure`` and trains nothing):

- :func:`attention_heatmap`: one m x m matrix (a sample's, or a mean over a set);
- :func:`peer_targets`: one sample: the heatmap, and for each peer its own softened
  prediction beside the softened target it is taught with;
- :func:`attention_matrix`, :func:`attention_at_epoch`, :func:`diagonal_over_epochs`: the
  mean attention logged every epoch in a history (columns ``val_att_a{i}_b{j}``,
  ``val_att_diag``);
- :func:`measure_over_epochs`: any logged measure (a diversity measure, ``ens_gain``) over
  the epochs of several methods, and the methods side by side at one epoch.

Histories are pandas DataFrames with one row per epoch, as written by ``fit`` and by the
experiment runner (``histories.csv``: columns ``suite``, ``variant``, ``seed``, ``epoch``
and the ``val_*`` metrics).
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from .curves import seed_summary, seeds_text
from .softmax import STUDENT_COLOR, TEACHER_COLOR, soften

_ATT = re.compile(r"^val_att_a(\d+)_b(\d+)$")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f")


def _peer_labels(m: int) -> list[str]:
    return [f"peer {a}" for a in range(m)]


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _heatmap(weights: np.ndarray, zmax: float = 1.0, showscale: bool = True) -> go.Heatmap:
    m = weights.shape[0]
    labels = _peer_labels(m)
    return go.Heatmap(z=weights, x=labels, y=labels, zmin=0.0, zmax=zmax, colorscale="Blues",
                      texttemplate="%{z:.2f}", showscale=showscale,
                      hovertemplate="peer %{y} attends to %{x}: %{z:.3f}<extra></extra>")


def attention_heatmap(weights, title: str = "attention weights alpha_ab") -> go.Figure:
    """Heatmap of an m x m attention matrix: row a = peer a's weights over the peers b."""
    w = _numpy(weights)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"weights must be an m x m matrix, got shape {w.shape}")
    fig = go.Figure(_heatmap(w))
    fig.update_layout(title=title, height=360, width=430, xaxis_title="attends to peer b",
                      yaxis_title="peer a (row sums to 1)")
    fig.update_yaxes(autorange="reversed")
    return fig


def peer_targets(weights, peer_logits, targets, temperature: float = 3.0,
                 classes: Sequence[str] | None = None, title: str = "") -> go.Figure:
    """One sample: its attention heatmap (1 trace) and, for each peer a, the bars of
    softmax(z_a / T) (its own prediction) and softmax(t_a / T) (its target): 1 + 2m traces.

    ``weights`` (m, m), ``peer_logits`` (m, C), ``targets`` (m, C).
    """
    w, z, t = _numpy(weights), _numpy(peer_logits), _numpy(targets)
    m, C = z.shape
    names = list(classes) if classes is not None else [str(c) for c in range(C)]
    fig = make_subplots(rows=1, cols=m + 1, column_widths=[1.2] + [1.0] * m,
                        horizontal_spacing=0.05,
                        subplot_titles=["alpha (row a: peer a's weights)"]
                        + [f"peer {a}: own vs target" for a in range(m)])
    fig.add_trace(_heatmap(w, showscale=False), row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    p_own, p_target = soften(z, temperature), soften(t, temperature)  # (m, C)
    for a in range(m):
        fig.add_trace(go.Bar(x=names, y=p_own[a], name="softmax(z_a / T)",
                             marker_color=STUDENT_COLOR, legendgroup="own", showlegend=a == 0),
                      row=1, col=a + 2)
        fig.add_trace(go.Bar(x=names, y=p_target[a], name="softmax(t_a / T)",
                             marker_color=TEACHER_COLOR, legendgroup="target",
                             showlegend=a == 0), row=1, col=a + 2)
        fig.update_yaxes(range=[0, 1], row=1, col=a + 2, showticklabels=a == 0)
        fig.update_xaxes(tickangle=-60, tickfont_size=9, row=1, col=a + 2)
    fig.update_layout(barmode="group", height=380, bargap=0.15,
                      title=title or f"targets at T = {temperature:g}",
                      legend=dict(orientation="h", y=-0.35))
    return fig


# Attention logged over epochs ----------------------------------------------------------------
def attention_columns(history: pd.DataFrame) -> dict[tuple[int, int], str]:
    """``{(a, b): "val_att_a{a}_b{b}"}`` for the attention columns of a history that hold
    data (a table mixing runs of several group sizes has empty columns for the others)."""
    return {(int(mt[1]), int(mt[2])): c for c in history.columns
            if (mt := _ATT.match(c)) and history[c].notna().any()}


def attention_matrix(row: pd.Series | dict) -> np.ndarray:
    """The m x m mean attention matrix of one history row (one epoch)."""
    cols = attention_columns(pd.DataFrame([dict(row)]))
    if not cols:
        raise ValueError("no val_att_a{i}_b{j} columns: this run has no attention "
                         "(only OKDDip with aggregation='attention' logs them)")
    m = max(max(a, b) for a, b in cols) + 1
    mat = np.full((m, m), np.nan)
    for (a, b), c in cols.items():
        mat[a, b] = float(dict(row)[c])
    return mat


def _att_rows(history: pd.DataFrame) -> pd.DataFrame:
    cols = attention_columns(history)
    if not cols:
        raise ValueError("no val_att_a{i}_b{j} columns: this history has no attention")
    return history.dropna(subset=list(cols.values()))


def attention_at_epoch(history: pd.DataFrame, epoch: int) -> tuple[np.ndarray, int]:
    """Mean attention matrix at ``epoch`` (averaged over the rows of that epoch, e.g. seeds)
    and the number of rows averaged."""
    rows = _att_rows(history)
    rows = rows[rows["epoch"] == epoch]
    if rows.empty:
        raise ValueError(f"epoch={epoch} is not in the history; epochs: "
                         f"{sorted(_att_rows(history)['epoch'].unique().tolist())}")
    mats = np.stack([attention_matrix(r) for _, r in rows.iterrows()])
    return mats.mean(axis=0), len(mats)


def diagonal_over_epochs(history: pd.DataFrame, epoch: int | None = None,
                         by: str | None = "seed") -> go.Figure:
    """``val_att_diag`` (mean alpha_aa: peers attending to themselves) over the epochs, one
    line per ``by`` group (e.g. seed), a dotted line at the uniform value 1/m, and with
    ``epoch`` a vertical marker."""
    rows = _att_rows(history)
    m = attention_matrix(rows.iloc[0]).shape[0]
    fig = go.Figure()
    groups = rows.groupby(by) if by and by in rows.columns else [("run", rows)]
    for i, (key, g) in enumerate(groups):
        g = g.sort_values("epoch")
        fig.add_trace(go.Scatter(x=g["epoch"], y=g["val_att_diag"], mode="lines+markers",
                                 name=f"{by} {key}" if by and by in rows.columns else "run",
                                 line_color=PALETTE[i % len(PALETTE)]))
    fig.add_hline(y=1.0 / m, line_dash="dot", line_color="gray",
                  annotation_text=f"uniform 1/m = {1.0 / m:.2f}")
    if epoch is not None:
        fig.add_vline(x=epoch, line_color="black", line_width=1)
    fig.update_layout(title="mean diagonal of the attention: how much each peer copies itself",
                      xaxis_title="epoch (from 0)", yaxis_title="mean alpha_aa", height=330,
                      yaxis_range=[0, 1])
    return fig


def attention_over_epochs(history: pd.DataFrame, epoch: int, by: str | None = "seed"
                          ) -> go.Figure:
    """Left: the mean attention matrix at ``epoch`` (averaged over rows of that epoch);
    right: :func:`diagonal_over_epochs` with ``epoch`` marked. Traces: 1 heatmap + one line
    per group + 1 marker."""
    mat, n = attention_at_epoch(history, epoch)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.42, 0.58], horizontal_spacing=0.12,
                        subplot_titles=(f"mean alpha at epoch {epoch}"
                                        + (f" ({n} runs)" if n > 1 else ""),
                                        "mean diagonal alpha_aa over epochs"))
    fig.add_trace(_heatmap(mat, showscale=False), row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    diag = diagonal_over_epochs(history, by=by)
    for tr in diag.data:
        fig.add_trace(tr, row=1, col=2)
    y_now = float(np.mean(np.diag(mat)))
    fig.add_trace(go.Scatter(x=[epoch], y=[y_now], mode="markers", showlegend=False,
                             marker=dict(size=13, color="black", symbol="diamond"),
                             name=f"epoch {epoch}"), row=1, col=2)
    m = mat.shape[0]
    fig.add_hline(y=1.0 / m, line_dash="dot", line_color="gray", row=1, col=2)
    fig.update_yaxes(range=[0, 1], row=1, col=2, title_text="mean alpha_aa")
    fig.update_xaxes(title_text="epoch (from 0)", row=1, col=2)
    fig.update_layout(height=380, title="attention over training (validation set means)")
    return fig


def measure_over_epochs(histories: pd.DataFrame, measure: str, epoch: int | None = None,
                        methods: Sequence[str] | None = None, highlight: str | None = None,
                        by: str = "variant") -> go.Figure:
    """Left: ``measure`` over epochs, one line per method: the mean over seeds in a band of
    mean ± one sample std over seeds; right: bars of every method's value at ``epoch`` (mean
    over seeds). The titles say "mean ± std over N seeds".

    ``measure``: a history column with or without its ``val_`` prefix (``div_l2``,
    ``ens_gain``...). ``methods``: the values of ``by`` to draw (default: all with data).
    ``highlight``: a method drawn thicker on the left and darker on the right.
    Traces: 2 per method on the left (band, mean line) + 1 bar trace on the right.
    """
    col = measure if measure in histories.columns else f"val_{measure}"
    if col not in histories.columns:
        raise ValueError(f"measure={measure!r} is not a column of the histories")
    data = histories.dropna(subset=[col])
    if methods is None:
        methods = list(dict.fromkeys(data[by]))
    methods = [m for m in methods if m in set(data[by])]
    if epoch is None:
        epoch = int(data["epoch"].max())
    summary = seed_summary(data[data[by].isin(methods)], col, by)
    what = seeds_text(summary.groupby(by)["seeds"].max())
    fig = make_subplots(rows=1, cols=2, column_widths=[0.64, 0.36], horizontal_spacing=0.1,
                        subplot_titles=(f"{measure} over epochs ({what})",
                                        f"{measure} at epoch {epoch} (mean)"))
    at_epoch = []
    for i, name in enumerate(methods):
        stats = summary[summary[by] == name].sort_values("epoch")  # epoch, mean, std, seeds
        color = PALETTE[i % len(PALETTE)]
        x = stats["epoch"].tolist()
        hi, lo = stats["mean"] + stats["std"], stats["mean"] - stats["std"]
        band = hi.tolist() + lo.tolist()[::-1]  # around, then back
        fig.add_trace(go.Scatter(x=x + x[::-1], y=band, fill="toself", fillcolor=color,
                                 opacity=0.15, line_width=0, hoverinfo="skip",
                                 showlegend=False, legendgroup=name),
                      row=1, col=1)
        width = 4 if name == highlight else 2
        fig.add_trace(go.Scatter(x=x, y=stats["mean"], mode="lines+markers", name=name,
                                 line=dict(color=color, width=width), legendgroup=name),
                      row=1, col=1)
        now = stats.loc[stats["epoch"] == epoch, "mean"]
        at_epoch.append(float(now.iloc[0]) if len(now) else np.nan)
    opacity = [1.0 if (highlight is None or m == highlight) else 0.45 for m in methods]
    fig.add_trace(go.Bar(x=list(methods), y=at_epoch, showlegend=False,
                         marker=dict(color=[PALETTE[i % len(PALETTE)] for i in range(len(methods))],
                                     opacity=opacity),
                         text=[f"{v:.3g}" for v in at_epoch], textposition="outside"),
                  row=1, col=2)
    fig.add_vline(x=epoch, line_color="black", line_width=1, row=1, col=1)
    fig.update_xaxes(title_text="epoch (from 0)", row=1, col=1)
    fig.update_yaxes(title_text=measure, row=1, col=1)
    fig.update_layout(height=380, title=f"{measure} of the peers, by method")
    return fig
