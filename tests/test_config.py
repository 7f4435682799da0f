"""Config: every bad input is refused with a message naming the field, the value and the rule;
presets hold the spec's numbers; configs survive a JSON round trip."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okddip_edu.config import (ARCHITECTURES, DATASETS, METHODS, PRESETS, Config, preset,
                               validate)

# (overrides, regexes the message must match: field + bad value, what is allowed)
BAD = {
    "unknown dataset": (dict(dataset="imagenet"),
                        [r"dataset='imagenet'", "choose one of: " + ", ".join(DATASETS)]),
    "unknown arch": (dict(arch="resnet50"),
                     [r"arch='resnet50'", "choose one of: " + ", ".join(ARCHITECTURES)]),
    "unknown method": (dict(method="fitnet"),
                       [r"method='fitnet'", "choose one of: " + ", ".join(METHODS)]),
    "temperature 0": (dict(temperature=0.0), [r"temperature=0\.0 ", r"> 0"]),
    "temperature negative": (dict(temperature=-2.5), [r"temperature=-2\.5 ", r"> 0"]),
    "temperature nan": (dict(temperature=math.nan), [r"temperature=nan ", r"finite"]),
    "temperature as text": (dict(temperature="3"), [r"temperature='3' ", r"number > 0"]),
    "epochs 0": (dict(epochs=0), [r"epochs=0 ", r"integer >= 1"]),
    "epochs fractional": (dict(epochs=2.5), [r"epochs=2\.5 ", r"integer >= 1"]),
    "batch_size 0": (dict(batch_size=0), [r"batch_size=0 ", r"integer >= 1"]),
    "batch_size negative": (dict(batch_size=-8), [r"batch_size=-8 ", r"integer >= 1"]),
    "eval_batch_size 0": (dict(eval_batch_size=0), [r"eval_batch_size=0 ", r">= 1"]),
    "lr 0": (dict(lr=0.0), [r"lr=0\.0 ", r"> 0"]),
    "lr inf": (dict(lr=math.inf), [r"lr=inf ", r"finite"]),
    "momentum 1.5": (dict(momentum=1.5), [r"momentum=1\.5 ", r">= 0\.0 and <= 1\.0"]),
    "weight_decay negative": (dict(weight_decay=-1e-4), [r"weight_decay=-0\.0001 ", r">= 0"]),
    "alpha negative": (dict(alpha=-1.0), [r"alpha=-1\.0 ", r">= 0"]),
    "gamma 0": (dict(gamma=0.0), [r"gamma=0\.0 ", r"> 0\.0 and <= 1\.0"]),
    "gamma above 1": (dict(gamma=2.0), [r"gamma=2\.0 ", r"<= 1\.0"]),
    "bad layout": (dict(layout="ring"),
                   [r"layout='ring'", r"choose one of: single, branch, network"]),
    "single layout with okddip": (dict(layout="single", method="okddip"),
                                  [r"layout='single'", r"method='okddip'", r"baseline, kd"]),
    "branch layout with baseline": (dict(layout="branch", method="baseline"),
                                    [r"layout='branch'", r"method='baseline'",
                                     r"layout='single'"]),
    "okddip with 2 branches": (dict(method="okddip", branches=2),
                               [r"branches=2 ", r"method='okddip'", r"3\.\.9"]),
    "dml with 1 branch": (dict(method="dml", branches=1), [r"branches=1 ", r"2\.\.9"]),
    "too many branches": (dict(method="one", branches=10), [r"branches=10 ", r"2\.\.9"]),
    "branches as bool": (dict(method="dml", branches=True), [r"branches=True ", r"2\.\.9"]),
    "cl-ilr with network layout": (dict(method="cl-ilr", layout="network"),
                                   [r"layout='network'", r"method='cl-ilr'",
                                    r"layout='branch'"]),
    "one with network layout": (dict(method="one", layout="network"),
                                [r"layout='network'", r"method='one'", r"layout='branch'"]),
    "gate with network layout": (dict(method="okddip", layout="network", aggregation="gate"),
                                 [r"aggregation='gate'", r"layout='network'",
                                  r"layout='branch'"]),
    "decreasing milestones": (dict(milestones=(225, 150)),
                              [r"milestones=\(225, 150\)", r"increase"]),
    "milestone 0": (dict(milestones=(0, 150)), [r"milestones=\(0, 150\)", r"positive"]),
    "kd without teacher": (dict(method="kd"),
                           [r"teacher=None", r"method='kd'", r"run directory"]),
    "width 1": (dict(width=1), [r"width=1 ", r"integer >= 2"]),
    "seed negative": (dict(seed=-1), [r"seed=-1 ", r"integer >= 0"]),
    "rampup negative": (dict(rampup=-5), [r"rampup=-5 ", r"integer >= 0"]),
    "val_size too small": (dict(val_size=5), [r"val_size=5 ", r"integer >= 10"]),
    "train_subset 0": (dict(train_subset=0), [r"train_subset=0 ", r"integer >= 1"]),
    "attention_factor 0": (dict(attention_factor=0), [r"attention_factor=0 ", r">= 1"]),
    "unknown aggregation": (dict(aggregation="max"),
                            [r"aggregation='max'", r"attention, mean, gate, none"]),
    "unknown schedule": (dict(schedule="linear"), [r"schedule='linear'", r"multistep, cosine"]),
    "unknown dml target": (dict(dml_target="js"),
                           [r"dml_target='js'", r"mean-logits, pairwise-kl"]),
    "unknown aggregate space": (dict(aggregate="features"),
                                [r"aggregate='features'", r"logits, probs"]),
    "unknown device": (dict(device="tpu"), [r"device='tpu'", r"auto, cpu, cuda"]),
    "unknown preset name in field": (dict(preset="huge"),
                                     [r"preset='huge'", r"paper, course, quick, smoke"]),
}


@pytest.mark.parametrize("overrides, patterns", BAD.values(), ids=BAD.keys())
def test_bad_input_names_field_value_and_rule(overrides, patterns):
    with pytest.raises(ValueError) as info:
        Config(**overrides)
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"


def test_at_least_fifteen_distinct_bad_inputs():
    assert len(BAD) >= 15


@pytest.mark.parametrize("name", ["amp", "channels_last", "detach", "second_level",
                                  "mask_diagonal"])
def test_bool_given_as_string_is_refused(name):
    with pytest.raises(ValueError, match="True or False"):
        Config(**{name: "yes"})


@pytest.mark.parametrize("name", ["amp", "detach"])
def test_bool_given_as_string_names_the_field(name):
    with pytest.raises(ValueError, match=rf"{name}='yes'"):
        Config(**{name: "yes"})


def test_unknown_field_from_dict_lists_allowed_fields():
    with pytest.raises(ValueError, match=r"unknown config field\(s\) \['temprature'\]") as info:
        Config.from_dict({"temprature": 3.0})
    assert "temperature" in str(info.value).split("allowed:")[1]


def test_unknown_field_in_preset_overrides():
    with pytest.raises(ValueError, match=r"unknown config field\(s\) \['epoch'\].*allowed"):
        preset("smoke", epoch=3)


def test_unknown_preset_lists_presets():
    with pytest.raises(ValueError, match=r"preset='huge'.*paper, course, quick, smoke"):
        preset("huge")


def test_replace_validates():
    cfg = preset("smoke")
    with pytest.raises(ValueError, match=r"temperature=0 .*> 0"):
        cfg.replace(temperature=0)
    assert cfg.replace(temperature=4.0).temperature == 4.0
    assert cfg.temperature == preset("smoke").temperature  # the original is unchanged


def test_setting_a_field_on_a_built_config_is_validated():
    cfg = preset("smoke")
    with pytest.raises(ValueError, match=r"epochs=0 "):
        cfg.epochs = 0
    assert cfg.epochs == 2  # refused: the old value stays
    cfg.epochs = 5
    assert cfg.epochs == 5
    validate(cfg)
    with pytest.raises(AttributeError, match="no field 'epoch'"):
        cfg.epoch = 3  # a typo is not a new field


# Presets --------------------------------------------------------------------------------
def test_paper_preset_is_the_spec_setting():
    cfg = preset("paper")
    assert (cfg.dataset, cfg.arch, cfg.width) == ("cifar100", "resnet32", 16)
    assert cfg.epochs == 300 and cfg.batch_size == 128
    assert cfg.lr == 0.1 and cfg.momentum == 0.9 and cfg.weight_decay == 5e-4
    assert cfg.schedule == "multistep" and cfg.milestones == (150, 225) and cfg.gamma == 0.1
    assert cfg.temperature == 3.0 and cfg.rampup == 80 and cfg.alpha == 1.0
    assert cfg.method == "okddip" and cfg.branches == 4 and cfg.resolved_layout == "branch"
    assert cfg.preset == "paper"


def test_quick_preset_is_a_short_real_run():
    cfg = preset("quick")
    assert cfg.dataset == "cifar10-5k" and cfg.arch == "resnet8"
    assert 5 <= cfg.epochs <= 30 and cfg.schedule == "cosine" and cfg.rampup <= cfg.epochs
    assert cfg.val_size == 1000 and cfg.train_subset is None
    assert cfg.preset == "quick"


def test_smoke_preset_is_tiny():
    cfg = preset("smoke")
    assert cfg.dataset == "cifar10-5k" and cfg.arch == "resnet8"
    assert cfg.width <= 8 and cfg.epochs <= 2
    assert cfg.train_subset is not None and cfg.train_subset <= 512
    assert cfg.preset == "smoke"


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_is_valid_for_every_method(name):
    for method in METHODS:
        extra = {"teacher": "runs/teacher"} if method == "kd" else {}
        cfg = preset(name, method=method, **extra)
        assert cfg.method == method
        assert cfg.num_branches == (1 if method in ("baseline", "kd") else cfg.branches)


def test_overrides_apply_and_none_is_ignored():
    cfg = preset("paper", method="dml", seed=3, epochs=10, temperature=None, layout=None)
    assert (cfg.method, cfg.seed, cfg.epochs) == ("dml", 3, 10)
    assert cfg.temperature == 3.0  # None leaves the preset's value
    assert cfg.resolved_layout == "network"  # DML's own layout
    assert cfg.lr == 0.1 and cfg.milestones == (150, 225)  # the rest of the preset stays


def test_override_that_breaks_a_rule_is_refused():
    with pytest.raises(ValueError, match=r"momentum=2\.0 "):
        preset("quick", momentum=2.0)


def test_derived_layout_and_branches():
    assert Config(method="baseline").resolved_layout == "single"
    assert Config(method="baseline").num_branches == 1
    assert Config(method="dml", branches=3).resolved_layout == "network"
    assert Config(method="dml", branches=3).num_branches == 3
    assert Config(method="okddip").resolved_layout == "branch"
    assert Config(method="okddip", layout="network").num_branches == 4


def test_list_milestones_become_a_tuple():
    assert Config(milestones=[10, 20]).milestones == (10, 20)


# JSON ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", [
    preset("paper"), preset("quick", method="dml", seed=7), preset("smoke"),
    Config(method="kd", teacher="runs/t", npz="/x.npz", train_subset=100, layout="single"),
    Config(method="okddip", aggregation="gate", detach=True, mask_diagonal=True,
           milestones=(), aggregate="probs"),
], ids=["paper", "quick-dml", "smoke", "kd", "okddip-switches"])
def test_json_round_trip(cfg):
    text = cfg.to_json()
    back = Config.from_dict(json.loads(text))
    assert back == cfg
    assert back.to_json() == text
    assert set(json.loads(text)) == {f.name for f in dataclasses.fields(Config)}


# Property --------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=0.0, max_value=3.4e38, exclude_min=True, allow_nan=False))
def test_any_positive_temperature_is_accepted(t):
    assert Config(temperature=t).temperature == t


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.floats(max_value=0.0, allow_nan=False),
                 st.sampled_from([math.nan, math.inf, -math.inf])))
def test_any_non_positive_or_non_finite_temperature_is_refused(t):
    with pytest.raises(ValueError, match=r"temperature=.* is not valid; it must be a finite"):
        Config(temperature=t)


@pytest.mark.parametrize("epochs, advice", [(10, r"give milestones in 1\.\.9"),
                                            (1, r"a 1-epoch run has no later epoch")])
def test_late_milestones_warn_with_advice_that_fits_the_run(epochs, advice):
    with pytest.warns(UserWarning, match=r"milestones \[150, 225\] are at or after the last epoch.*"
                      + advice):
        preset("paper", epochs=epochs)
