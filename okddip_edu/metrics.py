r"""Metrics: accuracy of every branch, the leader and the ensemble; peer diversity; attention.

Accuracy (top-1 and top-5) is reported for

- each branch ``b0 .. b{n-1}``;
- the **leader**: the branch deployed at test time (OKDDip's group leader; a single network
  itself). Methods without a leader (independent, DML, CL-ILR, ONE) have no such branch:
  their ``leader`` column holds the **mean single-branch accuracy**, the expected accuracy of
  deploying one of their peers, so every method has one comparable "one network" number;
- the **ensemble**: the mean of the peers' logits (OKDDip: the m auxiliary peers).

Diversity of the m peers, with p_a = softmax(z_a) at T = 1, averaged over samples:

- ``div_l2``: the released code's statistic, sum_{a<b} ||p_a - p_b||_2 / (m(m-1)/2)
  (the released code divides by 3, i.e. assumes 3 peers; we divide by the number of pairs);
- ``div_disagree``: the fraction of peer pairs whose top-1 predictions differ;
- ``div_kl``: mean KL(p_a || p_b) over ordered pairs a != b;
- ``div_js``: mean Jensen-Shannon divergence over pairs (symmetric, at most log 2);
- ``ens_gain``: ensemble top-1 minus the mean top-1 of the peers (percentage points).

Aggregation weights: for an attention matrix (B, m, m) the mean matrix ``att_a{i}_b{j}``, its
mean diagonal ``att_diag`` (peers copying themselves) and mean row entropy ``att_entropy``;
for a gate (B, n) the mean weight ``gate_{i}`` and its entropy. DML and CL-ILR log their fixed
mean-of-the-others matrix the same way (n x n, diagonal 0), so their ``att_*`` columns are
constant by construction; only OKDDip's attention is learned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F


def topk_correct(logits: torch.Tensor, y: torch.Tensor, ks: tuple[int, ...] = (1, 5)
                 ) -> list[torch.Tensor]:
    """Number of samples whose label is in the top-k, for each k. logits (B, C), y (B,)."""
    kmax = min(max(ks), logits.shape[-1])
    top = logits.topk(kmax, dim=-1).indices  # (B, kmax)
    hit = top == y.unsqueeze(-1)  # (B, kmax)
    return [hit[:, : min(k, kmax)].any(dim=-1).sum() for k in ks]


def accuracy(logits: torch.Tensor, y: torch.Tensor, k: int = 1) -> float:
    """Top-k accuracy in percent."""
    return 100.0 * topk_correct(logits, y, (k,))[0].item() / max(len(y), 1)


def pairwise_diversity(probs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Sums over the batch of the diversity statistics of m peers' probabilities (B, m, C)."""
    B, m, C = probs.shape
    a, b = torch.triu_indices(m, m, offset=1, device=probs.device)  # the m(m-1)/2 pairs
    pa, pb = probs[:, a], probs[:, b]  # (B, P, C)
    l2 = (pa - pb).norm(dim=-1).mean(dim=1)  # (B,)  mean pairwise distance
    top = probs.argmax(dim=-1)  # (B, m)
    disagree = (top[:, a] != top[:, b]).float().mean(dim=1)  # (B,)
    logp = probs.clamp_min(1e-12).log()
    kl_ab = (pa * (logp[:, a] - logp[:, b])).sum(-1)  # (B, P)
    kl_ba = (pb * (logp[:, b] - logp[:, a])).sum(-1)  # (B, P)
    kl = 0.5 * (kl_ab + kl_ba).mean(dim=1)  # (B,) mean over ordered pairs
    mid = (0.5 * (pa + pb)).clamp_min(1e-12).log()
    js = 0.5 * ((pa * (logp[:, a] - mid)).sum(-1) + (pb * (logp[:, b] - mid)).sum(-1))
    return {"div_l2": l2.sum(), "div_disagree": disagree.sum(), "div_kl": kl.sum(),
            "div_js": js.mean(dim=1).sum()}


def attention_stats(weights: torch.Tensor) -> dict[str, float]:
    """Summary of aggregation weights averaged over a set: (N, m, m) attention or (N, n) gate."""
    out: dict[str, float] = {}
    if weights.dim() == 3:
        mean = weights.float().mean(dim=0)  # (m, m)
        for i in range(mean.shape[0]):
            for j in range(mean.shape[1]):
                out[f"att_a{i}_b{j}"] = mean[i, j].item()
        out["att_diag"] = mean.diagonal().mean().item()
        ent = -(weights.float().clamp_min(1e-12).log() * weights.float()).sum(-1)  # (N, m)
        out["att_entropy"] = ent.mean().item()
    elif weights.dim() == 2:
        mean = weights.float().mean(dim=0)  # (n,)
        for i, v in enumerate(mean.tolist()):
            out[f"gate_{i}"] = v
        ent = -(weights.float().clamp_min(1e-12).log() * weights.float()).sum(-1)
        out["gate_entropy"] = ent.mean().item()
    return out


@dataclass
class Evaluator:
    """Accumulates every metric over batches of one evaluation pass.

    >>> ev = Evaluator(peers=[0, 1, 2], leader=3)
    >>> for x, y in batches: ev.update(model(x), y, method.weights(out))
    >>> ev.result()   # {"top1_b0": ..., "top1_leader": ..., "div_l2": ..., "att_diag": ...}
    """

    peers: list[int]  # branches forming the peer ensemble
    leader: int | None  # the deployed branch; None: mean over branches
    diversity: list[int] | None = None  # branches whose diversity is measured; None: peers
    count: int = 0
    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    weight_chunks: list[torch.Tensor] = field(default_factory=list)

    def _add(self, key: str, value: torch.Tensor) -> None:
        self.sums[key] = self.sums.get(key, 0) + value.detach().float()

    @torch.no_grad()
    def update(self, logits: torch.Tensor, y: torch.Tensor,
               weights: torch.Tensor | None = None) -> None:
        logits = logits.float()  # (B, n, C)
        B, n, _ = logits.shape
        self.count += B
        for i in range(n):
            t1, t5 = topk_correct(logits[:, i], y)
            self._add(f"top1_b{i}", t1)
            self._add(f"top5_b{i}", t5)
        peer_logits = logits[:, self.peers]  # (B, m, C)
        t1, t5 = topk_correct(peer_logits.mean(dim=1), y)
        self._add("top1_ens", t1)
        self._add("top5_ens", t5)
        diverse = logits[:, self.diversity] if self.diversity is not None else peer_logits
        if diverse.shape[1] > 1:
            for k, v in pairwise_diversity(F.softmax(diverse, dim=-1)).items():
                self._add(k, v)
        if weights is not None:
            self.weight_chunks.append(weights.detach().float().cpu())

    def result(self) -> dict[str, float]:
        N = max(self.count, 1)
        r = {k: v.item() / N for k, v in self.sums.items()}
        for k in list(r):
            if k.startswith("top"):
                r[k] *= 100.0
        branches = sorted({int(k[len("top1_b"):]) for k in r if k.startswith("top1_b")})
        for k in ("top1", "top5"):
            if self.leader is not None:
                r[f"{k}_leader"] = r[f"{k}_b{self.leader}"]
            else:
                r[f"{k}_leader"] = sum(r[f"{k}_b{i}"] for i in branches) / len(branches)
            r[f"{k}_peer_mean"] = sum(r[f"{k}_b{i}"] for i in self.peers) / len(self.peers)
            r[f"{k}_peer_best"] = max(r[f"{k}_b{i}"] for i in self.peers)
        r["ens_gain"] = r["top1_ens"] - r["top1_peer_mean"]
        for k in ("div_l2", "div_disagree", "div_kl", "div_js"):
            r.setdefault(k, math.nan)
        if self.weight_chunks:
            r.update(attention_stats(torch.cat(self.weight_chunks)))
        return r
