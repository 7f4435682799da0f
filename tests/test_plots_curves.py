"""Curve builders and the live plot: every trace shows exactly a history column.

Histories are built by hand with the columns :func:`okddip_edu.engine.fit` writes, so the
tests are fast and need no training.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from okddip_edu.losses import ramp_up
from okddip_edu.plots import curves


def okddip_history(epochs: int = 4, n: int = 4, seed: int = 0) -> pd.DataFrame:
    """A history with OKDDip's columns (m = n - 1 peers, leader = branch n - 1)."""
    rng = np.random.default_rng(seed)
    rows = []
    for e in range(epochs):
        row = {"epoch": e, "lr": 0.05, "w": ramp_up(e, 2), "train_ce": 9.0 - e,
               "train_dis1": 0.1 * (e + 1), "train_dis2": 0.05 * (e + 1),
               "train_top1_head": 20.0 + 5 * e}
        row["train_total"] = row["train_ce"] + row["w"] * (row["train_dis1"] + row["train_dis2"])
        for i in range(n):
            row[f"val_top1_b{i}"] = 30.0 + 4 * e + rng.uniform(0, 3)
        row["val_top1_ens"] = 35.0 + 4 * e
        row["val_top1_leader"] = row[f"val_top1_b{n - 1}"]
        row["val_div_l2"] = 0.4 - 0.05 * e + 0.01 * seed
        for a in range(n - 1):
            for b in range(n - 1):
                row[f"val_att_a{a}_b{b}"] = 1.0 / (n - 1)
        row["epoch_time"] = 1.0
        rows.append(row)
    return pd.DataFrame(rows)


def traces_by_meta(fig: go.Figure) -> dict[str, go.Scatter]:
    return {t.meta: t for t in fig.data}


def test_training_curves_shows_accuracy_and_every_loss_term():
    h = okddip_history()
    fig = curves.training_curves(h, title="run")
    got = traces_by_meta(fig)
    accuracy = ["val_top1_leader", "val_top1_ens"] + [f"val_top1_b{i}" for i in range(4)]
    losses = ["train_ce", "train_dis1", "train_dis2", "train_total"]
    assert set(got) == set(accuracy + losses)  # train_top1_head is not a loss term
    for col in accuracy + losses:
        assert list(got[col].x) == h["epoch"].tolist()
        assert list(got[col].y) == pytest.approx(h[col].tolist())
    assert all(got[c].xaxis == "x" for c in accuracy)  # left panel
    assert all(got[c].xaxis == "x2" for c in ("train_ce", "train_total"))  # middle panel
    assert all(got[c].xaxis == "x3" for c in ("train_dis1", "train_dis2"))  # right panel
    assert got["val_top1_leader"].name == "leader"
    assert got["val_top1_b2"].name == "branch 2"
    assert fig.layout.title.text == "run"


def test_distillation_terms_have_their_own_y_axis_with_its_title():
    """CE ~ 2-8, L_dis ~ 0.01: on one axis the distillation terms would be flat zeros."""
    fig = curves.training_curves(okddip_history())
    got = traces_by_meta(fig)
    ce_axis, dis_axis = got["train_ce"].yaxis, got["train_dis1"].yaxis
    assert ce_axis != dis_axis and got["train_dis2"].yaxis == dis_axis
    assert got["train_total"].yaxis == ce_axis
    title = {ax: fig.layout["yaxis" + ax[1:]].title.text for ax in (ce_axis, dis_axis)}
    assert "CE" in title[ce_axis] and "distillation" in title[dis_axis]
    assert "distillation" in fig.layout.annotations[2].text  # the panel's title


def test_training_curves_of_other_methods_use_their_own_terms():
    h = okddip_history().drop(columns=["train_dis1", "train_dis2"])
    h["train_kd"] = 0.3
    h["train_ce_teacher"] = 2.0
    got = traces_by_meta(curves.training_curves(h))
    assert {"train_kd", "train_ce_teacher", "train_ce", "train_total"} <= set(got)
    assert "train_dis1" not in got
    assert curves.distillation_columns(h) == ["train_kd"]  # ONE: the teacher's CE is a CE
    assert got["train_kd"].yaxis != got["train_ce_teacher"].yaxis == got["train_ce"].yaxis


def test_a_method_without_distillation_has_two_panels():
    h = okddip_history().drop(columns=["train_dis1", "train_dis2"])
    fig = curves.training_curves(h)
    assert {t.xaxis for t in fig.data} == {"x", "x2"}
    assert len(fig.layout.annotations) == 2


def test_metric_curves_mean_and_std_band_over_seeds():
    runs = []
    for variant, shift in (("okddip", 0.0), ("dml", -0.2)):
        for seed in range(3):
            h = okddip_history(seed=seed)
            h["val_div_l2"] += shift
            h.insert(0, "suite", "methods")
            h.insert(1, "variant", variant)
            h.insert(2, "seed", seed)
            runs.append(h)
    histories = pd.concat(runs, ignore_index=True)
    fig = curves.metric_curves(histories, "val_div_l2")
    lines = [t for t in fig.data if t.fill is None]
    bands = [t for t in fig.data if t.fill == "toself"]
    assert [t.name for t in lines] == ["okddip", "dml"]
    assert len(bands) == 2
    for t in lines:
        sub = histories[histories["variant"] == t.name]
        mean = sub.groupby("epoch")["val_div_l2"].mean()
        std = sub.groupby("epoch")["val_div_l2"].std()
        assert list(t.x) == mean.index.tolist()
        assert list(t.y) == pytest.approx(mean.tolist())
        band = next(b for b in bands if b.legendgroup == t.name)
        epochs = len(mean)
        assert list(band.y[:epochs]) == pytest.approx((mean + std).tolist())
        assert list(band.y[epochs:]) == pytest.approx((mean - std).tolist()[::-1])
    assert "mean ± std over 3 seeds" in fig.layout.title.text


def test_seeds_text_says_what_the_band_is():
    assert curves.seeds_text([5, 5]) == "mean ± std over 5 seeds"
    assert curves.seeds_text([3, 5]) == "mean ± std over 3-5 seeds"
    assert curves.seeds_text([5], band=False) == "mean over 5 seeds"
    assert curves.seeds_text([1, 1]) == "one seed"


def test_metric_curves_accepts_a_mapping_of_single_runs_without_band():
    runs = {"independent": okddip_history(seed=1), "okddip": okddip_history(seed=2)}
    fig = curves.metric_curves(runs, "val_top1_leader")
    assert [t.name for t in fig.data] == ["independent", "okddip"]  # one seed: no band
    for t in fig.data:
        assert list(t.y) == pytest.approx(runs[t.name]["val_top1_leader"].tolist())
    assert "one seed" in fig.layout.title.text


def test_metric_curves_rejects_unknown_metric_and_band():
    with pytest.raises(ValueError, match="not a column"):
        curves.metric_curves(okddip_history(), "val_nothing")
    with pytest.raises(ValueError, match="band="):
        curves.metric_curves(okddip_history(), "val_div_l2", band="iqr")
    with pytest.raises(ValueError, match="band="):  # one kind of band in the course
        curves.metric_curves(okddip_history(), "val_div_l2", band="range")


def test_rampup_curve_is_the_library_ramp_up():
    fig = curves.rampup_curve([4, 80], epochs=100)
    assert [t.name for t in fig.data] == ["L = 4", "L = 80"]
    t80 = fig.data[1]
    assert t80.y[0] == pytest.approx(math.exp(-5))
    assert t80.y[40] == pytest.approx(ramp_up(40, 80))
    assert t80.y[80] == pytest.approx(1.0) and t80.y[100] == pytest.approx(1.0)


def test_live_plot_outside_ipython_keeps_the_latest_figure():
    h = okddip_history(epochs=3)
    live = curves.LivePlot(title="live")
    assert live.figure is None
    for e in range(3):
        part = h.iloc[: e + 1]
        live(part.iloc[-1].to_dict(), part)
        got = traces_by_meta(live.figure)
        assert list(got["val_top1_leader"].y) == pytest.approx(part["val_top1_leader"].tolist())
        assert list(got["train_dis1"].x) == part["epoch"].tolist()
    assert live.handle is None  # nothing was displayed outside a notebook
    assert live.figure.layout.title.text == "live"


@pytest.mark.parametrize("every", [1, 2])
def test_history_replay_equals_the_live_figure_after_the_same_epochs(every):
    """A shipped run drawn at once shows what LivePlot showed after its last redraw."""
    h = okddip_history(epochs=5)
    live = curves.LivePlot(title="OKDDip", every=every)
    for e in range(5):
        live(h.iloc[e].to_dict(), h.iloc[: e + 1])
    replay = curves.LivePlot.from_history(h, title="OKDDip")
    assert replay.to_dict() == live.figure.to_dict()
    assert curves.LivePlot.from_history(h.iloc[:3]).to_dict() != replay.to_dict()


def test_live_plot_every_k_epochs():
    h = okddip_history(epochs=5)
    live = curves.LivePlot(every=2)
    seen = []
    for e in range(5):
        part = h.iloc[: e + 1]
        live(part.iloc[-1].to_dict(), part)
        seen.append(len(live.figure.data[0].x))
    assert seen == [1, 1, 3, 3, 5]
    with pytest.raises(ValueError, match="every="):
        curves.LivePlot(every=0)


def test_live_plot_updates_one_display_in_ipython(monkeypatch):
    """In a notebook: one display with an id, then updates of that same output."""
    calls = []

    class Handle:
        def update(self, obj, **kw):
            calls.append(("update", obj, kw))

    def fake_display(obj, **kw):
        calls.append(("display", obj, kw))
        return Handle()

    import IPython.display
    import plotly.io as pio

    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")  # as in JupyterLab
    monkeypatch.setattr(curves, "_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", fake_display)
    h = okddip_history(epochs=3)
    live = curves.LivePlot()
    for e in range(3):
        live(h.iloc[e].to_dict(), h.iloc[: e + 1])
    assert [c[0] for c in calls] == ["display", "update", "update"]
    assert calls[0][2] == {"raw": True, "display_id": True}
    assert all(c[2] == {"raw": True} for c in calls[1:])
    sent = calls[-1][1]["application/vnd.plotly.v1+json"]  # the figure of epoch 2
    leader = next(t for t in sent["data"] if t.get("meta") == "val_top1_leader")
    assert list(leader["y"]) == pytest.approx(h["val_top1_leader"].tolist())
    assert "text/plain" in calls[-1][1]
