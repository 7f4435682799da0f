r"""OKDDip: two-level online distillation with diverse peers (Chen et al., AAAI 2020).

n = m + 1 branches: m auxiliary peers (branches 0..m-1) and one group leader (branch m).

First level: each peer a gets its own target from the attention aggregator (see
:mod:`okddip_edu.aggregation`): t_a = sum_b alpha_ab z_b, with the softmax over b = 1..m.
Second level: the leader learns from the peer ensemble, the mean of the peers' logits.

    L_gt   = sum_a CE(z_a, y) + CE(z_leader, y)
    L_dis1 = sum_a KL_T(t_a -> z_a)
    L_dis2 = KL_T((1/m) sum_a z_a -> z_leader)
    L      = L_gt + λ w(e) (L_dis1 + L_dis2)      λ: the config field ``alpha``

By default nothing is detached (the released code): the gradient of L_dis1 flows through
t_a into the other peers and into W_q, W_k, which is how the attention learns at all.

Ablation switches: ``aggregation`` (attention | mean | gate | none), ``second_level``,
``mask_diagonal``, ``aggregate`` (logits | probs), ``detach``.

``leader_in_peers`` reproduces the released DenseNet code, whose attention runs over all n
branches: the leader then gives attention (its logits join every peer's target) and joins
the ensemble that teaches it, L_dis2 = KL_T((1/n) sum_b z_b -> z_leader); it still receives
no first-level target. (The released code feeds that peer column through the leader's
final BN + ReLU, which the leader's own output skips; here both are the leader's logits.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..aggregation import Attention, Gate, UniformMean
from ..losses import kd_loss, kd_loss_probs
from .base import Method


class OKDDip(Method):
    name = "okddip"

    def __init__(self, branches: int, feature_dim: int, trunk_dim: int | None = None,
                 aggregation: str = "attention", second_level: bool = True,
                 mask_diagonal: bool = False, aggregate: str = "logits",
                 attention_factor: int = 8, leader_in_peers: bool = False, **kw):
        super().__init__(branches, **kw)
        if branches < 3:
            raise ValueError(f"branches={branches} is not valid for OKDDip; it needs a leader "
                             "and at least 2 peers (branches >= 3)")
        if aggregate not in ("logits", "probs"):
            raise ValueError(f"aggregate={aggregate!r} is not valid; choose logits or probs")
        self.m = branches - 1  # auxiliary peers
        self.k = branches if leader_in_peers else self.m  # branches in the peer set
        self.aggregation = aggregation
        self.second_level = second_level
        self.aggregate = aggregate
        if aggregation == "attention":
            self.aggregator = Attention(feature_dim, attention_factor, mask_diagonal)
        elif aggregation == "mean":
            self.aggregator = UniformMean(exclude_self=mask_diagonal)
        elif aggregation == "gate":
            if trunk_dim is None:
                raise ValueError("aggregation='gate' needs trunk_dim")
            self.aggregator = Gate(trunk_dim, self.k)
        elif aggregation == "none":
            self.aggregator = None
        else:
            raise ValueError(f"aggregation={aggregation!r} is not valid; choose one of: "
                             "attention, mean, gate, none")

    @property
    def leader(self) -> int:
        return self.m

    @property
    def peers(self) -> list[int]:
        return list(range(self.k))

    def _aggregate(self, out) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Targets (B, k, C) and weights for the k branches of the peer set (k = m, or n
        with ``leader_in_peers``), or None without a first level."""
        if self.aggregator is None:
            return None
        peer_logits = out.logits[:, : self.k]  # (B, k, C)
        values = peer_logits
        if self.aggregate == "probs":  # mix softened probabilities instead of logits
            values = F.softmax(peer_logits.float() / self.temperature, dim=-1)
        if isinstance(self.aggregator, Gate):
            return self.aggregator(out.trunk, values)
        return self.aggregator(out.features[:, : self.k], values)

    def weights(self, out):
        agg = self._aggregate(out)
        return None if agg is None else agg[1]

    def _kd(self, student, target):
        if self.aggregate == "probs":
            return kd_loss_probs(student, target, self.temperature, self.detach)
        return kd_loss(student, target, self.temperature, self.detach)

    def forward(self, out, y, epoch, x=None):
        T, m, k = self.temperature, self.m, self.k
        logits = out.logits  # (B, n, C)
        ce = self.cross_entropy(logits, y)  # L_gt: all m peers and the leader
        zero = ce.new_zeros(())
        agg = self._aggregate(out)
        dis1 = zero
        if agg is not None:
            targets, _ = agg  # (B, k, C); the leader (column m, if any) gets no target
            dis1 = sum(self._kd(logits[:, a], targets[:, a]) for a in range(m))
        dis2 = zero
        if self.second_level:
            if self.aggregate == "probs":
                ensemble = F.softmax(logits[:, :k].float() / T, dim=-1).mean(dim=1)  # (B, C)
            else:
                ensemble = logits[:, :k].mean(dim=1)  # (B, C)
            dis2 = self._kd(logits[:, m], ensemble)
        w = self.weight(epoch)
        return {"ce": ce, "dis1": dis1, "dis2": dis2, "total": ce + w * (dis1 + dis2)}
