"""From a config to objects: the model and the method it asks for, and saved runs back.

    model, method = build(cfg, num_classes)

This is the one place that knows which model options a method needs (CL-ILR's trunk
gradient scale, the dimensions of OKDDip's projections and ONE's gate, KD's teacher).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from . import methods, models
from .config import Config
from .methods import Method


def network_options(cfg: Config) -> dict:
    """The switches of ``cfg``'s network, resolved as the released code sets them."""
    if cfg.arch == "vgg16":
        dropout = cfg.dropout
        if dropout is None:  # released: 0.5 in the branch models, 0 in vgg.py
            dropout = 0.5 if cfg.resolved_layout == "branch" else 0.0
        return {"dropout": dropout, "feature": cfg.vgg_feature}
    if cfg.arch == "densenet40-12":
        return {"leader_bn": cfg.densenet_leader_bn, "shared_block": cfg.densenet_shared_block}
    return {}


def build_model(cfg: Config, num_classes: int) -> nn.Module:
    scale = methods.REGISTRY[cfg.method].trunk_grad_scale(cfg.num_branches)
    leader = cfg.method == "okddip" and cfg.resolved_layout == "branch"
    conv_init = "fan_out" if cfg.init == "kaiming-fan-out" else None  # None: per network
    return models.build(cfg.arch, num_classes, cfg.num_branches, cfg.resolved_layout,
                        width=cfg.width, trunk_grad_scale=scale, leader=leader,
                        conv_init=conv_init, **network_options(cfg))


def init_linear(cfg: Config, model: nn.Module, method: nn.Module) -> None:
    """Linear layers as the released code of ``cfg``'s network and layout leaves them.

    - VGG-16: every Linear N(0, 0.01), biases 0, except that ``vgg_GL.py`` (OKDDip, branch
      layout) leaves the MLP's biases at PyTorch's default and the network layout
      (``MultiNet.py``) leaves OKDDip's W_q, W_k at PyTorch's default;
    - DenseNet-40-12: classifier (and ONE gate) biases 0, weights PyTorch's default;
    - the ResNets: PyTorch's default.

    ``cfg.init == "kaiming-fan-out"`` keeps PyTorch's default everywhere.
    """
    if cfg.init != "released":
        return
    layout = cfg.resolved_layout
    if cfg.arch == "vgg16":
        zero_bias = not (cfg.method == "okddip" and layout == "branch")
        _linear(model, std=0.01, zero_bias=zero_bias)
        if layout == "branch":  # W_q, W_k (vgg_GL.py), ONE's gate (vgg_one.py)
            _linear(method, std=0.01, zero_bias=True)
    elif cfg.arch == "densenet40-12":
        _linear(model, std=None, zero_bias=True)
        _linear(method, std=None, zero_bias=True)


def _linear(module: nn.Module, std: float | None, zero_bias: bool) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            if std is not None:
                nn.init.normal_(m.weight, 0.0, std)
            if zero_bias and m.bias is not None:
                nn.init.zeros_(m.bias)


def build_method(cfg: Config, num_classes: int) -> Method:
    bb = models.backbone(cfg.arch, cfg.width, **network_options(cfg))
    common = dict(temperature=cfg.temperature, alpha=cfg.alpha, rampup=cfg.rampup,
                  detach=cfg.detach, ramp=cfg.ramp)
    if cfg.method == "okddip":
        common.update(aggregation=cfg.aggregation, second_level=cfg.second_level,
                      mask_diagonal=cfg.mask_diagonal, aggregate=cfg.aggregate,
                      attention_factor=cfg.attention_factor,
                      leader_in_peers=cfg.leader_in_peers)
    elif cfg.method == "dml":
        common.update(target=cfg.dml_target)
    elif cfg.method == "kd":
        teacher, teacher_method, teacher_cfg = load_teacher(cfg.teacher)
        if num_classes_of(teacher_cfg.dataset) != num_classes:
            theirs = num_classes_of(teacher_cfg.dataset)
            raise ValueError(f"teacher {cfg.teacher} predicts {theirs} classes "
                             f"({teacher_cfg.dataset}); the student's {cfg.dataset} has "
                             f"{num_classes}: train the teacher on the same classes")
        if teacher_cfg.dataset != cfg.dataset:
            raise ValueError(f"teacher was trained on {teacher_cfg.dataset!r}, the student "
                             f"trains on {cfg.dataset!r}; they must match")
        common.update(teacher=teacher, teacher_leader=teacher_method.leader)
    method = methods.build(cfg.method, num_classes, cfg.num_branches,
                           feature_dim=bb.feature_dim, trunk_dim=bb.trunk_dim, **common)
    if cfg.released_diversity:  # train_one.py measures branches 0..n-2 only
        method.diversity_branches = list(range(cfg.num_branches - 1))
    return method


def build(cfg: Config, num_classes: int) -> tuple[nn.Module, Method]:
    """A fresh model and method for ``cfg`` (seed torch first for reproducible weights)."""
    if not isinstance(cfg, Config):
        raise TypeError(f"cfg={type(cfg).__name__} is not valid; it must be a Config "
                        "(okddip_edu.preset(...))")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes={num_classes!r} is not valid; it must be an integer >= 2")
    model, method = build_model(cfg, num_classes), build_method(cfg, num_classes)
    init_linear(cfg, model, method)
    return model, method


def load_teacher(run_dir: str) -> tuple[nn.Module, Method, Config]:
    """A KD student's teacher (:func:`load_run`); a missing or broken one is named as the
    teacher, with where it was looked for (a relative path is read from the current folder)."""
    from .checkpoint import CheckpointError

    try:
        return load_run(run_dir)
    except (FileNotFoundError, CheckpointError) as err:
        where = Path(run_dir).absolute()
        raise type(err)(f"the KD teacher {run_dir} (looked for at {where}) cannot be loaded: "
                        f"{err}") from None


def num_classes_of(dataset: str) -> int:
    return 100 if dataset == "cifar100" else 10


def load_run(run_dir: str | Path, map_location: str | torch.device = "cpu"
             ) -> tuple[nn.Module, Method, Config]:
    """The trained model and method of a run directory (its last checkpoint), in eval mode.

    The checkpoint's own config decides what is built (config.json is for people, and may
    have been edited); a checkpoint whose weights are not all finite is refused.
    """
    from .checkpoint import CheckpointError, load_checkpoint, nonfinite, restore

    run_dir = Path(run_dir)
    if not (run_dir / "checkpoint.pt").is_file():
        what = "no config.json" if not (run_dir / "config.json").is_file() else "no checkpoint.pt"
        raise FileNotFoundError(f"{run_dir} is not a run directory ({what}); make one "
                                "with: okddip-edu train ... --out DIR")
    state = load_checkpoint(run_dir / "checkpoint.pt", map_location)
    try:
        cfg = Config.from_dict(state["config"])
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{run_dir / 'checkpoint.pt'} holds an invalid config: {err}") \
            from None
    model, method = build(cfg, num_classes_of(cfg.dataset))
    restore(state, model, method)
    broken = nonfinite(model, method)
    if broken:
        raise CheckpointError(f"{run_dir / 'checkpoint.pt'}: {len(broken)} weights or buffers "
                              f"hold NaN or infinity (first: {broken[0]}); the run diverged "
                              "and this checkpoint cannot be evaluated")
    return model.eval(), method.eval(), cfg
