r"""Classic knowledge distillation (Hinton et al. 2015) from a frozen, pretrained teacher.

    L = CE(z_s, y) + λ KL_T(z_teacher -> z_s)          λ: the config field ``alpha``

as the released ``train_kd.py`` (no ramp-up; ``ramp=True`` multiplies the KL term by w(e)).

The teacher is any trained run of this package (its run directory); its prediction is its
leader's logits, or the mean of its branches' logits when it has no leader.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import kd_loss
from .base import Method


class KD(Method):
    name = "kd"

    def __init__(self, branches: int, teacher: nn.Module, teacher_leader: int | None = None,
                 **kw):
        super().__init__(branches, **kw)
        self.teacher = teacher.eval().requires_grad_(False)
        self.teacher_leader = teacher_leader

    @property
    def leader(self) -> int:
        return 0

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # the teacher stays frozen, BatchNorm statistics included
        return self

    @torch.no_grad()
    def teacher_logits(self, x: torch.Tensor) -> torch.Tensor:
        z = self.teacher(x).logits  # (B, n_t, C)
        return z[:, self.teacher_leader] if self.teacher_leader is not None else z.mean(dim=1)

    def forward(self, out, y, epoch, x=None):
        if x is None:
            raise ValueError("the kd method needs the input batch x to query its teacher")
        student = out.logits[:, 0]  # (B, C)
        ce = F.cross_entropy(student.float(), y)
        kd = kd_loss(student, self.teacher_logits(x), self.temperature)
        return {"ce": ce, "kd": kd, "total": ce + self.weight(epoch) * kd}
