"""From a config to objects: the model and the method it asks for, and saved runs back.

    model, method = build(cfg, num_classes)

This is the one place that knows which model options a method needs (CL-ILR's trunk
gradient scale, the dimensions of OKDDip's projections and ONE's gate, KD's teacher).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from . import methods, models
from .config import Config
from .methods import Method


def build_model(cfg: Config, num_classes: int) -> nn.Module:
    scale = methods.REGISTRY[cfg.method].trunk_grad_scale(cfg.num_branches)
    return models.build(cfg.arch, num_classes, cfg.num_branches, cfg.resolved_layout,
                        width=cfg.width, trunk_grad_scale=scale)


def build_method(cfg: Config, num_classes: int) -> Method:
    bb = models.backbone(cfg.arch, cfg.width)
    common = dict(temperature=cfg.temperature, alpha=cfg.alpha, rampup=cfg.rampup,
                  detach=cfg.detach)
    if cfg.method == "okddip":
        common.update(aggregation=cfg.aggregation, second_level=cfg.second_level,
                      mask_diagonal=cfg.mask_diagonal, aggregate=cfg.aggregate,
                      attention_factor=cfg.attention_factor)
    elif cfg.method == "dml":
        common.update(target=cfg.dml_target)
    elif cfg.method == "kd":
        teacher, teacher_method, teacher_cfg = load_run(cfg.teacher)
        if teacher_cfg.dataset != cfg.dataset:
            raise ValueError(f"teacher was trained on {teacher_cfg.dataset!r}, the student "
                             f"trains on {cfg.dataset!r}; they must match")
        common.update(teacher=teacher, teacher_leader=teacher_method.leader)
    return methods.build(cfg.method, num_classes, cfg.num_branches, feature_dim=bb.feature_dim,
                         trunk_dim=bb.trunk_dim, **common)


def build(cfg: Config, num_classes: int) -> tuple[nn.Module, Method]:
    """A fresh model and method for ``cfg`` (seed torch first for reproducible weights)."""
    return build_model(cfg, num_classes), build_method(cfg, num_classes)


def num_classes_of(dataset: str) -> int:
    return 100 if dataset == "cifar100" else 10


def load_run(run_dir: str | Path, map_location: str | torch.device = "cpu"
             ) -> tuple[nn.Module, Method, Config]:
    """The trained model and method of a run directory (its last checkpoint), in eval mode."""
    from .checkpoint import load_checkpoint

    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.json); "
                                "make one with: okddip-edu train ... --out DIR")
    cfg = Config.from_dict(json.loads(cfg_path.read_text()))
    model, method = build(cfg, num_classes_of(cfg.dataset))
    state = load_checkpoint(run_dir / "checkpoint.pt", map_location)
    from .checkpoint import restore

    restore(state, model, method)
    return model.eval(), method.eval(), cfg
