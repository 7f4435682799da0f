"""Distillation losses against the spec (section 4), written out by hand.

    KL_T(teacher -> student) = T^2 * (1/B) sum_i sum_c p_t (log p_t - log p_s),
    p = softmax(z / T)                                    ("batchmean", not the elementwise mean)
    w(e) = exp(-5 (1 - min(e, L)/L)^2),  L = 80           (the ramp-up)

The reference formulas below use plain tensor operations only (no ``F.kl_div``), so a
mistake in the library cannot be copied into the expected value.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from okddip_edu.losses import kd_loss, kd_loss_probs, ramp_up


def log_softmax_by_hand(z: torch.Tensor) -> torch.Tensor:
    """log p = z - log sum_c exp(z_c), stabilised by the row maximum."""
    zmax = z.max(dim=-1, keepdim=True).values
    return z - zmax - (z - zmax).exp().sum(dim=-1, keepdim=True).log()


def kl_by_hand(student: torch.Tensor, teacher: torch.Tensor, T: float) -> torch.Tensor:
    """(1/B) sum_i sum_c p_t (log p_t - log p_s) at temperature T, WITHOUT the T^2 factor."""
    log_ps = log_softmax_by_hand(student.double() / T)
    log_pt = log_softmax_by_hand(teacher.double() / T)
    per_sample = (log_pt.exp() * (log_pt - log_ps)).sum(dim=-1)  # (B,)
    return per_sample.sum() / student.shape[0]


def kd_by_hand(student: torch.Tensor, teacher: torch.Tensor, T: float) -> torch.Tensor:
    return T * T * kl_by_hand(student, teacher, T)


def logits(B: int, C: int, seed: int, scale: float = 2.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(B, C, generator=g)


# kd_loss ----------------------------------------------------------------------------------
@pytest.mark.parametrize("T", [1.0, 3.0, 4.5])
@pytest.mark.parametrize("B,C", [(1, 2), (8, 10), (5, 100)])
def test_kd_loss_equals_hand_formula(T, B, C):
    s, t = logits(B, C, 0), logits(B, C, 1)
    got = kd_loss(s, t, T)
    assert got.dim() == 0
    assert got.item() == pytest.approx(kd_by_hand(s, t, T).item(), rel=1e-5, abs=1e-7)


def test_kd_loss_direction_is_teacher_to_student():
    """KL(p_t || p_s), not KL(p_s || p_t): the two differ for asymmetric inputs."""
    s, t = logits(8, 10, 2), logits(8, 10, 3, scale=4.0)
    got = kd_loss(s, t, 3.0).item()
    assert got == pytest.approx(kd_by_hand(s, t, 3.0).item(), rel=1e-5)
    assert got != pytest.approx(kd_by_hand(t, s, 3.0).item(), rel=1e-3)


def test_kd_loss_is_zero_for_identical_inputs():
    z = logits(8, 10, 4)
    assert kd_loss(z, z.clone(), 3.0).item() == pytest.approx(0.0, abs=1e-6)
    # a constant shift of the logits leaves the softmax unchanged
    assert kd_loss(z, z + 5.0, 3.0).item() == pytest.approx(0.0, abs=1e-5)


def test_kd_loss_is_positive_for_different_inputs():
    assert kd_loss(logits(8, 10, 5), logits(8, 10, 6), 3.0).item() > 1e-3


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")
@pytest.mark.parametrize("C", [10, 100])
def test_batchmean_is_c_times_the_elementwise_mean_mistake(C):
    """F.kl_div(..., reduction="mean") divides by B*C instead of B: C times too small."""
    T = 3.0
    s, t = logits(16, C, 7), logits(16, C, 8)
    log_ps, log_pt = F.log_softmax(s / T, dim=-1), F.log_softmax(t / T, dim=-1)
    mistake = F.kl_div(log_ps, log_pt, reduction="mean", log_target=True) * T * T
    right = kd_by_hand(s, t, T)
    elementwise = T * T * (log_pt.exp() * (log_pt - log_ps)).mean()  # / (B*C), by hand
    assert mistake.item() == pytest.approx(elementwise.item(), rel=1e-5)
    assert (right / mistake.double()).item() == pytest.approx(C, rel=1e-4)
    got = kd_loss(s, t, T).item()
    assert got == pytest.approx(right.item(), rel=1e-5)
    assert got != pytest.approx(mistake.item(), rel=0.5)  # tells the two apart


@pytest.mark.parametrize("T", [1.0, 2.0, 3.0, 8.0])
def test_kd_loss_is_t_squared_times_the_softened_kl(T):
    s, t = logits(8, 10, 9), logits(8, 10, 10)
    kl = kl_by_hand(s, t, T).item()
    assert kd_loss(s, t, T).item() == pytest.approx(T * T * kl, rel=1e-5)
    if T != 1.0:
        assert kd_loss(s, t, T).item() != pytest.approx(kl, rel=1e-2)


def test_t_squared_keeps_the_student_gradient_on_scale():
    """With T^2 the gradient w.r.t. the student logits stays ~constant in T (large T);
    without T^2 it shrinks as 1/T^2: doubling T divides it by ~4."""
    s0, t = logits(8, 10, 11, scale=0.5), logits(8, 10, 12, scale=0.5)

    def grad_norm(T: float, scaled: bool) -> float:
        s = s0.clone().requires_grad_(True)
        loss = kd_loss(s, t, T)
        if not scaled:
            loss = loss / (T * T)
        (g,) = torch.autograd.grad(loss, s)
        return g.norm().item()

    assert grad_norm(5.0, True) / grad_norm(10.0, True) == pytest.approx(1.0, rel=0.05)
    assert grad_norm(5.0, False) / grad_norm(10.0, False) == pytest.approx(4.0, rel=0.05)


def test_detach_stops_the_gradient_to_the_teacher_only():
    s0, t0 = logits(8, 10, 13), logits(8, 10, 14)

    s, t = s0.clone().requires_grad_(True), t0.clone().requires_grad_(True)
    kd_loss(s, t, 3.0).backward()  # default: no stop-gradient (the released code)
    assert t.grad is not None and t.grad.abs().sum().item() > 0
    assert s.grad is not None and s.grad.abs().sum().item() > 0

    s, t = s0.clone().requires_grad_(True), t0.clone().requires_grad_(True)
    kd_loss(s, t, 3.0, detach=True).backward()
    assert t.grad is None or t.grad.abs().sum().item() == 0
    assert s.grad is not None and s.grad.abs().sum().item() > 0


def test_student_gradient_is_t_times_the_probability_gap():
    """d/dz_s of T^2 KL(p_t || p_s) averaged over B is T (p_s - p_t) / B."""
    T, B = 3.0, 8
    s, t = logits(B, 10, 15).requires_grad_(True), logits(B, 10, 16)
    kd_loss(s, t, T).backward()
    expected = T * (torch.softmax(s.detach() / T, -1) - torch.softmax(t / T, -1)) / B
    torch.testing.assert_close(s.grad, expected, rtol=1e-4, atol=1e-6)


def test_kd_loss_rejects_bad_arguments():
    s = logits(4, 10, 17)
    with pytest.raises(ValueError):
        kd_loss(s, s, 0.0)
    with pytest.raises(ValueError):
        kd_loss(s, logits(4, 11, 18), 3.0)


def test_kd_loss_probs_matches_kd_loss_on_softened_teacher():
    T = 3.0
    s, t = logits(8, 10, 19), logits(8, 10, 20)
    probs = torch.softmax(t / T, dim=-1)
    assert kd_loss_probs(s, probs, T).item() == pytest.approx(kd_by_hand(s, t, T).item(),
                                                              rel=1e-5)


# ramp_up -------------------------------------------------------------------------------
def test_ramp_up_values_from_the_spec():
    assert ramp_up(0, 80) == pytest.approx(math.exp(-5.0), rel=1e-12)
    assert ramp_up(0, 80) == pytest.approx(0.0067, abs=1e-4)
    assert ramp_up(40, 80) == pytest.approx(math.exp(-1.25), rel=1e-12)
    assert ramp_up(40, 80) == pytest.approx(0.287, abs=1e-3)
    assert ramp_up(80, 80) == 1.0
    assert ramp_up(200, 80) == 1.0
    assert ramp_up(20, 80) == pytest.approx(math.exp(-5.0 * 0.75 ** 2), rel=1e-12)


def test_ramp_up_default_length_is_80():
    assert ramp_up(40) == pytest.approx(math.exp(-1.25), rel=1e-12)
    assert ramp_up(80) == 1.0


def test_ramp_up_length_zero_is_one():
    assert ramp_up(0, 0) == 1.0
    assert ramp_up(17, 0) == 1.0


def test_ramp_up_rejects_negative_length():
    with pytest.raises(ValueError):
        ramp_up(0, -1)


@settings(max_examples=200, deadline=None)
@given(e1=st.floats(0, 1000, allow_nan=False), e2=st.floats(0, 1000, allow_nan=False),
       length=st.integers(0, 300))
def test_ramp_up_is_monotone_and_in_unit_interval(e1, e2, length):
    lo, hi = min(e1, e2), max(e1, e2)
    w_lo, w_hi = ramp_up(lo, length), ramp_up(hi, length)
    assert 0.0 < w_lo <= 1.0
    assert 0.0 < w_hi <= 1.0
    assert w_lo <= w_hi
    if length > 0:
        assert w_lo >= math.exp(-5.0) - 1e-15
