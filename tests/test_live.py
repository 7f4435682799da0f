"""Live training (okddip_edu.live): the switches reach the config, a run gives one record per
epoch as it trains, and the figure shows exactly the records, epochs counted from 0.

Each run is ResNet-8 of width 4 on 128 synthetic images, 2 batches an epoch: seconds."""

from __future__ import annotations

import pytest

from okddip_edu import data, live
from okddip_edu.config import preset

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(**overrides):
    values = dict(dataset="synthetic", device="cpu", train_subset=128, epochs=2)
    return preset("smoke", **{**values, **overrides})


@pytest.fixture(scope="module")
def toy():
    return data.load(tiny())


def test_switches_reach_the_config():
    cfg = live.config(tiny(method="dml"), detach=True, mask_diagonal=True, aggregation="mean")
    assert (cfg.method, cfg.detach, cfg.mask_diagonal, cfg.aggregation) == (
        "okddip", True, True, "mean")
    assert live.label(cfg) == "mean, detach=True, mask_diagonal=True"
    assert tiny().detach is False  # the base config is left as it was


@pytest.mark.parametrize("switches, message", [
    (dict(aggregation="max"), "aggregation='max' is not valid; choose one of: attention"),
    (dict(detach="yes"), "detach='yes' is not valid; it is a switch"),
    (dict(mask_diagonal=1), "mask_diagonal=1 is not valid; it is a switch"),
])
def test_bad_switches_say_what_is_allowed(switches, message):
    with pytest.raises(ValueError, match=message):
        live.config(tiny(), **switches)


def test_train_refuses_a_method_without_attention(toy):
    with pytest.raises(ValueError, match="live.config"):
        live.train(tiny(method="dml"), toy)


def test_one_record_per_epoch_as_it_trains(toy):
    seen = []
    records = live.train(live.config(tiny(epochs=3)), toy,
                         on_record=lambda rec, recs: seen.append((rec, len(recs))))
    assert [r["epoch"] for r in records] == [0, 1, 2]
    assert [n for _, n in seen] == [1, 2, 3] and [r for r, _ in seen] == records
    for r in records:
        assert 0.0 <= r["att_diag"] <= 1.0 and 0.0 <= r["leader_top1"] <= 100.0
        assert r["run"] == "attention, detach=False, mask_diagonal=False" and r["peers"] == 3
    assert records[0]["w"] < records[-1]["w"] <= 1.0  # the ramp-up


def test_mask_diagonal_gives_a_zero_diagonal(toy):
    records = live.train(live.config(tiny(), mask_diagonal=True), toy)
    assert [r["att_diag"] for r in records] == [0.0, 0.0]
    mean_others = live.train(live.config(tiny(), mask_diagonal=True, aggregation="mean"), toy)
    assert [r["att_diag"] for r in mean_others] == [0.0, 0.0]


def test_uniform_mean_and_runs_without_a_matrix(toy):
    mean = live.train(live.config(tiny(epochs=1), aggregation="mean"), toy)
    assert mean[0]["att_diag"] == pytest.approx(1 / 3)
    gate = live.train(live.config(tiny(epochs=1), aggregation="gate"), toy)
    assert gate[0]["att_diag"] is None
    assert "no attention matrix" in live.describe(gate)


def test_figure_shows_the_records_with_epochs_from_0(toy):
    a = live.train(live.config(tiny()), toy)
    b = live.train(live.config(tiny(), detach=True), toy)
    fig = live.figure(a + b)
    diag = [t for t in fig.data if t.meta == "att_diag"]
    top1 = [t for t in fig.data if t.meta == "leader_top1"]
    assert len(diag) == len(top1) == 2
    assert list(diag[1].x) == [0, 1] and list(diag[1].y) == [r["att_diag"] for r in b]
    assert list(top1[0].y) == [r["leader_top1"] for r in a]
    assert diag[1].name == "attention, detach=True, mask_diagonal=False"
    assert fig.layout.xaxis.title.text == "epoch (from 0)"
    assert live.figure([]).data == ()  # an empty figure before the first run


def test_describe_prints_first_and_last_epoch(toy):
    records = live.train(live.config(tiny(), mask_diagonal=True), toy)
    text = live.describe(records)
    assert "mean alpha_aa 0.000 (epoch 0) -> 0.000 (epoch 1)" in text
