"""Aggregators against the spec (section 3 and ONE's gate in section 7), by hand.

    q_a = W_q h_a,  k_b = W_k h_b         W_q, W_k: Linear d -> d/8, no bias
    e_ab = q_a . k_b                      plain dot product, NO 1/sqrt(d) scaling
    alpha_ab = softmax_b(e_ab)            over the m peers, b = a included
    t_a = sum_b alpha_ab z_b              a weighted sum of peer LOGITS
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from okddip_edu.aggregation import Attention, Gate, UniformMean

B, M, D, C = 6, 4, 32, 10


def make_inputs(seed: int = 0, scale: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    features = scale * torch.randn(B, M, D, generator=g)  # (B, m, d)
    logits = 2.0 * torch.randn(B, M, C, generator=g)  # (B, m, C)
    return features, logits


def make_attention(mask_diagonal: bool = False, seed: int = 0) -> Attention:
    torch.manual_seed(seed)
    return Attention(D, 8, mask_diagonal=mask_diagonal)


def softmax_by_hand(e: torch.Tensor) -> torch.Tensor:
    ex = (e - e.max(dim=-1, keepdim=True).values).exp()
    return ex / ex.sum(dim=-1, keepdim=True)


def attention_by_hand(att: Attention, features: torch.Tensor, scale: float = 1.0,
                      mask_diagonal: bool = False) -> torch.Tensor:
    """alpha (B, m, m) from explicit loops over samples and peer pairs."""
    Wq = att.query.weight.detach().double()  # (d/8, d)
    Wk = att.key.weight.detach().double()
    h = features.double()
    Bn, m, _ = h.shape
    e = torch.empty(Bn, m, m, dtype=torch.float64)
    for i in range(Bn):
        for a in range(m):
            for b in range(m):
                q_a = Wq @ h[i, a]
                k_b = Wk @ h[i, b]
                e[i, a, b] = scale * torch.dot(q_a, k_b)
    if mask_diagonal:
        e = e.masked_fill(torch.eye(m, dtype=torch.bool), float("-inf"))
    return softmax_by_hand(e)


# Attention -------------------------------------------------------------------------------
@pytest.mark.parametrize("dim,factor", [(32, 8), (64, 8), (16, 4)])
def test_projections_are_bias_free_linears_of_size_dim_over_factor(dim, factor):
    att = Attention(dim, factor)
    for proj in (att.query, att.key):
        assert isinstance(proj, nn.Linear)
        assert proj.bias is None
        assert tuple(proj.weight.shape) == (dim // factor, dim)
    assert sum(p.numel() for p in att.parameters()) == 2 * dim * (dim // factor)


def test_default_factor_is_8():
    att = Attention(64)
    assert tuple(att.query.weight.shape) == (8, 64)


def test_too_small_dim_is_rejected():
    with pytest.raises(ValueError):
        Attention(4, 8)


def test_attention_shapes_and_rows_sum_to_one():
    features, logits = make_inputs()
    targets, weights = make_attention()(features, logits)
    assert tuple(targets.shape) == (B, M, C)
    assert tuple(weights.shape) == (B, M, M)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(B, M))
    assert (weights >= 0).all()


def test_attention_equals_hand_softmax_without_sqrt_d_scaling():
    features, logits = make_inputs()
    att = make_attention()
    _, weights = att(features, logits)
    expected = attention_by_hand(att, features)
    torch.testing.assert_close(weights.double(), expected, rtol=1e-5, atol=1e-6)
    # a scaled dot product (1/sqrt(d/8) or 1/sqrt(d)) is a different number here
    for d in (D // 8, D):
        scaled = attention_by_hand(att, features, scale=1.0 / math.sqrt(d))
        assert (weights.double() - scaled).abs().max().item() > 1e-2


def test_targets_are_attention_weighted_peer_logits():
    features, logits = make_inputs()
    att = make_attention()
    targets, weights = att(features, logits)
    alpha = attention_by_hand(att, features)
    expected = torch.zeros(B, M, C, dtype=torch.float64)
    for a in range(M):
        for b in range(M):
            expected[:, a] += alpha[:, a, b, None] * logits[:, b].double()
    torch.testing.assert_close(targets.double(), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(targets, weights @ logits)


def test_attention_keeps_the_last_weights_detached():
    features, logits = make_inputs()
    att = make_attention()
    _, weights = att(features, logits)
    assert att.attn is not None and not att.attn.requires_grad
    torch.testing.assert_close(att.attn, weights.detach())


def test_attention_is_equivariant_to_permuting_the_peers():
    """Relabelling the peers relabels rows and columns: W -> P W P^T, t -> P t."""
    features, logits = make_inputs()
    att = make_attention()
    targets, weights = att(features, logits)
    perm = torch.tensor([2, 0, 3, 1])
    targets_p, weights_p = att(features[:, perm], logits[:, perm])
    torch.testing.assert_close(targets_p, targets[:, perm], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(weights_p, weights[:, perm][:, :, perm], rtol=1e-5, atol=1e-6)
    P = torch.eye(M)[perm]  # (P x)_i = x_perm[i]
    torch.testing.assert_close(weights_p, P @ weights @ P.T, rtol=1e-5, atol=1e-6)


def test_attention_depends_on_features_not_logits():
    features, logits = make_inputs()
    att = make_attention()
    _, w1 = att(features, logits)
    _, w2 = att(features, logits + torch.randn_like(logits))
    torch.testing.assert_close(w1, w2)


def test_mask_diagonal_excludes_the_peer_itself():
    features, logits = make_inputs()
    att = make_attention(mask_diagonal=True)
    targets, weights = att(features, logits)
    diag = weights.diagonal(dim1=1, dim2=2)
    assert (diag == 0).all()
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(B, M))
    expected = attention_by_hand(att, features, mask_diagonal=True)
    torch.testing.assert_close(weights.double(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(targets, weights @ logits)
    # without the mask the peer's own weight is used (and the weights differ)
    _, unmasked = make_attention(mask_diagonal=False)(features, logits)
    assert unmasked.diagonal(dim1=1, dim2=2).min().item() > 0


def test_attention_gradient_reaches_both_projections():
    features, logits = make_inputs()
    att = make_attention()
    targets, _ = att(features, logits)
    (targets * torch.randn_like(targets)).sum().backward()
    assert att.query.weight.grad.abs().sum().item() > 0
    assert att.key.weight.grad.abs().sum().item() > 0


# Uniform mean ----------------------------------------------------------------------------
def test_uniform_mean_excluding_self_is_the_mean_of_the_others():
    _, logits = make_inputs()
    targets, weights = UniformMean(exclude_self=True)(None, logits)
    for a in range(M):
        others = [b for b in range(M) if b != a]
        expected = sum(logits[:, b] for b in others) / (M - 1)
        torch.testing.assert_close(targets[:, a], expected)
    assert tuple(weights.shape) == (B, M, M)
    assert (weights.diagonal(dim1=1, dim2=2) == 0).all()
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(B, M))


def test_uniform_mean_including_self_is_the_mean_of_all():
    _, logits = make_inputs()
    targets, weights = UniformMean(exclude_self=False)(None, logits)
    expected = sum(logits[:, b] for b in range(M)) / M
    for a in range(M):
        torch.testing.assert_close(targets[:, a], expected)
    torch.testing.assert_close(weights, torch.full((B, M, M), 1.0 / M))


def test_uniform_mean_excluding_self_needs_two_peers():
    with pytest.raises(ValueError):
        UniformMean(exclude_self=True)(None, torch.randn(B, 1, C))


# ONE's gate ------------------------------------------------------------------------------
def test_gate_weights_sum_to_one_and_teacher_is_the_gated_sum():
    torch.manual_seed(0)
    trunk_dim, n = 8, 4
    gate = Gate(trunk_dim, n).train()
    trunk = torch.randn(B, trunk_dim)
    logits = torch.randn(B, n, C)
    targets, g = gate(trunk, logits)
    assert tuple(g.shape) == (B, n)
    torch.testing.assert_close(g.sum(dim=-1), torch.ones(B))
    teacher = sum(g[:, i, None] * logits[:, i] for i in range(n))
    assert tuple(targets.shape) == (B, n, C)
    for i in range(n):  # one teacher, the same for every branch
        torch.testing.assert_close(targets[:, i], teacher)


def test_gate_is_softmax_relu_bn_linear_by_hand():
    torch.manual_seed(1)
    trunk_dim, n = 8, 3
    gate = Gate(trunk_dim, n).train()
    with torch.no_grad():  # non-trivial BN affine parameters
        gate.bn.weight.uniform_(0.5, 2.0)
        gate.bn.bias.uniform_(-0.5, 0.5)
    trunk = torch.randn(B, trunk_dim)
    _, g = gate(trunk, torch.randn(B, n, C))
    u = trunk @ gate.linear.weight.T + gate.linear.bias  # (B, n)
    mu, var = u.mean(dim=0), u.var(dim=0, unbiased=False)  # training-mode batch statistics
    v = (u - mu) / torch.sqrt(var + gate.bn.eps) * gate.bn.weight + gate.bn.bias
    expected = softmax_by_hand(v.clamp_min(0))
    torch.testing.assert_close(g, expected, rtol=1e-5, atol=1e-6)
