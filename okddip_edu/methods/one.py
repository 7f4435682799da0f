r"""ONE (Lan et al. 2018): a gated ensemble of the branches teaches every branch.

    g = softmax(ReLU(BN(Linear(GAP(trunk feature)))))           (B, n)
    z_e = sum_i g_i z_i                                          the gated teacher
    L = sum_i CE(z_i, y) + CE(z_e, y) + λ w(e) sum_i KL_T(z_e -> z_i)
                                                 λ: the config field ``alpha``

ONE's own code detaches the teacher in the KL term; the OKDDip code does not. Our default
follows the OKDDip code (``detach=False``); set ``detach=True`` for ONE's own form.
"""

from __future__ import annotations

import torch.nn.functional as F

from ..aggregation import Gate
from ..losses import kd_loss
from .base import Method


class ONE(Method):
    name = "one"

    def __init__(self, branches: int, trunk_dim: int, **kw):
        super().__init__(branches, **kw)
        self.gate = Gate(trunk_dim, branches)

    def forward(self, out, y, epoch, x=None):
        targets, _ = self.gate(out.trunk, out.logits)  # (B, n, C), the same row for all
        teacher = targets[:, 0]  # (B, C)
        ce = self.cross_entropy(out.logits, y)
        ce_teacher = F.cross_entropy(teacher.float(), y)
        kd = sum(kd_loss(out.logits[:, i], teacher, self.temperature, self.detach)
                 for i in range(self.branches))
        w = self.weight(epoch)
        return {"ce": ce, "ce_teacher": ce_teacher, "kd": kd,
                "total": ce + ce_teacher + w * kd}

    def weights(self, out):
        return self.gate(out.trunk, out.logits)[1]
