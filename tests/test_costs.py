"""FLOP counts of a training step and the measured matmul rate (okddip_edu.costs)."""

from __future__ import annotations

import math

import pytest
import torch

from okddip_edu import costs, hardware
from okddip_edu.config import preset

pytestmark = pytest.mark.usefixtures("one_thread")


def _conv_flops(cin: int, cout: int, k: int, hw: int) -> int:
    """2 x MACs of a k x k convolution with a (hw x hw) output, per image."""
    return 2 * cin * cout * k * k * hw * hw


def test_baseline_resnet8_forward_is_counted_by_hand():
    """Single ResNet-8 (width 16): conv1, 3 stages of one basic block, 1x1 shortcuts at the
    stride-2 blocks, and the classifier. Training = forward + backward, where backward costs
    2x forward for every layer except the first conv (no gradient w.r.t. the images)."""
    cfg = preset("paper", arch="resnet8", method="baseline", width=16)
    convs = [(3, 16, 3, 32),  # conv1
             (16, 16, 3, 32), (16, 16, 3, 32),  # stage 1
             (16, 32, 3, 16), (32, 32, 3, 16), (16, 32, 1, 16),  # stage 2 + shortcut
             (32, 64, 3, 8), (64, 64, 3, 8), (32, 64, 1, 8)]  # stage 3 + shortcut
    forward = sum(_conv_flops(*c) for c in convs) + 2 * 64 * 100  # + fc
    first = _conv_flops(*convs[0])
    expected = 3 * forward - first  # the first conv has no input gradient
    got = costs.train_flops_per_image(cfg, num_classes=100)
    assert got == pytest.approx(expected, rel=1e-6)


def test_flops_per_image_do_not_depend_on_the_batch():
    cfg = preset("smoke", arch="resnet8", method="okddip")
    assert costs.train_flops_per_image(cfg, 10, batch=2) == pytest.approx(
        costs.train_flops_per_image(cfg, 10, batch=5), rel=1e-9)


def test_distillation_adds_almost_no_arithmetic():
    """OKDDip's attention and KL terms are tiny next to the branches' convolutions."""
    ok = costs.train_flops_per_image(preset("paper", arch="resnet32", method="okddip"))
    ce = costs.train_flops_per_image(preset("paper", arch="resnet32", method="independent"))
    assert ce < ok < 1.001 * ce
    assert 0.7e9 < ok < 0.9e9  # ResNet-32, 4 branches: about 0.82 GFLOP per image


def test_matmul_rate_is_positive_and_finite():
    for dtype in (torch.float32, torch.bfloat16):  # tiny: bf16 may be emulated here
        rate = costs.matmul_gflops("cpu", dtype, size=64, repeats=2)
        assert math.isfinite(rate) and rate > 0.01


@pytest.mark.parametrize("native", [True, False])
def test_bf16_rate_is_measured_only_where_bf16_is_native(native, monkeypatch):
    monkeypatch.setattr(hardware, "native_bf16", lambda device="cpu": native)
    rates = costs.matmul_rates("cpu", size=64, repeats=1)
    assert set(rates) == ({"fp32", "bf16"} if native else {"fp32"})
    reason = costs.bf16_skipped("cpu")
    assert (reason is None) == native
    if not native:
        assert "not native" in reason
