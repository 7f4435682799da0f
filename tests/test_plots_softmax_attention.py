"""Figure builders of ``plots.softmax`` and ``plots.attention``: the plotted numbers are the
numbers they claim to be (softmax(z/T), attention weights, logged history columns)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from okddip_edu.aggregation import Attention
from okddip_edu.losses import kd_loss
from okddip_edu.plots import attention as ap
from okddip_edu.plots import softmax as sp

C = 10


def fixed_logits(k: int = 4, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 3.0 * torch.randn(k, C, generator=g)  # (k, C)


def history(m: int = 3, epochs: int = 4, seeds: int = 2, variant: str = "okddip"
            ) -> pd.DataFrame:
    """A fake OKDDip history: the attention diagonal grows with the epoch."""
    rows = []
    for seed in range(seeds):
        for e in range(epochs):
            d = 1.0 / m + (1 - 1.0 / m) * e / (epochs) + 0.01 * seed  # diagonal weight
            row = {"suite": "methods", "variant": variant, "seed": seed, "epoch": e,
                   "val_div_l2": 0.5 - 0.1 * e + 0.01 * seed, "val_ens_gain": 1.0 + e}
            for a in range(m):
                for b in range(m):
                    row[f"val_att_a{a}_b{b}"] = d if a == b else (1 - d) / (m - 1)
            row["val_att_diag"] = d
            rows.append(row)
    return pd.DataFrame(rows)


# softmax ---------------------------------------------------------------------------------
def test_soften_is_softmax_of_logits_over_t():
    z = fixed_logits()
    for T in (0.5, 1.0, 4.0):
        np.testing.assert_allclose(sp.soften(z, T), torch.softmax(z.double() / T, -1).numpy())


def test_softmax_temperature_has_one_trace_per_t_with_softmax_values():
    z = fixed_logits(1)[0]
    fig = sp.softmax_temperature(z, [1, 3, 10], classes=[f"c{i}" for i in range(C)])
    assert len(fig.data) == 3
    for tr, T in zip(fig.data, [1, 3, 10]):
        np.testing.assert_allclose(tr.y, torch.softmax(z.double() / T, -1).numpy())
        assert list(tr.x) == [f"c{i}" for i in range(C)]
    # a higher temperature is flatter: the largest probability shrinks
    assert max(fig.data[0].y) > max(fig.data[1].y) > max(fig.data[2].y)


def test_softened_predictions_one_panel_per_image_and_optional_second_model():
    t, s = fixed_logits(3, 0), fixed_logits(3, 1)
    fig = sp.softened_predictions(t, 2.0, titles=["a", "b", "c"])
    assert len(fig.data) == 3
    fig = sp.softened_predictions(t, 2.0, other=s)
    assert len(fig.data) == 6
    for i in range(3):
        np.testing.assert_allclose(fig.data[i].y, torch.softmax(t[i].double() / 2, -1).numpy())
        np.testing.assert_allclose(fig.data[3 + i].y,
                                   torch.softmax(s[i].double() / 2, -1).numpy())


def test_temperature_sweep_matches_kd_loss_and_t_squared_factor():
    s, t = fixed_logits(8, 2), fixed_logits(8, 3)
    sweep = sp.temperature_sweep(s, t, [1.0, 2.0, 4.0])
    assert list(sweep["T"]) == [1.0, 2.0, 4.0]
    for _, r in sweep.iterrows():
        assert r["kl_t2"] == pytest.approx(kd_loss(s, t, r["T"]).item(), rel=1e-5)
        assert r["kl"] == pytest.approx(r["kl_t2"] / r["T"] ** 2)
        assert r["grad"] == pytest.approx(r["grad_t2"] / r["T"] ** 2)
    # per-sample gradient by hand at T = 2: T^2 * (1/T) (p_s - p_t) = T (p_s - p_t)
    T = 2.0
    g = T * (torch.softmax(s.double() / T, -1) - torch.softmax(t.double() / T, -1))
    assert sweep.loc[1, "grad_t2"] == pytest.approx(g.norm(dim=-1).mean().item(), rel=1e-5)
    # without T^2 the gradient fades quickly as T grows; with it, it stays comparable
    assert sweep["grad"].iloc[-1] < 0.2 * sweep["grad"].iloc[0]
    assert sweep["grad_t2"].iloc[-1] > 0.3 * sweep["grad_t2"].iloc[0]


def test_kd_vs_temperature_traces_and_marker():
    sweep = sp.temperature_sweep(fixed_logits(6, 0), fixed_logits(6, 1), [1.0, 2.0, 3.0])
    fig = sp.kd_vs_temperature(sweep)
    assert len(fig.data) == 5
    np.testing.assert_allclose(fig.data[0].y, sweep["kl_t2"])
    np.testing.assert_allclose(fig.data[1].y, sweep["kl"])
    fig = sp.kd_vs_temperature(sweep, marker=2.0)
    assert len(fig.data) == 7
    assert fig.data[5].x == (2.0,) and fig.data[5].y[0] == pytest.approx(sweep["kl_t2"][1])
    assert fig.data[6].y[0] == pytest.approx(sweep["grad_t2"][1])


def test_temperature_dashboard_needs_two_images():
    sweep = sp.temperature_sweep(fixed_logits(6, 0), fixed_logits(6, 1), [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 2 images"):
        sp.temperature_dashboard(fixed_logits(1), fixed_logits(1), 1.0, sweep)


# attention -------------------------------------------------------------------------------
def test_attention_heatmap_z_is_the_matrix_and_checks_shape():
    w = torch.softmax(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)), -1)
    fig = ap.attention_heatmap(w)
    assert len(fig.data) == 1 and fig.data[0].type == "heatmap"
    np.testing.assert_allclose(np.array(fig.data[0].z), w.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="m x m"):
        ap.attention_heatmap(torch.ones(2, 3))


def test_peer_targets_plots_weights_and_softened_targets_of_the_library_attention():
    torch.manual_seed(0)
    att = Attention(16, 8)
    h = torch.randn(1, 3, 16)  # (B, m, d)
    z = 2 * torch.randn(1, 3, C)  # (B, m, C)
    targets, weights = att(h, z)
    fig = ap.peer_targets(weights[0], z[0], targets[0].detach(), temperature=3.0)
    assert len(fig.data) == 1 + 2 * 3
    np.testing.assert_allclose(np.array(fig.data[0].z), weights[0].detach().numpy(), rtol=1e-6)
    for a in range(3):
        own, target = fig.data[1 + 2 * a], fig.data[2 + 2 * a]
        np.testing.assert_allclose(own.y, torch.softmax(z[0, a].double() / 3, -1), rtol=1e-6)
        np.testing.assert_allclose(target.y, torch.softmax(targets[0, a].detach().double() / 3,
                                                           -1), rtol=1e-5)


def test_attention_matrix_from_history_columns():
    h = history(m=3)
    mat = ap.attention_matrix(h.iloc[2])
    assert mat.shape == (3, 3)
    np.testing.assert_allclose(mat.sum(axis=1), 1.0)
    assert mat[0, 0] == pytest.approx(h.iloc[2]["val_att_diag"])
    with pytest.raises(ValueError, match="no val_att"):
        ap.attention_matrix(pd.Series({"epoch": 0, "val_div_l2": 0.1}))


def test_attention_at_epoch_averages_the_seeds():
    h = history(m=4, seeds=2)
    mat, n = ap.attention_at_epoch(h, 1)
    assert n == 2
    expected = h[h["epoch"] == 1]["val_att_a0_b0"].mean()
    assert mat[0, 0] == pytest.approx(expected)
    with pytest.raises(ValueError, match="not in the history"):
        ap.attention_at_epoch(h, 99)


def test_attention_over_epochs_heatmap_and_diagonal_lines():
    h = history(m=3, epochs=5, seeds=2)
    fig = ap.attention_over_epochs(h, epoch=3)
    kinds = [tr.type for tr in fig.data]
    assert kinds == ["heatmap", "scatter", "scatter", "scatter"]  # heatmap, 2 seeds, marker
    mat, _ = ap.attention_at_epoch(h, 3)
    np.testing.assert_allclose(np.array(fig.data[0].z), mat)
    seed0 = h[h["seed"] == 0].sort_values("epoch")
    np.testing.assert_allclose(fig.data[1].y, seed0["val_att_diag"])
    assert fig.data[3].x == (3,) and fig.data[3].y[0] == pytest.approx(np.diag(mat).mean())


def test_measure_over_epochs_means_over_seeds_and_bar_at_epoch():
    h = pd.concat([history(variant="okddip"), history(variant="dml").assign(
        val_div_l2=lambda d: d["val_div_l2"] + 1.0)], ignore_index=True)
    fig = ap.measure_over_epochs(h, "div_l2", epoch=2, highlight="dml")
    assert len(fig.data) == 2 * 2 + 1
    line = fig.data[1]
    assert line.name == "okddip"
    want = h[h["variant"] == "okddip"].groupby("epoch")["val_div_l2"].mean()
    np.testing.assert_allclose(line.y, want.to_numpy())
    std = h[h["variant"] == "okddip"].groupby("epoch")["val_div_l2"].std()  # ddof=1, not min-max
    np.testing.assert_allclose(fig.data[0].y, np.r_[want + std, (want - std)[::-1]])
    assert "mean ± std over 2 seeds" in fig.layout.annotations[0].text
    bar = fig.data[-1]
    assert list(bar.x) == ["okddip", "dml"]
    np.testing.assert_allclose(bar.y, [want[2], want[2] + 1.0])
    assert fig.data[3].line.width > fig.data[1].line.width  # dml highlighted
    with pytest.raises(ValueError, match="not a column"):
        ap.measure_over_epochs(h, "div_nope")


def test_many_classes_show_each_images_top_classes_of_the_full_softmax():
    z = 3.0 * torch.randn(2, 100, generator=torch.Generator().manual_seed(5))  # CIFAR-100 size
    names = [f"k{i}" for i in range(100)]
    fig = sp.softened_predictions(z, 2.0, classes=names, top=10)
    full = torch.softmax(z.double() / 2.0, -1)
    for i in range(2):
        top = torch.argsort(-z[i])[:10]
        assert list(fig.data[i].x) == [names[j] for j in top]
        np.testing.assert_allclose(fig.data[i].y, full[i, top].numpy())  # not renormalised


def test_attention_of_a_table_mixing_group_sizes():
    """histories.csv holds m = 3 (OKDDip) and n = 4 (DML's uniform weights) side by side:
    the empty columns of the larger group must not hide the smaller group's rows."""
    okddip = history(m=3, epochs=3, seeds=1)
    dml = history(m=4, epochs=3, seeds=1, variant="dml")
    mixed = pd.concat([dml, okddip], ignore_index=True)
    rows = mixed[mixed["variant"] == "okddip"]
    assert rows["val_att_a3_b3"].isna().all()
    mat, n = ap.attention_at_epoch(rows, 2)
    assert mat.shape == (3, 3) and n == 1
    fig = ap.attention_over_epochs(rows, 1)
    assert np.array(fig.data[0].z).shape == (3, 3)
