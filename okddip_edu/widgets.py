"""Widgets: ipywidgets controls wired to the figure builders of :mod:`okddip_edu.plots`.

Each widget is a plain class whose state is the values of its controls, with a
``figure()`` method that builds a fresh ``go.Figure`` from that state. Nothing else
happens in the class, so a test drives it without a browser::

    app = TemperatureExplorer(teacher, student, val_teacher, val_student)
    app.temperature.value = 5.0
    fig = app.figure()             # check fig.data

In a notebook, ``app.show()`` displays the controls above an ``ipywidgets.Output`` and
redraws the figure into it whenever a control changes. (``go.FigureWidget`` needs the
optional ``anywidget`` package; redrawing a plain figure works everywhere, Colab included.)
:class:`LiveTraining` is the one that trains: its button runs :func:`okddip_edu.live.train`
and redraws after every epoch.
"""

from __future__ import annotations

from typing import Sequence

import ipywidgets as widgets
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch

from . import live
from .config import AGGREGATIONS
from .plots import attention as att_plots
from .plots import softmax as sm_plots


class FigureApp:
    """Controls + ``figure()``; ``show()`` displays them and keeps the figure up to date."""

    def __init__(self) -> None:
        self.output = widgets.Output()
        self._shown = False

    @property
    def controls(self) -> list[widgets.Widget]:
        raise NotImplementedError

    @property
    def state(self) -> dict:
        """The value of every control, by its description."""
        return {c.description: c.value for c in self.controls}

    def figure(self) -> go.Figure:
        raise NotImplementedError

    def _watch(self) -> None:
        for c in self.controls:
            c.observe(self._on_change, names="value")

    def _on_change(self, change=None) -> None:
        if self._shown:
            self.redraw()

    def redraw(self) -> None:
        """Replace the figure shown in the output area by a fresh one."""
        fig = self.figure()
        self.output.clear_output(wait=True)
        with self.output:
            fig.show()

    def widget(self) -> widgets.VBox:
        """The controls above the output area (draws the figure once)."""
        self._shown = True
        self.redraw()
        return widgets.VBox([widgets.HBox(self.controls), self.output])

    def show(self) -> None:
        from IPython.display import display

        display(self.widget())


def _slider_style() -> dict:
    return dict(continuous_update=False, style={"description_width": "initial"},
                layout=widgets.Layout(width="420px"))


# Notebook 01: temperature -------------------------------------------------------------------
class TemperatureExplorer(FigureApp):
    """A temperature slider over a trained model's softened predictions for a few images.

    ``teacher`` / ``student``: (k, C) logits of the k chosen images from two models;
    ``val_teacher`` / ``val_student``: (N, C) logits of the whole validation set, for the
    loss and gradient curves (:func:`okddip_edu.plots.softmax.temperature_sweep`), computed
    once on a grid of T matching the slider.
    """

    T_MIN, T_MAX, T_STEP = 0.5, 10.0, 0.25

    def __init__(self, teacher, student, val_teacher, val_student,
                 classes: Sequence[str] | None = None, titles: Sequence[str] | None = None,
                 temperature: float = 3.0, names: tuple[str, str] = ("teacher", "student")):
        super().__init__()
        self.teacher = torch.as_tensor(teacher).detach().float().cpu()
        self.student = torch.as_tensor(student).detach().float().cpu()
        self.classes, self.titles, self.names = classes, titles, names
        grid = np.round(np.arange(self.T_MIN, self.T_MAX + 1e-9, self.T_STEP), 4)
        self.sweep = sm_plots.temperature_sweep(torch.as_tensor(val_student).detach().cpu(),
                                                torch.as_tensor(val_teacher).detach().cpu(),
                                                grid)
        self.temperature = widgets.FloatSlider(value=temperature, min=self.T_MIN,
                                               max=self.T_MAX, step=self.T_STEP,
                                               description="temperature T",
                                               readout_format=".2f", **_slider_style())
        self._watch()

    @property
    def controls(self) -> list[widgets.Widget]:
        return [self.temperature]

    def figure(self) -> go.Figure:
        return sm_plots.temperature_dashboard(self.teacher, self.student,
                                              self.temperature.value, self.sweep,
                                              classes=self.classes, titles=self.titles,
                                              names=self.names)


# Notebook 03: the aggregation playground ------------------------------------------------------
class AggregationPlayground(FigureApp):
    """Pick a validation sample: its m x m attention weights and each peer's own softened
    prediction beside its target.

    ``weights`` (N, m, m), ``peer_logits`` (N, m, C), ``targets`` (N, m, C) for N samples;
    ``labels`` (N,) true classes (optional, for the title).
    """

    def __init__(self, weights, peer_logits, targets, labels=None,
                 classes: Sequence[str] | None = None, temperature: float = 3.0):
        super().__init__()
        self.weights = torch.as_tensor(weights).detach().float().cpu()
        self.peer_logits = torch.as_tensor(peer_logits).detach().float().cpu()
        self.targets = torch.as_tensor(targets).detach().float().cpu()
        n = self.weights.shape[0]
        if not (self.peer_logits.shape[0] == self.targets.shape[0] == n):
            raise ValueError("weights, peer_logits and targets must hold the same samples")
        self.labels = None if labels is None else torch.as_tensor(labels).cpu()
        self.classes = classes
        self.temperature = temperature
        self.sample = widgets.IntSlider(value=0, min=0, max=n - 1, step=1,
                                        description="validation sample", **_slider_style())
        self._watch()

    @property
    def controls(self) -> list[widgets.Widget]:
        return [self.sample]

    def title(self) -> str:
        i = self.sample.value
        text = f"sample {i}"
        if self.labels is not None:
            y = int(self.labels[i])
            text += f", true class: {self.classes[y] if self.classes else y}"
        return text + f"  (distributions at T = {self.temperature:g})"

    def figure(self) -> go.Figure:
        i = self.sample.value
        return att_plots.peer_targets(self.weights[i], self.peer_logits[i], self.targets[i],
                                      self.temperature, self.classes, title=self.title())


# Notebook 05: diversity and attention over epochs -------------------------------------------
DIVERSITY_MEASURES = ("div_l2", "div_disagree", "div_js", "div_kl", "ens_gain")


class DiversityExplorer(FigureApp):
    """Choose a method, a measure and an epoch: the measure over epochs for every method
    (the chosen one highlighted) and all methods side by side at the chosen epoch.

    ``histories``: one row per (variant, seed, epoch), ``val_<measure>`` columns.
    """

    def __init__(self, histories: pd.DataFrame, methods: Sequence[str] | None = None,
                 measures: Sequence[str] = DIVERSITY_MEASURES, by: str = "variant"):
        super().__init__()
        self.histories, self.by = histories, by
        present = [m for m in measures if f"val_{m}" in histories.columns
                   and histories[f"val_{m}"].notna().any()]
        if not present:
            raise ValueError(f"none of the measures {list(measures)} has data in the histories")
        if methods is None:
            methods = list(dict.fromkeys(histories[by]))
        col = f"val_{present[0]}"
        with_data = set(histories.dropna(subset=[col])[by])
        self.methods = [m for m in methods if m in with_data]
        epochs = sorted(histories["epoch"].unique().tolist())
        self.method = widgets.Dropdown(options=self.methods, value=self.methods[-1],
                                       description="method")
        self.measure = widgets.Dropdown(options=present, value=present[0],
                                        description="measure")
        self.epoch = widgets.IntSlider(value=int(epochs[-1]), min=int(epochs[0]),
                                       max=int(epochs[-1]), step=1, description="epoch",
                                       **_slider_style())
        self._watch()

    @property
    def controls(self) -> list[widgets.Widget]:
        return [self.method, self.measure, self.epoch]

    def figure(self) -> go.Figure:
        return att_plots.measure_over_epochs(self.histories, self.measure.value,
                                             epoch=self.epoch.value, methods=self.methods,
                                             highlight=self.method.value, by=self.by)


class AttentionOverEpochs(FigureApp):
    """An epoch slider over the mean attention matrix logged by OKDDip runs, beside the
    mean diagonal over all epochs.

    ``history``: the epochs of one or more OKDDip runs (e.g. several seeds; their matrices
    are averaged per epoch), with ``val_att_a{i}_b{j}`` and ``val_att_diag`` columns.
    """

    def __init__(self, history: pd.DataFrame, by: str | None = "seed"):
        super().__init__()
        self.history, self.by = history, by
        epochs = sorted(att_plots._att_rows(history)["epoch"].unique().tolist())
        self.epoch = widgets.IntSlider(value=int(epochs[0]), min=int(epochs[0]),
                                       max=int(epochs[-1]), step=1, description="epoch",
                                       **_slider_style())
        self._watch()

    @property
    def controls(self) -> list[widgets.Widget]:
        return [self.epoch]

    def figure(self) -> go.Figure:
        return att_plots.attention_over_epochs(self.history, self.epoch.value, by=self.by)


# Notebook 03: live training -----------------------------------------------------------------
class LiveTraining:
    """Switches for ``detach``, ``mask_diagonal`` and ``aggregation`` and a Train button: each
    click trains one small OKDDip run (:func:`okddip_edu.live.train` on ``base`` with the
    switches) and redraws :func:`okddip_edu.live.figure` after every epoch, every run of this
    widget in its own colour. ``records``: runs to start from (e.g. one trained in a cell)."""

    def __init__(self, base, splits=None, records: Sequence[dict] = ()):
        self.base, self.splits = base, splits
        self.records: list[dict] = list(records)
        self.detach = widgets.Checkbox(value=False, description="detach", indent=False)
        self.mask_diagonal = widgets.Checkbox(value=False, description="mask_diagonal",
                                              indent=False)
        self.aggregation = widgets.ToggleButtons(options=list(AGGREGATIONS),
                                                 value="attention", description="aggregation")
        self.button = widgets.Button(description="Train", button_style="primary")
        self.button.on_click(lambda _: self.train())
        self.status = widgets.Label(value=f"{base.epochs} epochs a run; click Train")
        self.output = widgets.Output()

    @property
    def controls(self) -> list[widgets.Widget]:
        return [self.aggregation, self.detach, self.mask_diagonal, self.button]

    def config(self):
        """The run the switches describe (:func:`okddip_edu.live.config`)."""
        return live.config(self.base, detach=self.detach.value,
                           mask_diagonal=self.mask_diagonal.value,
                           aggregation=self.aggregation.value)

    def figure(self, extra: Sequence[dict] = ()) -> go.Figure:
        return live.figure(self.records + list(extra))

    def train(self) -> list[dict]:
        """Train the run the switches describe, redrawing after every epoch; its records."""
        cfg = self.config()
        self.button.disabled = True
        try:
            def progress(rec: dict, recs: list) -> None:
                self.status.value = f"{rec['run']}: epoch {rec['epoch']}/{cfg.epochs}"
                self.redraw(recs)

            new = live.train(cfg, self.splits, on_record=progress)
        finally:
            self.button.disabled = False
        self.records += new
        self.status.value = live.describe(new)
        return new

    def redraw(self, extra: Sequence[dict] = ()) -> None:
        fig = self.figure(extra)
        self.output.clear_output(wait=True)
        with self.output:
            fig.show()

    def widget(self) -> widgets.VBox:
        self.redraw()
        switches = widgets.HBox([self.detach, self.mask_diagonal, self.button])
        return widgets.VBox([self.aggregation, switches, self.status, self.output])

    def show(self) -> None:
        from IPython.display import display

        display(self.widget())
