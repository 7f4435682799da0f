"""Widget logic without a browser: set a control's ``.value``, check the figure it builds.

`make test` runs this file twice: with the ipywidgets of the main environment (8) and with
ipywidgets 7.7, Colab's line (``$OKDDIP_EXPECT_IPYWIDGETS`` names the version expected).
"""

from __future__ import annotations

import os

import ipywidgets
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch

from okddip_edu import widgets as W
from okddip_edu.aggregation import Attention

C, K, N = 10, 4, 32


def logits(shape, seed):
    return 2.5 * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_runs_on_the_expected_ipywidgets():
    expected = os.environ.get("OKDDIP_EXPECT_IPYWIDGETS", "")
    assert ipywidgets.__version__.startswith(expected), (
        f"ipywidgets {ipywidgets.__version__} imported, {expected} expected")
    assert ipywidgets.__version__.split(".")[0] in ("7", "8")


@pytest.fixture
def explorer() -> W.TemperatureExplorer:
    return W.TemperatureExplorer(logits((K, C), 0), logits((K, C), 1), logits((N, C), 2),
                                 logits((N, C), 3), classes=[f"c{i}" for i in range(C)],
                                 titles=[f"img {i}" for i in range(K)])


def test_temperature_slider_range_and_default(explorer):
    s = explorer.temperature
    assert (s.min, s.max, s.value) == (0.5, 10.0, 3.0)
    assert explorer.state == {"temperature T": 3.0}
    # the loss curves are computed on the slider's grid: every slider position is a point
    assert explorer.sweep["T"].iloc[0] == 0.5 and explorer.sweep["T"].iloc[-1] == 10.0


def test_temperature_explorer_redraws_softmax_of_logits_over_t(explorer):
    for T in (0.5, 3.0, 7.25):
        explorer.temperature.value = T
        fig = explorer.figure()
        assert len(fig.data) == 2 * K + 7  # K teacher + K student bars, 2 x 2 curves + CE + 2
        for i in range(K):
            np.testing.assert_allclose(fig.data[i].y, torch.softmax(
                explorer.teacher[i].double() / T, -1).numpy(), rtol=1e-6)
            np.testing.assert_allclose(fig.data[K + i].y, torch.softmax(
                explorer.student[i].double() / T, -1).numpy(), rtol=1e-6)
        marker = fig.data[-2]
        assert marker.x == (T,)
        row = explorer.sweep[np.isclose(explorer.sweep["T"], T)].iloc[0]
        assert marker.y[0] == pytest.approx(row["kl_t2"])
        assert f"T = {T:g}" in fig.layout.title.text


def test_figure_app_redraws_only_once_shown(explorer, monkeypatch):
    calls = []
    monkeypatch.setattr(explorer, "redraw", lambda: calls.append(explorer.temperature.value))
    explorer.temperature.value = 4.0
    assert calls == []  # not displayed yet: nothing drawn
    explorer._shown = True
    explorer.temperature.value = 5.0
    assert calls == [5.0]


def test_widget_shows_controls_above_the_figure_and_redraws_it(explorer, monkeypatch):
    shown: list[go.Figure] = []
    monkeypatch.setattr(go.Figure, "show", lambda fig, *a, **k: shown.append(fig))
    box = explorer.widget()
    assert isinstance(box, ipywidgets.VBox)
    controls, output = box.children
    assert list(controls.children) == [explorer.temperature] and output is explorer.output
    assert len(shown) == 1 and "T = 3" in shown[0].layout.title.text
    explorer.temperature.value = 5.0
    assert len(shown) == 2 and "T = 5" in shown[1].layout.title.text


@pytest.fixture
def playground() -> W.AggregationPlayground:
    torch.manual_seed(0)
    att = Attention(16, 8)
    h = torch.randn(5, 3, 16)  # (N, m, d)
    z = logits((5, 3, C), 4)  # (N, m, C)
    with torch.no_grad():
        targets, weights = att(h, z)
    return W.AggregationPlayground(weights, z, targets, labels=torch.tensor([0, 1, 2, 3, 4]),
                                   classes=[f"c{i}" for i in range(C)], temperature=3.0)


def test_playground_heatmap_is_the_chosen_samples_weights(playground):
    s = playground.sample
    assert (s.min, s.max, s.value) == (0, 4, 0)
    for i in (0, 3):
        s.value = i
        fig = playground.figure()
        assert len(fig.data) == 1 + 2 * 3
        np.testing.assert_allclose(np.array(fig.data[0].z), playground.weights[i].numpy(),
                                   rtol=1e-6)
        np.testing.assert_allclose(fig.data[2].y, torch.softmax(
            playground.targets[i, 0].double() / 3, -1).numpy(), rtol=1e-5)
        assert f"true class: c{i}" in fig.layout.title.text


def test_playground_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="same samples"):
        W.AggregationPlayground(torch.ones(2, 3, 3) / 3, torch.zeros(3, 3, C),
                                torch.zeros(2, 3, C))


def fake_histories() -> pd.DataFrame:
    rows = []
    for v, base in (("independent", 0.6), ("dml", 0.3), ("okddip", 0.45), ("baseline", None)):
        for seed in range(2):
            for e in range(3):
                r = {"suite": "methods", "variant": v, "seed": seed, "epoch": e}
                for k in W.DIVERSITY_MEASURES:
                    r[f"val_{k}"] = np.nan if base is None else base + 0.1 * e + 0.01 * seed
                if v == "okddip":
                    d = 0.4 + 0.2 * e
                    for a in range(3):
                        for b in range(3):
                            r[f"val_att_a{a}_b{b}"] = d if a == b else (1 - d) / 2
                    r["val_att_diag"] = d
                rows.append(r)
    return pd.DataFrame(rows)


def test_diversity_explorer_controls_and_figure():
    h = fake_histories()
    app = W.DiversityExplorer(h)
    assert list(app.method.options) == ["independent", "dml", "okddip"]  # baseline: no data
    assert list(app.measure.options) == list(W.DIVERSITY_MEASURES)
    assert (app.epoch.min, app.epoch.max, app.epoch.value) == (0, 2, 2)
    app.measure.value = "div_js"
    app.epoch.value = 1
    app.method.value = "dml"
    fig = app.figure()
    assert len(fig.data) == 3 * 2 + 1
    bar = fig.data[-1]
    want = h[h["epoch"] == 1].groupby("variant")["val_div_js"].mean()
    np.testing.assert_allclose(bar.y, [want[m] for m in ["independent", "dml", "okddip"]])
    assert "div_js" in fig.layout.title.text
    widths = {tr.name: tr.line.width for tr in fig.data
              if tr.type == "scatter" and tr.mode == "lines+markers"}
    assert widths["dml"] > widths["okddip"]


def test_attention_over_epochs_widget_follows_the_slider():
    h = fake_histories()
    app = W.AttentionOverEpochs(h[h["variant"] == "okddip"])
    assert (app.epoch.min, app.epoch.max) == (0, 2)
    for e in (0, 2):
        app.epoch.value = e
        fig = app.figure()
        z = np.array(fig.data[0].z)
        assert z[0, 0] == pytest.approx(0.4 + 0.2 * e)
        np.testing.assert_allclose(z.sum(axis=1), 1.0)
        assert fig.data[-1].x == (e,)


def test_interactive_dropdown_calls_back_with_each_choice():
    """Notebook 06 browses suites with ``interact`` over a Dropdown: same API on 7.7 and 8."""
    seen = []
    app = ipywidgets.interactive(lambda suite: seen.append(suite), suite=ipywidgets.Dropdown(
        options=["methods", "leader"], value="methods", description="suite"))
    app.update()
    app.children[0].value = "leader"
    assert seen[0] == "methods" and seen[-1] == "leader"


@pytest.mark.usefixtures("one_thread")
def test_live_training_widget_trains_what_its_switches_say(monkeypatch):
    """The Train button runs okddip_edu.live on the switches' config and redraws every epoch
    (a seconds-long synthetic run; tests/test_live.py checks the logic itself)."""
    import traitlets

    from okddip_edu.config import preset

    base = preset("smoke", dataset="synthetic", device="cpu", train_subset=128, epochs=2)
    shown: list[go.Figure] = []
    monkeypatch.setattr(go.Figure, "show", lambda fig, *a, **k: shown.append(fig))
    app = W.LiveTraining(base, records=[{"run": "earlier", "epoch": 1, "att_diag": 0.5,
                                         "leader_top1": 10.0, "w": 1.0, "peers": 3}])
    assert [c.description for c in app.controls] == ["aggregation", "detach", "mask_diagonal",
                                                     "Train"]
    app.widget()
    app.mask_diagonal.value = True
    assert app.config().mask_diagonal and not app.config().detach
    app.button.click()
    assert [(r["epoch"], r["att_diag"]) for r in app.records[1:]] == [(0, 0.0), (1, 0.0)]
    assert len(shown) == 1 + 2 and not app.button.disabled  # first draw + one per epoch
    assert {t.name for t in shown[-1].data} >= {"earlier",
                                                "attention, detach=False, mask_diagonal=True"}
    assert "0.000 (epoch 0) -> 0.000 (epoch 1)" in app.status.value
    with pytest.raises(traitlets.TraitError):
        app.aggregation.value = "max"
