r"""DML (Zhang et al. 2018) and CL-ILR (Song & Chai 2018): every peer learns from the others.

DML: n independent networks. Peer k minimises CE(z_k, y) + λ L_k, λ being the config field
``alpha`` (the released ``train_DML.py`` has no ramp-up and no weight: λ = 1,
``ramp=False``) with, by default
(the released code's form), the mean of the OTHER networks' logits as teacher

    L_k = KL_T( (1/(n-1)) sum_{j != k} z_j  ->  z_k ),

or, in the paper's original form (``target="pairwise-kl"``), the average pairwise KL

    L_k = (1/(n-1)) sum_{j != k} KL_T(z_j -> z_k).

CL-ILR: the same mean-of-others target on a branch-based network, weighted by λ w(e)
(the released ``train_one.py`` ramps it), plus "backward rescaling": the gradient reaching
the shared trunk is divided by n.
"""

from __future__ import annotations

import torch

from ..aggregation import UniformMean
from ..losses import kd_loss
from .base import Method


class DML(Method):
    name = "dml"

    def __init__(self, branches: int, target: str = "mean-logits", **kw):
        super().__init__(branches, **kw)
        if target not in ("mean-logits", "pairwise-kl"):
            raise ValueError(f"target={target!r} is not valid; choose mean-logits or pairwise-kl")
        self.target = target
        self.mean_of_others = UniformMean(exclude_self=True)

    def distillation(self, logits: torch.Tensor) -> torch.Tensor:
        """sum_k L_k for logits (B, n, C)."""
        n = logits.shape[1]
        T = self.temperature
        if self.target == "mean-logits":
            targets, _ = self.mean_of_others(None, logits)  # (B, n, C)
            return sum(kd_loss(logits[:, k], targets[:, k], T, self.detach) for k in range(n))
        return sum(kd_loss(logits[:, k], logits[:, j], T, self.detach)
                   for k in range(n) for j in range(n) if j != k) / (n - 1)

    def forward(self, out, y, epoch, x=None):
        ce = self.cross_entropy(out.logits, y)
        kd = self.distillation(out.logits)
        w = self.weight(epoch)
        return {"ce": ce, "kd": kd, "total": ce + w * kd}

    def weights(self, out):
        return self.mean_of_others(None, out.logits)[1]


class CLILR(DML):
    name = "cl-ilr"

    def __init__(self, branches: int, **kw):
        kw.pop("target", None)
        super().__init__(branches, target="mean-logits", **kw)

    @staticmethod
    def trunk_grad_scale(branches: int) -> float:
        return 1.0 / branches
