"""The optimiser and its schedule: SGD with Nesterov momentum, multistep or cosine lr.

    lr(e) = lr_0 * gamma ** #{milestones <= e}              multistep (the paper: x0.1 at 150, 225)
    lr(e) = lr_0 / 2 * (1 + cos(pi e / E))                   cosine, to 0 at the last epoch E

Weight decay applies to every parameter, the method's own (W_q, W_k, ONE's gate) included,
as in the released code. On CUDA the fused kernel does the whole update in one launch.
"""

from __future__ import annotations

import inspect
import math

import torch
from torch import nn

from .config import Config


def learning_rate(cfg: Config, epoch: int) -> float:
    """lr at ``epoch``: multistep (x gamma at each milestone) or cosine to 0."""
    if cfg.schedule == "cosine":
        return 0.5 * cfg.lr * (1.0 + math.cos(math.pi * epoch / cfg.epochs))
    return cfg.lr * cfg.gamma ** sum(epoch >= m for m in cfg.milestones)


def make_optimizer(model: nn.Module, method: nn.Module, cfg: Config) -> torch.optim.SGD:
    """SGD (Nesterov when momentum > 0) over every trainable parameter; on CUDA the fused
    kernel (one launch per step instead of several per tensor; the same update)."""
    params = [p for p in [*model.parameters(), *method.parameters()] if p.requires_grad]
    device = params[0].device if params else torch.device("cpu")
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
                           weight_decay=cfg.weight_decay, **sgd_kernel(device))


def has_fused_sgd() -> bool:
    """Whether this torch's SGD has a fused kernel (torch >= 2.0 on CUDA, >= 2.4 on CPU)."""
    return "fused" in inspect.signature(torch.optim.SGD).parameters


def sgd_kernel(device: torch.device) -> dict:
    """The SGD kernel flags for ``device``: fused on CUDA when torch has it, else torch's
    default (which picks the multi-tensor ``foreach`` kernel on CUDA by itself)."""
    return {"fused": True} if device.type == "cuda" and has_fused_sgd() else {}
