"""Divergence is judged by what a run computes: non-finite logits or metrics, an exploding
loss, a collapse to chance; and the thresholds never fire on the committed runs."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from okddip_edu import engine, health
from okddip_edu.checkpoint import load_checkpoint
from okddip_edu.cli import main
from okddip_edu.config import preset

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parents[1]


def tiny_cfg(**changes):
    return preset("smoke", **{**dict(dataset="synthetic", device="cpu", width=2,
                                     train_subset=64, batch_size=32, epochs=2), **changes})


@pytest.mark.parametrize("suite", ["results", "results-course"])
def test_thresholds_never_fire_on_the_committed_runs(suite):
    """Every epoch row of every committed run, replayed through the judge in order."""
    histories = pd.read_csv(ROOT / "assets" / suite / "histories.csv")
    results = pd.read_csv(ROOT / "assets" / suite / "results.csv")
    classes = {r: 100 if d == "cifar100" else 10 for r, d in zip(results["run"],
                                                                  results["dataset"])}
    judged = 0
    for key, h in histories.groupby(["suite", "variant", "seed"], sort=False):
        h = h.sort_values("epoch").dropna(axis=1, how="all")
        rows = [r.dropna().to_dict() for _, r in h.iterrows()]
        for i, row in enumerate(rows):
            num_classes = classes.get(row["run"], 10)
            assert health.judge(rows[:i], row, num_classes) is None, (key, i)
            judged += 1
    assert judged == len(histories)


GOOD = {"train_total": 9.0, "val_top1_leader": 30.0, "val_top1_ens": 31.0,
        "val_top5_leader": 80.0}


@pytest.mark.parametrize("before,row,words", [
    ([], {**GOOD, "val_top1_leader": math.nan}, "val_top1_leader is nan"),
    ([], {**GOOD, "train_total": math.inf}, "train_total is inf"),
    ([GOOD], {**GOOD, "train_total": 28.0}, "exploded to 28"),
    ([GOOD, {**GOOD, "val_top1_leader": 25.0}], {**GOOD, "val_top1_leader": 10.0,
                                                  "val_top1_ens": 10.0}, "collapsed to chance"),
])
def test_the_judge_names_what_went_wrong(before, row, words):
    assert words in health.judge(before, row, 10)


@pytest.mark.parametrize("before,row", [
    ([], GOOD),
    ([GOOD], {**GOOD, "train_total": 26.0}),  # below 3 x the start
    ([{**GOOD, "val_top1_leader": 15.0}], {**GOOD, "val_top1_leader": 10.0,
                                           "val_top1_ens": 10.0}),  # never above 2 x chance
    ([GOOD], {**GOOD, "val_top1_leader": 10.0, "val_top1_ens": 25.0}),  # the ensemble learns
    ([{**GOOD, "val_top1_leader": 1.9}], {**GOOD, "val_top1_leader": 1.1,
                                          "val_top1_ens": 1.1}),  # 100 classes, never 2 x chance
])
def test_the_judge_lets_healthy_epochs_pass(before, row):
    assert health.judge(before, row, 100 if row["val_top1_leader"] == 1.1 else 10) is None


def test_the_first_epoch_is_judged_against_the_first_batch():
    assert "exploded" in health.judge([], {**GOOD, "train_total": 2.6e9}, 10, start_loss=9.4)
    assert health.judge([], {**GOOD, "train_total": 9.4}, 10, start_loss=9.4) is None


@pytest.mark.parametrize("lr", [30.0, 1000.0])
def test_a_huge_learning_rate_stops_and_keeps_no_broken_checkpoint(lr, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(engine.TrainingDiverged, match="training diverged at epoch"):
        engine.fit(tiny_cfg(lr=lr, epochs=3), out, progress=False)
    assert not (out / "final.json").exists()
    if (out / "checkpoint.pt").exists():  # what is kept evaluates to finite logits
        assert main(["evaluate", str(out), "--data", "synthetic", "--device", "cpu"]) == 0


def test_evaluate_refuses_a_checkpoint_whose_logits_are_not_finite(tmp_path, capsys):
    out = tmp_path / "run"
    engine.fit(tiny_cfg(epochs=1), out, progress=False)
    state = load_checkpoint(out / "checkpoint.pt")
    # finite weights (3e38 is below float32's largest) whose logits overflow to infinity
    key = next(k for k in state["model"] if k.endswith("classifier.weight"))
    state["model"][key] = torch.full_like(state["model"][key], 3e38)
    torch.save(state, out / "checkpoint.pt")
    assert main(["evaluate", str(out), "--data", "synthetic", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "logits are NaN or infinite" in err, err
    assert not list(out.glob("eval-*.json"))


@settings(max_examples=200, deadline=None)
@given(start=st.floats(0.1, 100.0), ratios=st.lists(st.floats(0.0, 3.0), min_size=1, max_size=8),
       accs=st.lists(st.floats(12.5, 100.0), min_size=8, max_size=8),
       extra=st.floats(3.001, 1e30))
def test_the_loss_line_is_exactly_3_x_the_start(start, ratios, accs, extra):
    """Losses up to 3 x the start with accuracy above the chance line never fire; the first
    row above 3 x always does, whatever came before."""
    rows = [{**GOOD, "train_total": start * r, "val_top1_leader": a, "val_top1_ens": a}
            for r, a in zip(ratios, accs)]
    rows[0]["train_total"] = start
    for i, row in enumerate(rows):
        assert health.judge(rows[:i], row, 10) is None
    bad = {**rows[-1], "train_total": start * extra}
    assert "exploded" in health.judge(rows, bad, 10)
