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


# Config field of each network switch (okddip_edu.models.released.SWITCHES).
SWITCH_FIELDS = {"dropout": "dropout", "feature": "vgg_feature",
                 "leader_bn": "densenet_leader_bn", "shared_block": "densenet_shared_block"}


def _switches(cfg: Config) -> dict:
    """The switches ``cfg`` sets for its network (None: released), and only those it has."""
    own = models.released.options(cfg.arch, cfg.resolved_layout)
    return {k: getattr(cfg, SWITCH_FIELDS[k]) for k in own}


def _leader(cfg: Config) -> bool:
    return cfg.method == "okddip" and cfg.resolved_layout == "branch"


def released_defaults(cfg: Config) -> models.released.Released:
    """What ``cfg``'s network and layout get, decided by :mod:`okddip_edu.models.released`
    (the one place that knows the released code's choices), with ``cfg``'s switches."""
    return models.released.resolve(cfg.arch, cfg.resolved_layout, leader=_leader(cfg),
                                   init=cfg.init, **_switches(cfg))


def network_options(cfg: Config) -> dict:
    """The switches of ``cfg``'s network, resolved as the released code sets them."""
    return released_defaults(cfg).options


def build_model(cfg: Config, num_classes: int) -> nn.Module:
    """The network, its Linear layers still at PyTorch's default (see :func:`build`)."""
    scale = methods.REGISTRY[cfg.method].trunk_grad_scale(cfg.num_branches)
    return models.build(cfg.arch, num_classes, cfg.num_branches, cfg.resolved_layout,
                        width=cfg.width, trunk_grad_scale=scale, leader=_leader(cfg),
                        init=cfg.init, init_linear=False, **_switches(cfg))


def init_linear(cfg: Config, model: nn.Module, method: nn.Module) -> None:
    """The Linear layers of the model, then of the method, as the released code of
    ``cfg``'s network and layout leaves them (:mod:`okddip_edu.models.released`)."""
    defaults = released_defaults(cfg)
    defaults.model_linear.apply(model)
    defaults.method_linear.apply(method)


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
    """A fresh model and method for ``cfg`` (seed torch first for reproducible weights).

    The model is ``models.build`` of the same architecture and layout; its Linear layers
    are initialised after the method is built, the order every run has used, so a seed
    gives the weights it always gave.
    """
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
