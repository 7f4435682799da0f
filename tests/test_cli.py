"""Command line, end to end: train, resume, evaluate; bad input exits with one clear line."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from okddip_edu import engine
from okddip_edu.cli import main
from okddip_edu.config import Config, preset

SMOKE = ["--preset", "smoke", "--quiet", "--device", "cpu"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, cifar10_5k_path):
    """`okddip-edu train --preset smoke --out DIR --quiet`, once: (DIR, stdout, stderr, rc)."""
    out = tmp_path_factory.mktemp("cli") / "smoke"
    stdout, stderr = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout), \
            contextlib.redirect_stderr(stderr):
        mp.setenv("OKDDIP_CIFAR10_5K", str(cifar10_5k_path))
        rc = main(["train", *SMOKE, "--out", str(out)])
    torch.set_num_threads(threads)
    return out, stdout.getvalue(), stderr.getvalue(), rc


def copy_run(smoke_run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(smoke_run[0], dst)
    return dst


def one_error_line(err: str, command: str = "train") -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith(f"okddip-edu {command}: error: "), lines[0]
    return lines[0]


# Entry point -------------------------------------------------------------------------------
def test_module_entry_point_help():
    proc = subprocess.run([sys.executable, "-m", "okddip_edu", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "okddip-edu" in proc.stdout
    assert "train" in proc.stdout and "evaluate" in proc.stdout


def test_train_help_has_a_flag_for_every_config_field(capsys):
    assert main(["train", "--help"]) == 0  # help printed, exit status returned
    text = capsys.readouterr().out
    for f in dataclasses.fields(Config):
        if f.name != "preset":
            assert "--" + f.name.replace("_", "-") in text, f.name
    assert "--no-detach" in text and "--resume" in text


# train --------------------------------------------------------------------------------------
def test_train_writes_the_run_directory_and_prints_a_summary(smoke_run):
    out, stdout, stderr, rc = smoke_run
    assert rc == 0, stderr
    assert {p.name for p in out.iterdir()} >= {"config.json", "history.csv", "checkpoint.pt",
                                                "final.json"}
    cfg = Config.from_dict(json.loads((out / "config.json").read_text()))
    assert cfg == preset("smoke", device="cpu")
    history = pd.read_csv(out / "history.csv")
    assert history["epoch"].tolist() == [0, 1]
    final = json.loads((out / "final.json").read_text())
    assert final["final_epoch"] == 1
    assert "top-1 leader" in stdout and "top-1 ens" in stdout
    assert f"{final['final']['top1_leader']:.2f} %" in stdout
    assert "best-epoch top-1 leader" in stdout and "wall time" in stdout
    assert str(out) in stdout
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 1


def test_train_into_an_existing_run_without_resume(smoke_run, tmp_path, cifar10_5k, capsys):
    out = copy_run(smoke_run, tmp_path)
    assert main(["train", *SMOKE, "--out", str(out)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "already holds a run" in line and "--resume" in line


def test_resume_continues_an_interrupted_run(cifar10_5k, tmp_path, capsys):
    out = tmp_path / "run"

    def stop(row, history):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        engine.fit(preset("smoke", device="cpu", epochs=3), out, on_epoch_end=stop,
                   progress=False)
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [0]
    assert main(["train", *SMOKE, "--epochs", "3", "--out", str(out), "--resume"]) == 0
    assert "final epoch (2)" in capsys.readouterr().out
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [0, 1, 2]


def test_resume_with_more_epochs_continues(smoke_run, tmp_path, cifar10_5k, capsys):
    out = copy_run(smoke_run, tmp_path)
    rc = main(["train", *SMOKE, "--out", str(out), "--resume", "--epochs", "3"])
    assert rc == 0, capsys.readouterr().err
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [0, 1, 2]


def test_keyboard_interrupt_exits_130_with_a_hint(monkeypatch, tmp_path, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "fit", interrupted)
    assert main(["train", *SMOKE, "--dataset", "synthetic", "--out", str(tmp_path / "r")]) == 130
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--resume" in err


def test_divergence_exits_3_with_one_line(monkeypatch, tmp_path, capsys):
    def diverged(*args, **kwargs):
        raise engine.TrainingDiverged("training diverged at epoch 1: train_total became nan")

    monkeypatch.setattr(engine, "fit", diverged)
    assert main(["train", *SMOKE, "--dataset", "synthetic", "--out", str(tmp_path / "r")]) == 3
    assert "diverged at epoch 1" in one_error_line(capsys.readouterr().err)


# evaluate ------------------------------------------------------------------------------------
def test_evaluate_on_the_subset(smoke_run, tmp_path, cifar10_5k, capsys):
    out = copy_run(smoke_run, tmp_path)
    assert main(["evaluate", str(out), "--data", "cifar10-5k", "--device", "cpu",
                 "--batch-size", "100"]) == 0
    stdout = capsys.readouterr().out
    result = json.loads((out / "eval-cifar10-5k.json").read_text())
    assert result["data"] == "cifar10-5k" and result["images"] == 100  # smoke's val_size
    final = json.loads((out / "final.json").read_text())["final"]
    # the same model on the same validation split gives the training run's last numbers
    assert result["top1_leader"] == pytest.approx(final["top1_leader"])
    assert result["top1_ens"] == pytest.approx(final["top1_ens"])
    assert "top-1 leader" in stdout and f"{result['top1_leader']:.2f} %" in stdout
    assert "top-1 ens" in stdout and f"{result['top1_ens']:.2f} %" in stdout


def test_evaluate_on_an_npz(smoke_run, tmp_path, capsys):
    out = copy_run(smoke_run, tmp_path)
    g = np.random.default_rng(0)
    path = tmp_path / "some.npz"
    np.savez(path, x=g.integers(0, 256, (30, 3, 32, 32), dtype=np.uint8),
             y=g.integers(0, 10, 30))
    assert main(["evaluate", str(out), "--data", str(path), "--device", "cpu"]) == 0
    stdout = capsys.readouterr().out
    result = json.loads((out / "eval-some.json").read_text())
    assert result["images"] == 30 and 0 <= result["top1_leader"] <= 100
    assert "(30 images)" in stdout and "top-1 leader" in stdout and "top-1 ens" in stdout


def test_evaluate_npz_with_labels_out_of_range(smoke_run, tmp_path, capsys):
    out = copy_run(smoke_run, tmp_path)
    path = tmp_path / "bad-labels.npz"
    np.savez(path, x=np.zeros((4, 3, 32, 32), np.uint8), y=np.array([0, 1, 2, 10]))
    assert main(["evaluate", str(out), "--data", str(path), "--device", "cpu"]) == 2
    assert "labels must be in 0..9" in one_error_line(capsys.readouterr().err, "evaluate")


def test_evaluate_with_a_corrupt_checkpoint(smoke_run, tmp_path, capsys):
    out = copy_run(smoke_run, tmp_path)
    (out / "checkpoint.pt").write_bytes(b"garbage" * 50)
    assert main(["evaluate", str(out), "--data", "synthetic", "--device", "cpu"]) == 2
    assert "not a readable checkpoint" in one_error_line(capsys.readouterr().err, "evaluate")


def test_evaluate_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path), "--data", "cifar10-5k", "--device", "cpu"]) != 0
    line = one_error_line(capsys.readouterr().err, "evaluate")
    assert "not a run directory" in line and "okddip-edu train" in line


# Bad input -------------------------------------------------------------------------------------
BAD_TRAIN = {
    "unknown method": (["--method", "fitnet"], ["method='fitnet'", "okddip"]),
    "unknown arch": (["--arch", "resnet50"], ["arch='resnet50'", "resnet32"]),
    "unknown dataset": (["--dataset", "mnist"], ["dataset='mnist'", "cifar10-5k"]),
    "temperature 0": (["--temperature", "0"], ["temperature=0.0", "> 0"]),
    "temperature negative": (["--temperature", "-1"], ["temperature=-1.0", "> 0"]),
    "epochs 0": (["--epochs", "0"], ["epochs=0", ">= 1"]),
    "batch size 0": (["--batch-size", "0"], ["batch_size=0", ">= 1"]),
    "okddip with 2 branches": (["--branches", "2"], ["branches=2", "3..9"]),
}


@pytest.mark.parametrize("flags, words", BAD_TRAIN.values(), ids=BAD_TRAIN.keys())
def test_bad_train_input_exits_with_one_line(flags, words, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *SMOKE, "--out", str(out), *flags]) == 2
    line = one_error_line(capsys.readouterr().err)
    for word in words:
        assert word in line
    assert not out.exists()  # nothing was written


def test_missing_npz_exits_with_one_line(no_data, capsys):
    out = no_data.parent / "run"
    assert main(["train", *SMOKE, "--out", str(out), "--npz", "/nope.npz"]) == 2
    assert "/nope.npz" in one_error_line(capsys.readouterr().err)
    assert not out.exists()


def test_no_data_at_all_exits_with_one_line(no_data, capsys):
    assert main(["train", *SMOKE, "--out", str(no_data.parent / "run")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "OKDDIP_CIFAR10_5K" in line and str(no_data) in line


def test_resume_without_a_checkpoint_exits_with_one_line(tmp_path, capsys):
    out = tmp_path / "nothing-here"
    assert main(["train", *SMOKE, "--dataset", "synthetic", "--out", str(out), "--resume"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "--resume: no checkpoint" in line and str(out) in line
