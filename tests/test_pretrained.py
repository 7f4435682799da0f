"""Shipped runs: found by what they compute, loaded as a trained run, evaluated as stored."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from okddip_edu import course, data, live, pretrained, resources
from okddip_edu.config import preset
from okddip_edu.engine import evaluate, fit
from okddip_edu.experiments.suites import run_key

SMOKE = course.Notebook("smoke", "cpu", 0, 30)
NOTEBOOK_RUNS = [SMOKE.config(method="okddip"), SMOKE.config(method="baseline"),
                 SMOKE.config(method="baseline", epochs=1, seed=1), live.config(live.base(SMOKE))]


@pytest.mark.parametrize("cfg", NOTEBOOK_RUNS, ids=lambda c: f"{c.method}-e{c.epochs}-s{c.seed}")
def test_every_smoke_run_the_notebooks_train_is_shipped(cfg):
    assert pretrained.path_of(cfg) is not None, (
        f"no shipped run {run_key(cfg)}.pt: run `python tools/ship_runs.py`")


def test_another_config_finds_no_shipped_run():
    assert pretrained.path_of(SMOKE.config(method="okddip", temperature=2.0)) is None
    assert pretrained.path_of(SMOKE.config(method="okddip", seed=7)) is None


def test_loaded_run_evaluates_to_its_stored_final_epoch(one_thread):
    cfg = SMOKE.config(method="okddip")
    result = pretrained.load(cfg)
    assert not result.model.training and len(result.history) == cfg.epochs
    s = result.splits
    loader = data.DeviceLoader(s.val_x, s.val_y, cfg.eval_batch_size, s.mean, s.std,
                               device=torch.device("cpu"), train=False,
                               channels_last=cfg.channels_last)
    metrics = evaluate(result.model, result.method, loader, torch.device("cpu"))
    final = result.final
    for key in ("top1_leader", "top1_ens", "top1_b0"):
        assert metrics[key] == pytest.approx(final[f"val_{key}"], abs=1e-6), key
    assert metrics["att_diag"] == pytest.approx(final["val_att_diag"], abs=1e-4)


def test_fit_or_load_replays_every_epoch_and_says_so(capsys):
    cfg = SMOKE.config(method="okddip")
    seen = []
    result = pretrained.fit_or_load(cfg, on_epoch_end=lambda row, h: seen.append((row, len(h))))
    assert [n for _, n in seen] == list(range(1, cfg.epochs + 1))
    assert [r["epoch"] for r, _ in seen] == result.history["epoch"].tolist()
    assert "loaded the shipped run" in capsys.readouterr().out


def test_train_live_trains_and_matches_the_shipped_history(one_thread):
    """Training the shipped config here gives the shipped run's history (same seed, same
    arithmetic on one thread): the file is the run the notebook would have trained."""
    cfg = SMOKE.config(method="baseline", epochs=1, seed=1)
    shipped = pretrained.load(cfg).history
    trained = pretrained.fit_or_load(cfg, train_live=True, progress=False).history
    cols = ["train_ce", "val_top1_leader"]
    pd.testing.assert_frame_equal(trained[cols], shipped[cols], atol=1e-3, rtol=1e-3)


def test_live_train_reads_the_shipped_live_run():
    records = live.train(live.config(live.base(SMOKE)), train_live=False)
    assert [r["epoch"] for r in records] == list(range(SMOKE.config().epochs))


def test_round_trip_and_refusals(tmp_path, one_thread):
    cfg = preset("smoke", epochs=1, seed=3, train_subset=128, val_size=100)
    result = fit(cfg, progress=False)
    path = pretrained.save(result, tmp_path)
    assert path.name == f"{run_key(cfg)}.pt"
    back = pretrained.load(cfg, result.splits, path)
    for (k, a), b in zip(result.model.state_dict().items(), back.model.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(pretrained.ShippedRunError, match="another config"):
        pretrained.load(cfg.replace(seed=4), result.splits, path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(pretrained.ShippedRunError, match="not a readable shipped run"):
        pretrained.load(cfg, result.splits, path)
    with pytest.raises(TypeError, match="train_live='yes' is not valid"):
        pretrained.fit_or_load(cfg, train_live="yes")


def test_shipped_files_are_small_and_plain_tensors():
    folder = resources.asset_dir(pretrained.FOLDER)
    assert folder is not None
    files = sorted(folder.glob("*.pt"))
    assert files
    for f in files:
        assert f.stat().st_size < 2 * 2**20, f"{f.name}: keep a shipped run under 2 MiB"
        torch.load(f, map_location="cpu", weights_only=True)  # no pickled objects
    index = pd.read_csv(folder / "index.csv")
    assert set(index["file"]) == {f.name for f in files}
