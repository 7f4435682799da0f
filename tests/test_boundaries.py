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
