r"""What every online-distillation method is: a module from model output to named losses.

    terms = method(out, y, epoch)     # {"ce": ..., "kd": ..., "total": ...}

- ``out`` is a :class:`~okddip_edu.models.GroupOutput`: features (B, n, d), logits (B, n, C)
  and the pooled trunk feature (B, d0).
- Every term is a scalar tensor; ``total`` is the one to minimise. Notebooks and the history
  show the others.
- A method may own parameters (OKDDip's W_q and W_k, ONE's gate); the engine optimises them
  with the model's.
- ``leader`` is the branch deployed at test time (None: no leader, every branch is a peer)
  and ``peers`` the branches whose mean logits form the peer ensemble.
- ``weights(out)`` returns the aggregation weights (attention (B, m, m) or gate (B, n)) so
  the engine can log them, or None.

Every distillation term is scaled by λ w(epoch), λ being the config field ``alpha`` (α is
kept for OKDDip's attention weights α_ab), when ``ramp`` is on (the ramp-up of the released
OKDDip, ONE, CL-ILR and independent scripts) and by λ alone when it is off (the released
DML and KD scripts: ``config.UNRAMPED``). Every target can be detached (``detach=True``;
the released code detaches nothing).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import UNRAMPED
from ..losses import ramp_up
from ..models import GroupOutput


class Method(nn.Module):
    name = "method"

    def __init__(self, branches: int, temperature: float = 3.0, alpha: float = 1.0,
                 rampup: int = 80, detach: bool = False, ramp: bool | None = None):
        super().__init__()
        self.branches = branches  # n: branches in the model
        self.temperature = temperature  # T
        self.alpha = alpha  # weight of the distillation terms
        self.rampup = rampup  # L of the ramp-up
        self.detach = detach  # stop-gradient on targets
        self.ramp = self.name not in UNRAMPED if ramp is None else ramp  # scale by w(e)?
        self.diversity_branches: list[int] | None = None  # None: the peers (see metrics)

    # Roles -----------------------------------------------------------------------------
    @property
    def leader(self) -> int | None:
        return None

    @property
    def peers(self) -> list[int]:
        return list(range(self.branches))

    @staticmethod
    def trunk_grad_scale(branches: int) -> float:
        """Factor applied to the gradient at the trunk/branch split (CL-ILR: 1/n)."""
        return 1.0

    # Helpers ---------------------------------------------------------------------------
    def weight(self, epoch: int) -> float:
        """λ w(epoch) (λ = ``self.alpha``; λ alone without the ramp): the distillation
        weight now."""
        return self.alpha * (ramp_up(epoch, self.rampup) if self.ramp else 1.0)

    @staticmethod
    def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """sum_i CE(z_i, y) over the branches of ``logits`` (B, n, C)."""
        B, n, C = logits.shape
        per_sample = F.cross_entropy(logits.float().reshape(B * n, C), y.repeat_interleave(n),
                                     reduction="none")  # (B*n,)
        return per_sample.view(B, n).mean(dim=0).sum()

    def weights(self, out: GroupOutput) -> torch.Tensor | None:
        return None

    def forward(self, out: GroupOutput, y: torch.Tensor, epoch: int,
                x: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError
