"""Every boundary of the library checks what it is given: one line naming the argument, the
value and what is allowed, never a traceback from deep inside torch or numpy."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from okddip_edu import engine, factory, models
from okddip_edu.config import preset
from okddip_edu.data import synthetic

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_cfg(**changes):
    return preset("smoke", **{**dict(dataset="synthetic", device="cpu", width=2,
                                     train_subset=64, batch_size=32, epochs=1), **changes})


def toy(**changes):
    return dataclasses.replace(synthetic(train=128, val=32), **changes)


S = synthetic(train=128, val=32)
BAD_CALLS = {  # name: (call, error type, words)
    "fit cfg None": (lambda: engine.fit(None), TypeError, "cfg=NoneType"),
    "fit cfg str": (lambda: engine.fit("quick"), TypeError, "cfg=str"),
    "fit cfg dict": (lambda: engine.fit({"lr": 0.1}), TypeError, "cfg=dict"),
    "fit splits str": (lambda: engine.fit(tiny_cfg(), splits="data"), TypeError, "splits=str"),
    "fit out_dir int": (lambda: engine.fit(tiny_cfg(), 5), TypeError, "out_dir=int"),
    "fewer labels than images": (lambda: engine.fit(tiny_cfg(), splits=toy(
        train_y=S.train_y[:100])), ValueError, "splits.train_y=shape (100,)"),
    "float images": (lambda: engine.fit(tiny_cfg(), splits=toy(
        train_x=S.train_x.float() / 255)), ValueError, "splits.train_x=torch.float32"),
    "100 classes under a 10-class dataset": (lambda: engine.fit(tiny_cfg(), splits=toy(
        num_classes=100)), ValueError, "splits.num_classes=100"),
    "no validation images": (lambda: engine.fit(tiny_cfg(), splits=toy(
        val_x=S.val_x[:0], val_y=S.val_y[:0])), ValueError, "splits.val_y is empty"),
    "build cfg None": (lambda: factory.build(None, 10), TypeError, "cfg=NoneType"),
    "build cfg str": (lambda: factory.build("okddip", 10), TypeError, "cfg=str"),
    "build cfg dict": (lambda: factory.build({}, 10), TypeError, "cfg=dict"),
    "build 1 class": (lambda: factory.build(tiny_cfg(), 1), ValueError, "num_classes=1"),
    "models width 1": (lambda: models.build("resnet8", width=1), ValueError, "width=1"),
    "backbone width -4": (lambda: models.backbone("resnet8", width=-4), ValueError, "width=-4"),
    "trunk_grad_scale 'x'": (lambda: models.build("resnet8", width=4, trunk_grad_scale="x"),
                             ValueError, "trunk_grad_scale='x'"),
    "kd teacher 5": (lambda: preset("quick", method="kd", teacher=5), ValueError, "teacher=5"),
    "npz 123": (lambda: preset("quick", npz=123), ValueError, "npz=123"),
    "data_root list": (lambda: preset("quick", data_root=["a"]), ValueError, "data_root=['a']"),
    "milestones 5": (lambda: preset("quick", schedule="multistep", milestones=5), ValueError,
                     "milestones=5"),
    "lr 1e39": (lambda: preset("quick", lr=1e39), ValueError, "float32"),
    "lr 1e308": (lambda: preset("quick", lr=1e308), ValueError, "float32"),
    "weight decay 1e308": (lambda: preset("quick", weight_decay=1e308), ValueError, "float32"),
    "temperature 1e308": (lambda: preset("quick", temperature=1e308), ValueError,
                          "temperature=1e+308"),
    "alpha -inf": (lambda: preset("quick", alpha=-math.inf), ValueError, "alpha=-inf"),
    "epochs 1e30": (lambda: preset("quick", epochs=10**30), ValueError, "at most 10000"),
    "eval batch 1e30": (lambda: preset("quick", eval_batch_size=10**30), ValueError,
                        "at most 2147483647"),
}


@pytest.mark.parametrize("call,kind,words", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_arguments_raise_one_line(call, kind, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written, even by mistake
    with pytest.raises(kind) as info:
        call()
    assert words in str(info.value) and "\n" not in str(info.value), str(info.value)
    assert not any(tmp_path.iterdir())


def test_resume_on_an_empty_folder_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no checkpoint in"):
        engine.fit(tiny_cfg(), tmp_path / "empty", resume=True, splits=S, progress=False)


def test_good_splits_still_train(tmp_path):
    assert len(engine.fit(tiny_cfg(), splits=toy(), progress=False).history) == 1


def test_float_logits_of_a_model_built_at_the_minimum_width():
    out = models.build("resnet8", num_classes=10, branches=2, width=2)(torch.zeros(2, 3, 32, 32))
    assert out.logits.shape == (2, 2, 10)


# --- locks: made in one step, stale ones told apart and taken over --------------------------
def _lock_jobs(tmp_path):
    from okddip_edu.experiments import expand

    return expand("detach", "smoke", 1, tmp_path, dataset="synthetic", width=2,
                  train_subset=64, batch_size=32, device="cpu")


def _foreign_lock(run_dir, content, age_s=60.0):
    import os
    import time

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / ".lock").write_text(content)
    old = time.time() - age_s
    os.utime(run_dir / ".lock", (old, old))


@pytest.mark.parametrize("content,why", [
    ('{"host": "HOST", "pid": 1, "start": -5.0}', "belongs to another process"),
    ("1", "not an okddip-edu worker"),  # an older lock: a bare pid, live but unrelated
    ('{"host": "HOST", "pid": 1, "start": null}', "not an okddip-edu worker"),
    ('{"host": "HOST", "pid": 999999999, "start": 1.0}', "is gone"),
    ("", "empty or unreadable"),
    ('{"pid": "x"}', "empty or unreadable"),
])
def test_a_stale_lock_is_taken_over_with_one_line(content, why, tmp_path):
    import socket

    from okddip_edu.experiments import RunLock, run_suite, status

    jobs = _lock_jobs(tmp_path)
    _foreign_lock(jobs[0].run_dir, content.replace("HOST", socket.gethostname()))
    said = []
    run_suite(jobs, tmp_path, progress=False, log=said.append)
    assert all(status(j) == "done" for j in jobs)
    took = [line for line in said if "took over its lock" in line]
    assert len(took) == 1 and why in took[0], said
    assert not (jobs[0].run_dir / ".lock").exists() and RunLock(jobs[0].run_dir).owner() is None


@pytest.mark.parametrize("content", [
    '{"host": "another-machine", "pid": 1, "start": 1.0}',  # cannot be checked: trusted
    "",  # unreadable but fresh: an older version may be writing its owner now
])
def test_a_lock_that_may_be_live_is_passed_by(content, tmp_path):
    from okddip_edu.experiments import run_suite, status

    jobs = _lock_jobs(tmp_path)
    _foreign_lock(jobs[0].run_dir, content, age_s=0.0)
    said = []
    run_suite(jobs, tmp_path, progress=False, log=said.append)
    assert status(jobs[0]) != "done" and status(jobs[1]) == "done"
    assert any("passed by" in line for line in said)


def test_the_lock_of_a_live_owner_holds_and_is_never_empty(tmp_path):
    import json
    import os
    import socket
    import subprocess
    import sys

    from okddip_edu.experiments import RunLock
    from okddip_edu.experiments.locks import process_start

    first = RunLock(tmp_path / "a")
    assert first.acquire()
    owner = json.loads((tmp_path / "a" / ".lock").read_text())  # whole from the start
    assert owner["pid"] == os.getpid() and owner["start"] == process_start(os.getpid())
    first.release()
    assert not list((tmp_path / "a").glob(".lock*"))  # nothing left, no temporary file
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "b").mkdir()
        (tmp_path / "b" / ".lock").write_text(json.dumps(
            {"host": socket.gethostname(), "pid": live.pid, "start": process_start(live.pid)}))
        assert not RunLock(tmp_path / "b").acquire()  # a live owner keeps its run
    finally:
        live.kill()
        live.wait()
    assert RunLock(tmp_path / "b").acquire()  # and once it is gone, the run is taken over


def test_a_fresh_lock_made_during_a_takeover_is_put_back(tmp_path):
    from okddip_edu.experiments import RunLock

    lock = RunLock(tmp_path)
    (tmp_path / ".lock").write_text('{"host": "h", "pid": 5, "start": 1.0}')
    assert not lock._take_away("what was judged stale, before another worker replaced it")
    assert (tmp_path / ".lock").read_text() == '{"host": "h", "pid": 5, "start": 1.0}'


def test_the_lock_appears_whole_in_one_step(tmp_path, monkeypatch):
    """The owner is written before the lock exists (no empty lock for another worker to take)."""
    import json
    import os
    from pathlib import Path

    from okddip_edu.experiments import RunLock

    linked = []
    real = os.link

    def link(src, dst):
        linked.append(json.loads(Path(src).read_text()))
        assert not Path(dst).exists()
        real(src, dst)

    monkeypatch.setattr(os, "link", link)
    assert RunLock(tmp_path).acquire()
    assert linked and linked[0]["pid"] == os.getpid()
