"""Engine: training learns, is reproducible, resumes exactly, keeps good checkpoints, stops on
NaN, and follows the learning-rate schedules."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from okddip_edu import data, hardware
from okddip_edu.checkpoint import CheckpointError, load_checkpoint, restore
from okddip_edu.config import Config, preset
from okddip_edu.engine import TrainingDiverged, fit, learning_rate
from okddip_edu.factory import build
from okddip_edu.methods.okddip import OKDDip


def tiny(**overrides) -> Config:
    """Seconds on CPU: ResNet-8 width 4 on 128 synthetic images, 2 batches per epoch."""
    values = dict(dataset="synthetic", device="cpu", train_subset=128, epochs=2)
    values.update(overrides)
    return preset("smoke", **values)


@pytest.fixture(scope="module")
def toy():
    return data.load(tiny())  # 128 training, 128 validation images


pytestmark = pytest.mark.usefixtures("one_thread")


def without_time(history: pd.DataFrame) -> pd.DataFrame:
    return history.drop(columns="epoch_time")


def first_conv(model: torch.nn.Module) -> torch.nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# Learning ----------------------------------------------------------------------------------
def test_training_loss_falls():
    cfg = tiny(epochs=4, train_subset=192, batch_size=32)
    result = fit(cfg, splits=data.load(cfg), progress=False)
    h = result.history
    assert len(h) == 4 and h["epoch"].tolist() == list(range(4))
    assert h["train_ce"].iloc[-1] < 0.92 * h["train_ce"].iloc[0], h["train_ce"].tolist()
    assert h["train_total"].iloc[-1] < h["train_total"].iloc[0]
    assert not result.model.training and not result.method.training  # returned in eval mode


def test_history_columns(toy):
    h = fit(tiny(), splits=toy, progress=False).history
    columns = set(h.columns)
    assert {"epoch", "lr", "w", "epoch_time"} <= columns
    assert {f"val_top1_b{i}" for i in range(4)} <= columns  # every branch
    assert {"val_top1_leader", "val_top1_ens", "val_top1_peer_mean"} <= columns
    assert {"train_ce", "train_dis1", "train_dis2", "train_total"} <= columns  # each loss term
    assert (h["epoch_time"] > 0).all()
    assert h["lr"].tolist() == [learning_rate(tiny(), e) for e in range(2)]
    for c in ("val_top1_leader", "val_top1_ens"):
        assert h[c].between(0, 100).all()


def test_history_columns_of_a_single_network(toy):
    h = fit(tiny(method="baseline"), splits=toy, progress=False).history
    assert {"val_top1_b0", "val_top1_leader", "train_ce", "train_total"} <= set(h.columns)
    assert "val_top1_b1" not in h.columns


def test_same_seed_same_history_other_seed_differs(toy):
    a = fit(tiny(seed=5), splits=toy, progress=False)
    b = fit(tiny(seed=5), splits=toy, progress=False)
    pd.testing.assert_frame_equal(without_time(a.history), without_time(b.history))
    assert same_weights(a.model.state_dict(), b.model.state_dict())
    c = fit(tiny(seed=6), splits=toy, progress=False)
    assert not without_time(a.history).equals(without_time(c.history))
    assert not same_weights(a.model.state_dict(), c.model.state_dict())


def test_cpu_amp_is_opt_in_and_stays_close_to_fp32(toy, monkeypatch):
    """Default CPU training is fp32; ``cpu_amp`` switches on bf16 autocast there, and the
    first epoch's loss stays within bf16 tolerance."""
    seen = []
    real = torch.autocast

    def spy(device_type, dtype=None, enabled=True):
        seen.append((device_type, dtype, enabled))
        return real(device_type, dtype=dtype, enabled=enabled)

    monkeypatch.setattr(torch, "autocast", spy)
    fp32 = fit(tiny(epochs=1), splits=toy, progress=False)
    assert seen and not any(on for _, _, on in seen)  # amp=True alone does nothing on CPU
    seen.clear()
    bf16 = fit(tiny(epochs=1, cpu_amp=True), splits=toy, progress=False)
    assert ("cpu", torch.bfloat16, True) in seen  # training and evaluation both
    a, b = fp32.history.iloc[0], bf16.history.iloc[0]
    assert a["train_ce"] != b["train_ce"]  # the arithmetic did change
    assert b["train_ce"] == pytest.approx(a["train_ce"], rel=5e-2)
    assert math.isfinite(b["val_top1_leader"])


def test_channels_last_is_the_default_layout_and_only_a_layout(toy):
    """Weights and images are channels_last by default on the CPU too; turning it off keeps
    NCHW. Both compute the same fp32 arithmetic: the histories agree to float rounding."""
    cl = fit(tiny(epochs=2), splits=toy, progress=False)
    w = first_conv(cl.model).weight
    assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
    nchw = fit(tiny(epochs=2, channels_last=False), splits=toy, progress=False)
    assert first_conv(nchw.model).weight.is_contiguous()
    for col in ("train_total", "train_ce"):
        assert cl.history[col].tolist() == pytest.approx(nchw.history[col].tolist(), rel=1e-5)
    a, b = cl.model.state_dict(), nchw.model.state_dict()
    assert all(torch.allclose(a[k].float(), b[k].float(), rtol=1e-3, atol=1e-3) for k in a)


def test_cpu_amp_warns_where_bf16_is_emulated(toy, monkeypatch):
    monkeypatch.setattr(hardware, "native_bf16", lambda device="cpu": False)
    with pytest.warns(UserWarning, match="without native bf16"):
        fit(tiny(epochs=1, cpu_amp=True), splits=toy, progress=False)


def test_on_epoch_end_called_once_per_epoch_with_the_row(toy):
    calls = []

    def record(row, history):
        calls.append((dict(row), history.copy()))

    result = fit(tiny(epochs=3), splits=toy, on_epoch_end=record, progress=False)
    assert [row["epoch"] for row, _ in calls] == [0, 1, 2]
    for i, (row, history) in enumerate(calls):
        assert len(history) == i + 1
        assert history.iloc[-1].to_dict() == pytest.approx(row)
    assert result.history.iloc[-1].to_dict() == pytest.approx(calls[-1][0])


# Run directory, checkpoints, resume -------------------------------------------------------------
def test_run_directory_and_checkpoint_loads_weights_only(toy, tmp_path):
    out = tmp_path / "run"
    cfg = tiny()
    result = fit(cfg, out, splits=toy, progress=False)
    assert {p.name for p in out.iterdir()} >= {"config.json", "history.csv", "checkpoint.pt",
                                                "final.json"}
    assert not (out / "checkpoint.pt.tmp").exists()
    assert Config.from_dict(json.loads((out / "config.json").read_text())) == cfg
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1 and state["format"] == 1 and len(state["history"]) == 2
    assert state["config"] == cfg.to_dict()
    assert same_weights(state["model"], result.model.state_dict())
    csv = pd.read_csv(out / "history.csv")
    assert list(csv.columns) == list(result.history.columns) and len(csv) == 2
    final = json.loads((out / "final.json").read_text())
    assert final["final_epoch"] == 1
    assert final["final"]["top1_leader"] == pytest.approx(result.final["val_top1_leader"])


def test_existing_run_without_resume_is_refused(toy, tmp_path):
    out = tmp_path / "run"
    fit(tiny(epochs=1), out, splits=toy, progress=False)
    before = (out / "checkpoint.pt").read_bytes()
    with pytest.raises(FileExistsError, match=r"already holds a run.*resume"):
        fit(tiny(epochs=1), out, splits=toy, progress=False)
    assert (out / "checkpoint.pt").read_bytes() == before


def test_interrupted_and_resumed_run_equals_uninterrupted_run(toy, tmp_path):
    cfg = tiny(epochs=3)
    whole = fit(cfg, tmp_path / "whole", splits=toy, progress=False)

    def stop_after_epoch_1(row, history):
        if row["epoch"] == 1:
            raise KeyboardInterrupt

    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        fit(cfg, out, splits=toy, on_epoch_end=stop_after_epoch_1, progress=False)
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1
    assert not (out / "final.json").exists()

    seen = []
    resumed = fit(cfg, out, resume=True, splits=toy, progress=False,
                  on_epoch_end=lambda row, history: seen.append(row["epoch"]))
    assert seen == [2]  # only the missing epoch is trained
    pd.testing.assert_frame_equal(without_time(resumed.history), without_time(whole.history))
    assert same_weights(resumed.model.state_dict(), whole.model.state_dict())
    assert same_weights(resumed.method.state_dict(), whole.method.state_dict())
    assert (out / "final.json").exists()


def test_resume_without_a_checkpoint_is_refused(toy, tmp_path):
    """As on the command line: resume=True on a folder without a checkpoint trains nothing."""
    with pytest.raises(ValueError, match="resume=True is not valid here: no checkpoint"):
        fit(tiny(epochs=1), tmp_path / "new", resume=True, splits=toy, progress=False)
    assert not (tmp_path / "new" / "history.csv").exists()


def test_corrupt_checkpoint_gives_a_clear_error(toy, tmp_path):
    out = tmp_path / "run"
    fit(tiny(epochs=1), out, splits=toy, progress=False)
    (out / "checkpoint.pt").write_bytes(b"\x00garbage\xff" * 100)
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt is not a readable checkpoint.*"
                                              r"delete it"):
        fit(tiny(epochs=2), out, resume=True, splits=toy, progress=False)


def test_foreign_torch_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not an okddip_edu checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")


def test_resume_with_another_config_is_refused(toy, tmp_path):
    out = tmp_path / "run"
    fit(tiny(epochs=1), out, splits=toy, progress=False)
    with pytest.raises(CheckpointError, match=r"another config.*arch: saved 'resnet8' vs now "
                                              r"'resnet14'"):
        fit(tiny(epochs=1, arch="resnet14"), out, resume=True, splits=toy, progress=False)
    saved = Config.from_dict(json.loads((out / "config.json").read_text()))
    assert saved.arch == "resnet8"  # the refused run left the directory as it was


def test_resume_may_change_execution_fields(toy, tmp_path):
    out = tmp_path / "run"
    fit(tiny(epochs=1), out, splits=toy, progress=False)
    result = fit(tiny(epochs=1, eval_batch_size=7, amp=False, cpu_amp=True), out, resume=True,
                 splits=toy, progress=False)
    assert len(result.history) == 1


def test_restore_into_another_architecture_is_refused(toy, tmp_path):
    out = tmp_path / "run"
    fit(tiny(epochs=1), out, splits=toy, progress=False)
    state = load_checkpoint(out / "checkpoint.pt")
    model, method = build(tiny(arch="resnet14"), 10)
    with pytest.raises(CheckpointError, match=r"does not fit this model.*arch='resnet8'"):
        restore(state, model, method)


def test_batch_larger_than_the_training_set_is_refused(toy):
    with pytest.raises(ValueError, match=r"batch_size=200 is larger than the 128"):
        fit(tiny(batch_size=200), splits=toy, progress=False)


# Divergence ------------------------------------------------------------------------------------
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(toy, tmp_path, monkeypatch):
    forward = OKDDip.forward

    def nan_from_epoch_1(self, out, y, epoch, x=None):
        terms = forward(self, out, y, epoch, x=x)
        if epoch >= 1:
            terms["total"] = terms["total"] * math.nan
        return terms

    monkeypatch.setattr(OKDDip, "forward", nan_from_epoch_1)
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged) as info:
        fit(tiny(epochs=3), out, splits=toy, progress=False)
    message = str(info.value)
    assert "epoch 1" in message and "train_total" in message and "nan" in message
    assert "epoch 0" in message and str(out) in message  # where the good checkpoint is
    assert "lr=" in message  # what to try

    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 0 and len(state["history"]) == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    model, method = build(tiny(epochs=3), 10)
    restore(state, model, method)
    assert not (out / "final.json").exists()
    assert len(pd.read_csv(out / "history.csv")) == 1


def test_nan_without_a_run_directory(toy, monkeypatch):
    forward = OKDDip.forward

    def inf_loss(self, out, y, epoch, x=None):
        terms = forward(self, out, y, epoch, x=x)
        terms["total"] = terms["total"] * math.inf
        return terms

    monkeypatch.setattr(OKDDip, "forward", inf_loss)
    with pytest.raises(TrainingDiverged, match=r"epoch 0.*no checkpoint was written"):
        fit(tiny(), splits=toy, progress=False)


# Learning-rate schedules -------------------------------------------------------------------------
def test_multistep_schedule_of_the_paper():
    cfg = preset("paper")
    lr = [learning_rate(cfg, e) for e in range(300)]
    assert lr[0] == pytest.approx(0.1) and lr[149] == pytest.approx(0.1)
    assert lr[150] == pytest.approx(0.01) and lr[224] == pytest.approx(0.01)
    assert lr[225] == pytest.approx(0.001) and lr[299] == pytest.approx(0.001)
    assert len({round(v, 12) for v in lr}) == 3


def test_cosine_schedule():
    cfg = preset("smoke", epochs=10, lr=0.2, schedule="cosine")
    lr = [learning_rate(cfg, e) for e in range(10)]
    assert lr[0] == pytest.approx(0.2)
    assert lr[5] == pytest.approx(0.1)
    assert learning_rate(cfg, 10) == pytest.approx(0.0, abs=1e-12)
    assert all(a > b for a, b in zip(lr, lr[1:]))
    assert all(v > 0 for v in lr)
