r"""Aggregation: how a group of peers turns its predictions into teaching targets.

Every aggregator maps the peers' features ``h`` (B, m, d) and logits ``z`` (B, m, C) to

    targets (B, m, C): one target per peer,   weights: how the target was mixed,

so notebooks can plot the weights. Three aggregators:

**OKDDip attention** (first level). Each peer a gets its own weighted mix of all peers:

    q_a = W_q h_a,   k_b = W_k h_b                   W_q, W_k: d -> d/8, no bias, shared
    e_ab = q_a . k_b                                 plain dot product, no 1/sqrt(d) scaling
    alpha_ab = exp(e_ab) / sum_b' exp(e_ab')         softmax over b = 1..m, b = a included
    t_a = sum_b alpha_ab z_b

Weights (B, m, m): row a holds peer a's weights over the m peers, and rows sum to 1. With
``mask_diagonal=True`` the peer itself is excluded (alpha_aa = 0).

**Uniform mean**: t_a = (1/m) sum_b z_b (``exclude_self=False``, every peer the same target),
or t_a = (1/(m-1)) sum_{b != a} z_b (``exclude_self=True``: DML's and CL-ILR's target).

**ONE's gate**: g = softmax(ReLU(BN(Linear(GAP(trunk feature))))) in R^n, one teacher
z_e = sum_i g_i z_i for every branch. Weights (B, n).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """OKDDip's attention-based aggregation (the first level)."""

    def __init__(self, dim: int, factor: int = 8, mask_diagonal: bool = False):
        super().__init__()
        if not isinstance(factor, int) or isinstance(factor, bool) or not 1 <= factor <= dim:
            raise ValueError(f"attention_factor={factor!r} is not valid for this network's "
                             f"feature size d={dim}: W_q, W_k project d -> d / factor, so it "
                             f"must be an integer in 1..{dim}")
        self.query = nn.Linear(dim, dim // factor, bias=False)  # W_q
        self.key = nn.Linear(dim, dim // factor, bias=False)  # W_k
        self.mask_diagonal = mask_diagonal
        self.attn: torch.Tensor | None = None  # the last weights, kept for logging

    def forward(self, features: torch.Tensor, logits: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        q = self.query(features)  # (B, m, d/8)
        k = self.key(features)  # (B, m, d/8)
        scores = q @ k.transpose(1, 2)  # (B, m, m)   e_ab = q_a . k_b
        if self.mask_diagonal:
            m = scores.shape[-1]
            eye = torch.eye(m, dtype=torch.bool, device=scores.device)
            scores = scores.masked_fill(eye, float("-inf"))
        weights = F.softmax(scores.float(), dim=-1)  # (B, m, m)   rows sum to 1
        targets = weights.to(logits.dtype) @ logits  # (B, m, C)   t_a = sum_b alpha_ab z_b
        self.attn = weights.detach()
        return targets, weights


class UniformMean(nn.Module):
    """The uniform mean of the peers, optionally excluding each peer from its own target."""

    def __init__(self, exclude_self: bool = False):
        super().__init__()
        self.exclude_self = exclude_self

    def forward(self, features: torch.Tensor | None, logits: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        B, m, _ = logits.shape
        if self.exclude_self and m < 2:
            raise ValueError("the mean of the other peers needs at least 2 peers")
        w = torch.ones(m, m, device=logits.device, dtype=torch.float32)
        if self.exclude_self:
            w.fill_diagonal_(0.0)
        w = w / w.sum(dim=1, keepdim=True)  # (m, m)  rows sum to 1
        weights = w.expand(B, m, m)  # (B, m, m)
        targets = weights.to(logits.dtype) @ logits  # (B, m, C)
        return targets, weights


class Gate(nn.Module):
    """ONE's gate: g = softmax(ReLU(BN(Linear(h_trunk)))) in R^n."""

    def __init__(self, trunk_dim: int, branches: int):
        super().__init__()
        self.linear = nn.Linear(trunk_dim, branches)
        self.bn = nn.BatchNorm1d(branches)
        self.gate: torch.Tensor | None = None  # the last weights, kept for logging

    def forward(self, trunk: torch.Tensor, logits: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        g = F.softmax(F.relu(self.bn(self.linear(trunk.float()))), dim=-1)  # (B, n)
        teacher = (g.unsqueeze(-1).to(logits.dtype) * logits).sum(dim=1)  # (B, C)
        n = logits.shape[1]
        targets = teacher.unsqueeze(1).expand(-1, n, -1)  # (B, n, C)  the same for all
        self.gate = g.detach()
        return targets, g
