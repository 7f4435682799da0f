r"""Figures about the temperature: softened predictions and what T does to the KD loss.

A temperature T softens a softmax,

    p(z; T) = softmax(z / T),

and the distillation loss compares two softened distributions,

    KL_T(teacher -> student) = T^2 * (1/B) sum_i KL( p(z_t^i; T) || p(z_s^i; T) ).

Builders (each returns a plotly ``go.Figure`` and trains nothing):

- :func:`softmax_temperature`: one logit vector softened at a few temperatures;
- :func:`softened_predictions`: a model's softened predictions for a few images (one panel
  per image), optionally beside a second model's;
- :func:`kd_vs_temperature`: the KD loss and the size of its gradient w.r.t. the student
  logits as functions of T, with and without the T^2 factor (data from
  :func:`temperature_sweep`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ..losses import kd_loss

TEACHER_COLOR = "#1f77b4"
STUDENT_COLOR = "#ff7f0e"
PLAIN_COLOR = "#7f7f7f"


def soften(logits: torch.Tensor | np.ndarray, temperature: float) -> np.ndarray:
    """softmax(z / T) along the last axis, as a float64 numpy array."""
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    return torch.softmax(z / temperature, dim=-1).numpy()


def _class_names(classes: Sequence[str] | None, C: int) -> list[str]:
    return list(classes) if classes is not None else [str(c) for c in range(C)]


def softmax_temperature(logits: torch.Tensor | np.ndarray, temperatures: Sequence[float],
                        classes: Sequence[str] | None = None) -> go.Figure:
    """Bars of softmax(z / T) for one logit vector ``logits`` (C,), one trace per T."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    names = _class_names(classes, len(z))
    fig = go.Figure()
    for T in temperatures:
        fig.add_trace(go.Bar(x=names, y=soften(z, T), name=f"T = {T:g}"))
    fig.update_layout(barmode="group", title="softmax(z / T): the same logits, softer as T grows",
                      yaxis_title="probability", xaxis_title="class", height=350,
                      legend_title_text="temperature")
    return fig


def softened_predictions(logits: torch.Tensor | np.ndarray, temperature: float,
                         classes: Sequence[str] | None = None,
                         titles: Sequence[str] | None = None,
                         other: torch.Tensor | np.ndarray | None = None,
                         names: tuple[str, str] = ("teacher", "student"),
                         top: int | None = 10) -> go.Figure:
    """One panel per image: bars of softmax(z / T) of ``logits`` (k, C).

    With ``other`` (k, C), a second model's softened predictions are drawn beside them.
    Traces: k (or 2k with ``other``), in image order, the first model's first. With more
    than ``top`` classes only each image's ``top`` classes (by ``logits``) are drawn.
    """
    fig = make_subplots(rows=1, cols=np.asarray(logits).shape[0], shared_yaxes=True,
                        subplot_titles=list(titles) if titles is not None else None,
                        horizontal_spacing=0.02)
    _add_prediction_panels(fig, logits, temperature, classes, other, names, row=1, top=top)
    fig.update_yaxes(range=[0, 1], row=1, col=1, title_text="probability")
    fig.update_layout(barmode="group", height=330, bargap=0.15,
                      title=f"softened predictions, T = {temperature:g}")
    return fig


def _add_prediction_panels(fig: go.Figure, logits, temperature: float, classes, other, names,
                           row: int, top: int | None = 10) -> None:
    z = np.asarray(logits, dtype=np.float64)  # (k, C)
    k, C = z.shape
    labels = np.array(_class_names(classes, C))
    # Many classes (CIFAR-100): show each image's ``top`` classes of the first model.
    shown = [np.argsort(-z[i], kind="stable")[:top] if top and C > top else np.arange(C)
             for i in range(k)]
    series = [(names[0], z, TEACHER_COLOR)]
    if other is not None:
        series.append((names[1], np.asarray(other, dtype=np.float64), STUDENT_COLOR))
    for name, values, color in series:
        p = soften(values, temperature)  # (k, C), softmax over all C classes
        for i in range(k):
            fig.add_trace(go.Bar(x=labels[shown[i]].tolist(), y=p[i, shown[i]], name=name,
                                 marker_color=color, legendgroup=name, showlegend=i == 0),
                          row=row, col=i + 1)
    for i in range(k):
        fig.update_yaxes(range=[0, 1], row=row, col=i + 1)
        fig.update_xaxes(tickangle=-60, tickfont_size=9, row=row, col=i + 1)


# Loss and gradient as functions of T ----------------------------------------------------------
def temperature_sweep(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      temperatures: Sequence[float]) -> pd.DataFrame:
    """KD loss and gradient size w.r.t. the student logits, for each T.

    ``student_logits``, ``teacher_logits``: (B, C). For each T, with
    ``kd = okddip_edu.losses.kd_loss(student, teacher, T)`` (which includes T^2):

    - ``kl``: kd / T^2, the plain softened KL (batchmean);
    - ``kl_t2``: kd, the KL times T^2 (what the library minimises);
    - ``grad`` / ``grad_t2``: the mean over samples of the per-sample gradient norm
      ||d loss_i / d z_s^i||_2 of each (B times the gradient of the batch mean);
    - ``ce_grad``: the same size for the cross-entropy with the teacher's top-1 as label at
      T = 1 (a constant reference: what the KD gradient competes with).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread avoids waiting on busy cores
    try:
        return _sweep(student_logits, teacher_logits, temperatures)
    finally:
        torch.set_num_threads(threads)


def _sweep(student_logits, teacher_logits, temperatures) -> pd.DataFrame:
    s = torch.as_tensor(student_logits).detach().double()
    t = torch.as_tensor(teacher_logits).detach().double()
    B = s.shape[0]
    labels = t.argmax(dim=-1)
    ce_grad = (torch.softmax(s, -1) - torch.nn.functional.one_hot(labels, s.shape[-1])).norm(
        dim=-1).mean().item()
    rows = []
    for T in temperatures:
        z = s.clone().requires_grad_(True)
        kd = kd_loss(z, t, float(T))
        (g,) = torch.autograd.grad(kd, z)  # (B, C), gradient of the batch mean
        per_sample = (B * g).norm(dim=-1).mean().item()
        rows.append({"T": float(T), "kl": kd.item() / T**2, "kl_t2": kd.item(),
                     "grad": per_sample / T**2, "grad_t2": per_sample, "ce_grad": ce_grad})
    return pd.DataFrame(rows)


def kd_vs_temperature(sweep: pd.DataFrame, marker: float | None = None,
                      log_y: bool = True) -> go.Figure:
    """Two panels from :func:`temperature_sweep`: loss vs T and gradient norm vs T.

    Traces: loss with T^2, loss without, gradient with T^2, gradient without, the CE
    gradient reference; with ``marker`` (a T) two more: the current values as points.
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=(
        "distillation loss", "gradient norm w.r.t. student logits"))
    _add_sweep_panels(fig, sweep, marker, row=1, cols=(1, 2))
    fig.update_layout(height=350, title="what T does to KL_T and its gradient")
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def _add_sweep_panels(fig: go.Figure, sweep: pd.DataFrame, marker: float | None, row: int,
                      cols: tuple[int, int]) -> None:
    T = sweep["T"].to_numpy()
    for col, key, label in ((cols[0], "kl", "KL"), (cols[1], "grad", "grad")):
        fig.add_trace(go.Scatter(x=T, y=sweep[f"{key}_t2"], mode="lines", name=f"{label} x T²",
                                 line_color=TEACHER_COLOR), row=row, col=col)
        fig.add_trace(go.Scatter(x=T, y=sweep[key], mode="lines", name=f"{label} (no T²)",
                                 line=dict(color=PLAIN_COLOR, dash="dash")), row=row, col=col)
    fig.add_trace(go.Scatter(x=T, y=sweep["ce_grad"], mode="lines", name="CE grad (T = 1)",
                             line=dict(color="#2ca02c", dash="dot")), row=row, col=cols[1])
    if marker is not None:
        for col, key in ((cols[0], "kl_t2"), (cols[1], "grad_t2")):
            y = float(np.interp(marker, T, sweep[key]))
            fig.add_trace(go.Scatter(x=[marker], y=[y], mode="markers+text",
                                     text=[f"{y:.3g}"], textposition="top right",
                                     marker=dict(size=11, color="black"), showlegend=False,
                                     name=f"T = {marker:g}"), row=row, col=col)
    for col in cols:
        fig.update_xaxes(title_text="temperature T", row=row, col=col)


def temperature_dashboard(teacher: torch.Tensor, student: torch.Tensor, temperature: float,
                          sweep: pd.DataFrame, classes: Sequence[str] | None = None,
                          titles: Sequence[str] | None = None,
                          names: tuple[str, str] = ("teacher", "student"),
                          top: int | None = 10) -> go.Figure:
    """Top row: softened predictions of two models for k images (2k bar traces);
    bottom row: :func:`kd_vs_temperature` panels with the current T marked (7 traces).

    ``teacher``, ``student``: (k, C) logits of the k images; ``sweep`` from
    :func:`temperature_sweep` (computed on many images).
    """
    k = np.asarray(teacher).shape[0]
    if k < 2:
        raise ValueError(f"temperature_dashboard needs at least 2 images, got {k}")
    left = k // 2
    specs = [[{} for _ in range(k)],
             [{"colspan": left}] + [None] * (left - 1) + [{"colspan": k - left}]
             + [None] * (k - left - 1)]
    kl_now = float(np.interp(temperature, sweep["T"], sweep["kl_t2"]))
    sub = list(titles) if titles is not None else [f"image {i}" for i in range(k)]
    fig = make_subplots(rows=2, cols=k, specs=specs, vertical_spacing=0.22,
                        horizontal_spacing=0.03, row_heights=[0.55, 0.45],
                        subplot_titles=sub + ["KL_T on the validation set (log)",
                                              "gradient norm w.r.t. student logits (log)"])
    _add_prediction_panels(fig, teacher, temperature, classes, student, names, row=1, top=top)
    fig.update_yaxes(title_text="probability", row=1, col=1)
    _add_sweep_panels(fig, sweep, temperature, row=2, cols=(1, left + 1))
    fig.update_yaxes(type="log", row=2)
    fig.update_layout(barmode="group", height=620, bargap=0.15, margin=dict(t=80),
                      title=f"T = {temperature:g}:  KL_T({names[0]} -> {names[1]}) x T² = "
                            f"{kl_now:.3f} on the validation set")
    return fig
