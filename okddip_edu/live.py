r"""Live training: flip OKDDip's first-level switches, train a small run, watch the attention.

    cfg = live.config(base, detach=False, mask_diagonal=True, aggregation="attention")
    records = live.train(cfg, on_record=lambda rec, recs: print(rec))   # one per epoch
    live.figure(records).show()      # mean alpha_aa | leader top-1, against epochs from 0

Three switches of :class:`okddip_edu.config.Config` decide how each peer's target is made
(:mod:`okddip_edu.aggregation`):

- ``aggregation``: ``attention`` (OKDDip, t_a = sum_b alpha_ab z_b), ``mean`` (uniform
  weights 1/m), ``gate`` (ONE's gate, one target for all) or ``none`` (no first level);
- ``mask_diagonal``: alpha_aa = 0, a peer is left out of its own target (for ``mean``: the
  mean of the others); no effect on ``gate`` and ``none``;
- ``detach``: a stop-gradient at every target, so W_q and W_k get no gradient and keep
  their initial values, while alpha still changes with the features it is computed from.

A *record* is one epoch of one run, read from the row :func:`okddip_edu.engine.fit` passes
to its ``on_epoch_end`` callback:

    {"run": "attention, detach=False, mask_diagonal=True",  # the switches, as a label
     "epoch": 0,             # counted from 0 as in the history: after training epoch e
     "att_diag": 0.0,        # validation mean of alpha_aa = (1/m) sum_a mean_i alpha_aa^i;
                             # None without an m x m weight matrix (gate, none)
     "leader_top1": 25.1,    # validation top-1 of the group leader (%)
     "w": 0.007,             # ramp-up weight w(e) of the distillation terms that epoch
     "peers": 3}             # m: uniform attention has alpha_aa = 1/m

The figure and the widget (:class:`okddip_edu.widgets.LiveTraining`) only read records, so
tests check the whole piece on a tiny synthetic run.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import data
from .config import AGGREGATIONS, Config
from .pretrained import fit_or_load
from .plots.curves import PALETTE

SWITCHES = ("detach", "mask_diagonal", "aggregation")
OnRecord = Callable[[dict, list], None]  # (the new record, all records of the run so far)


def config(base: Config, detach: bool = False, mask_diagonal: bool = False,
           aggregation: str = "attention") -> Config:
    """``base`` as an OKDDip run with the three switches set (validated copy)."""
    for name, value in (("detach", detach), ("mask_diagonal", mask_diagonal)):
        if not isinstance(value, bool):
            raise ValueError(f"{name}={value!r} is not valid; it is a switch: True or False")
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation={aggregation!r} is not valid; choose one of: "
                         f"{', '.join(AGGREGATIONS)}")
    return base.replace(method="okddip", detach=detach, mask_diagonal=mask_diagonal,
                        aggregation=aggregation)


def label(cfg: Config) -> str:
    """The switches of a run, as a legend entry."""
    return f"{cfg.aggregation}, detach={cfg.detach}, mask_diagonal={cfg.mask_diagonal}"


def record(row: Mapping, run: str, peers: int) -> dict:
    """One epoch's record from a history row of :func:`okddip_edu.engine.fit`."""
    diag = row.get("val_att_diag")
    missing = diag is None or (isinstance(diag, float) and math.isnan(diag))
    return {"run": run, "epoch": int(row["epoch"]),  # from 0, as the history and every figure
            "att_diag": None if missing else float(diag),
            "leader_top1": float(row["val_top1_leader"]), "w": float(row["w"]),
            "peers": peers}


def train(cfg: Config, splits: data.Splits | None = None, on_record: OnRecord | None = None,
          run: str | None = None, train_live: bool = True) -> list[dict]:
    """Train ``cfg`` (no run directory, no progress bars) and return one record per epoch;
    ``on_record(record, records)`` is called after every epoch, e.g. to redraw a figure.
    ``train_live=False`` reads the run's shipped copy where one exists
    (:func:`okddip_edu.pretrained.fit_or_load`) and replays its epochs."""
    if cfg.method != "okddip":
        raise ValueError(f"method={cfg.method!r}: live training shows OKDDip's attention; "
                         "build the config with live.config")
    name = run or label(cfg)
    records: list[dict] = []

    def on_epoch_end(row: dict, history) -> None:
        records.append(record(row, name, cfg.branches - 1))
        if on_record is not None:
            on_record(records[-1], records)

    fit_or_load(cfg, train_live=train_live, splits=splits, on_epoch_end=on_epoch_end,
                progress=False)
    return records


# The notebook's live runs, per profile: small enough to train in about a minute on a CPU.
SIZES = {"full": dict(epochs=8, rampup=2, milestones=(6,), train_subset=10_000),
         "quick": dict(epochs=8, rampup=2, train_subset=2048), "smoke": {}}


def base(nb) -> Config:
    """The base config of a live run for a notebook's profile (a
    :class:`okddip_edu.course.Notebook`)."""
    return nb.config(method="okddip", **SIZES[nb.profile])


def describe(records: Sequence[dict]) -> str:
    """One line per run: the diagonal and the leader's accuracy, first and last epoch."""
    lines = []
    for run in dict.fromkeys(r["run"] for r in records):
        rs = [r for r in records if r["run"] == run]
        a, b = rs[0], rs[-1]
        diag = ("no attention matrix" if a["att_diag"] is None else
                f"mean alpha_aa {a['att_diag']:.3f} (epoch {a['epoch']}) -> "
                f"{b['att_diag']:.3f} (epoch {b['epoch']})")
        lines.append(f"{run}: {diag}; leader top-1 {a['leader_top1']:.1f}% -> "
                     f"{b['leader_top1']:.1f}%")
    return "\n".join(lines)


def figure(records: Sequence[dict], title: str | None = None) -> go.Figure:
    """Left: the validation mean of alpha_aa per epoch, a dotted line at 1/m; right: the
    leader's validation top-1. One colour per run; epochs counted from 0 as in every figure."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("mean attention on itself, alpha_aa",
                                        "leader top-1 accuracy (%)"))
    runs = list(dict.fromkeys(r["run"] for r in records))
    for i, run in enumerate(runs):
        rs = [r for r in records if r["run"] == run]
        x = [r["epoch"] for r in rs]
        color = PALETTE[i % len(PALETTE)]
        note = "" if any(r["att_diag"] is not None for r in rs) else " (no attention matrix)"
        fig.add_trace(go.Scatter(x=x, y=[r["att_diag"] for r in rs], name=run + note,
                                 meta="att_diag", mode="lines+markers", legendgroup=run,
                                 line=dict(color=color, width=2.5)), row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=[r["leader_top1"] for r in rs], name=run,
                                 meta="leader_top1", mode="lines+markers", legendgroup=run,
                                 showlegend=False, line=dict(color=color, width=2.5)),
                      row=1, col=2)
    fig.update_xaxes(title_text="epoch (from 0)", dtick=1)
    if records:
        m = records[0]["peers"]
        fig.add_hline(y=1.0 / m, line_dash="dot", line_color="gray", row=1, col=1,
                      annotation_text=f"uniform 1/m = {1.0 / m:.2f}")
        fig.update_xaxes(range=[-0.5, max(r["epoch"] for r in records) + 0.5])
    fig.update_yaxes(range=[0, 1.02], row=1, col=1)
    fig.update_layout(title=title or "live OKDDip runs: one colour per setting", height=380,
                      margin=dict(l=50, r=20, t=70, b=40),
                      legend=dict(orientation="h", y=-0.25))
    return fig
