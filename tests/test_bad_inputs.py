"""Bad input that used to end in a traceback, or was silently accepted, now gets one line and
a non-zero exit; SIGTERM ends a run as Ctrl-C does. ``tools/bad_inputs.py`` tries many more."""

from __future__ import annotations

import os
import shutil
import zipfile

import numpy as np
import pytest

from okddip_edu.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--preset", "smoke", "--quiet", "--device", "cpu", "--dataset", "synthetic", "--width",
        "2", "--train-subset", "64", "--batch-size", "32", "--epochs", "1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("bad") / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


def one_line(err: str, command: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"okddip-edu {command}: error: "), lines[0]
    return lines[0]


def _files(tmp_path, trained):
    """Placeholders of the table below: files made the way a careless user would."""
    with zipfile.ZipFile(tmp_path / "members.npz", "w") as z:  # a zip, but not of arrays
        z.writestr("x", "hello")
        z.writestr("y", "world")
    np.savez(tmp_path / "nox.npz", a=np.zeros(3))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    os.replace(tmp_path / "objects.npy", tmp_path / "pickled.npz")
    places = {"ZIP": tmp_path / "members.npz", "NOX": tmp_path / "nox.npz",
              "PICKLED": tmp_path / "pickled.npz", "RUN": trained,
              "LONG": tmp_path / ("x" * 300), "NEW": tmp_path / "new",
              "KDOUT": tmp_path / "kd"}
    for name in ("history.csv", "final.json", "checkpoint.pt.tmp"):
        run = tmp_path / f"dir-{name}"
        shutil.copytree(trained, run)
        (run / name).unlink(missing_ok=True)
        (run / name).mkdir()
        places[f"DIR:{name}"] = run
    return {k: str(v) for k, v in places.items()}


BAD = {  # name: (argv, environment, words the one line must hold)
    "lr 1e308": (["train", *TINY, "--lr", "1e308", "--out", "NEW"], {}, ["lr=1e+308"]),
    "lr 1e39": (["train", *TINY, "--lr", "1e39", "--out", "NEW"], {}, ["float32"]),
    "weight decay 1e308": (["train", *TINY, "--weight-decay", "1e308", "--out", "NEW"], {},
                           ["weight_decay="]),
    "temperature 1e308": (["train", *TINY, "--temperature", "1e308", "--out", "NEW"], {},
                          ["temperature="]),
    "300-character out": (["train", *TINY, "--out", "LONG"], {}, ["300 bytes", "255"]),
    "evaluate a zip of bytes": (["evaluate", "RUN", "--data", "ZIP", "--device", "cpu"], {},
                                ["members.npz", "not a numpy array"]),
    "data npz without x": (["data", "--npz", "NOX"], {}, ["nox.npz", "'x'"]),
    "data npz pickled": (["data", "--npz", "PICKLED"], {}, ["pickled.npz", "pickled"]),
    "resume, history.csv a folder": (["train", *TINY, "--out", "DIR:history.csv", "--resume",
                                      "--epochs", "2"], {}, ["history.csv is a folder"]),
    "resume, final.json a folder": (["train", *TINY, "--out", "DIR:final.json", "--resume",
                                     "--epochs", "2"], {}, ["final.json is a folder"]),
    "resume, checkpoint tmp a folder": (["train", *TINY, "--out", "DIR:checkpoint.pt.tmp",
                                         "--resume", "--epochs", "2"], {},
                                        ["checkpoint.pt.tmp is a folder"]),
    "WORLD_SIZE two": (["train", *TINY, "--out", "NEW"], {"WORLD_SIZE": "two"},
                       ["WORLD_SIZE='two'"]),
    "LOCAL_RANK x": (["train", *TINY, "--out", "NEW"], {"LOCAL_RANK": "x"}, ["LOCAL_RANK='x'"]),
    "milestone past the end, no warning": (["train", *TINY, "--schedule", "multistep",
                                            "--milestones", "100", "--out", "NEW"], {},
                                           ["at or after the last epoch"]),
    "empty --variants": (["ablate", "methods", "--variants=", "--dry-run", "--out", "NEW"], {},
                         ["--variants ''"]),
    "local gpus -1": (["ablate", "methods", "--gpus-per-run", "-1", "--dry-run", "--out",
                       "NEW"], {}, ["--gpus-per-run=-1.0"]),
    "local retries -5": (["ablate", "methods", "--retries", "-5", "--dry-run", "--out", "NEW"],
                         {}, ["--retries=-5"]),
    "offline cifar10": (["train", *TINY, "--dataset", "cifar10", "--out", "NEW"],
                        {"OKDDIP_OFFLINE": "1", "OKDDIP_DATA": "NEW"}, ["OKDDIP_OFFLINE"]),
    "offline cifar100": (["data", "cifar100"], {"OKDDIP_OFFLINE": "1", "OKDDIP_DATA": "NEW"},
                         ["OKDDIP_OFFLINE"]),
    "npz with synthetic": (["train", *TINY, "--npz", "ZIP", "--out", "NEW"], {},
                           ["--npz does not apply to dataset 'synthetic'"]),
    "data root with synthetic": (["train", *TINY, "--data-root", "NEW", "--out", "NEW"], {},
                                 ["--data-root does not apply"]),
    "val size with synthetic": (["train", *TINY, "--val-size", "50", "--out", "NEW"], {},
                                ["--val-size does not apply"]),
    "empty npz": (["train", "--preset", "smoke", "--quiet", "--npz", "", "--out", "NEW"], {},
                  ["npz=''"]),
    "report --out a file": (["report", "RUN", "--out", "ZIP"], {}, ["is a file"]),
    "kd teacher moved": (["train", *TINY, "--method", "kd", "--teacher", "NEW", "--out",
                          "KDOUT"], {}, ["KD teacher", "new"]),
}


@pytest.mark.parametrize("argv,env,words", BAD.values(), ids=BAD.keys())
def test_bad_input_is_one_line(argv, env, words, tmp_path, trained, capsys, monkeypatch,
                               recwarn):
    places = _files(tmp_path, trained)
    argv = [places.get(a, a) for a in argv]
    for key, value in env.items():
        monkeypatch.setenv(key, places.get(value, value))
    assert main(argv) == 2
    line = one_line(capsys.readouterr().err, argv[0])
    assert all(w in line for w in words), line
    assert not os.path.exists(places["NEW"])  # nothing made: no folder, no download
    assert not [w for w in recwarn if "milestones" in str(w.message)]


def test_sigterm_ends_a_run_like_ctrl_c(tmp_path):
    """One line, exit 143, and the run resumes from its last finished epoch."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    argv = [sys.executable, "-m", "okddip_edu", "train", *TINY, "--epochs", "200",
            "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    lines = err.strip().splitlines()
    assert proc.returncode == 143, (proc.returncode, err[-2000:])
    assert len(lines) == 1 and "terminated (SIGTERM)" in lines[0] and "--resume" in lines[0], \
        err[-2000:]
    from okddip_edu.checkpoint import load_checkpoint

    done = load_checkpoint(out / "checkpoint.pt")["epoch"] + 1  # epochs finished before it
    assert main(["train", *TINY, "--epochs", str(done + 1), "--out", str(out), "--resume"]) == 0


def test_ctrl_c_before_the_first_epoch_does_not_offer_resume(tmp_path, capsys, monkeypatch):
    from okddip_edu import ddp

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ddp, "launched_fit", interrupted)
    assert main(["train", *TINY, "--out", str(tmp_path / "run")]) == 130
    line = capsys.readouterr().err.strip()
    assert "nothing to resume" in line and "without --resume" in line, line


def test_the_campaign_classes_a_sample_of_its_cases(trained, tmp_path, monkeypatch):
    """A smoke of tools/bad_inputs.py: a few of its cases, each clean (the whole campaign
    is run by hand: python tools/bad_inputs.py)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "tools" / "bad_inputs.py"
    spec = importlib.util.spec_from_file_location("bad_inputs", path)
    campaign = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(campaign)
    monkeypatch.setenv("OKDDIP_OFFLINE", "1")
    cases = campaign.config_flag_cases() + campaign.other_cases()
    assert len(cases) >= 400
    wanted = ("train --lr 1e308", "evaluate --data ZIP", "report T_HEADER",
              "train --resume DIRHIST", "data --npz PICKLED", "ablate --variants ''")
    sample = [c for c in cases if c[0] in wanted]
    assert len(sample) == len(wanted)
    for name, argv, env in sample:
        work = tmp_path / name.replace(" ", "_").replace("'", "")
        work.mkdir()
        kind, said = campaign.run_case(argv, env, campaign.make_files(work, trained), work)
        assert kind == "clean", (name, kind, said)
