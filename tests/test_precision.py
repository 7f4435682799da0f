"""The arithmetic a run uses: bf16 where native, fp16 with gradient scaling on older GPUs,
fp32 on the CPU unless asked; chosen per device, printed, and tested here without a GPU by
faking what the device can do."""

from __future__ import annotations

import pytest
import torch

from okddip_edu import engine, hardware, precision
from okddip_edu.config import Config
from okddip_edu.factory import build

CUDA = torch.device("cuda")


@pytest.fixture
def fake_gpu(monkeypatch):
    """A CUDA device by name only: its bf16 support is set by the test."""
    monkeypatch.setattr(precision, "device_name", lambda device: "Tesla T4")

    def has_bf16(native: bool):
        monkeypatch.setattr(hardware, "native_bf16", lambda device="cpu": native)
    return has_bf16


def test_gpu_with_native_bf16_uses_bf16_without_scaling(fake_gpu):
    fake_gpu(True)
    p = precision.choose(CUDA, amp=True)
    assert (p.name, p.dtype, p.scaled) == ("bf16", torch.bfloat16, False)
    assert "native bf16" in p.reason


def test_gpu_without_bf16_uses_fp16_with_a_gradient_scaler(fake_gpu):
    """Colab's free T4 (compute capability 7.5) has no bf16."""
    fake_gpu(False)
    p = precision.choose(CUDA, amp=True)
    assert (p.name, p.dtype, p.scaled) == ("fp16", torch.float16, True)
    assert p.reason == "Tesla T4: fp16 autocast with gradient scaling (no native bf16 on this GPU)"
    assert precision.choose(CUDA, amp=False).name == "fp32"


def test_cpu_is_fp32_unless_cpu_amp():
    cpu = torch.device("cpu")
    assert precision.choose(cpu, amp=True).name == "fp32"
    p = precision.choose(cpu, amp=True, cpu_amp=True)
    assert p.name == "bf16" and not p.scaled
    native = hardware.native_bf16("cpu")
    assert ("native" if native else "emulated") in p.reason


def test_native_bf16_on_cuda_needs_compute_capability_8(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for capability, native in (((7, 5), False), ((8, 0), True), ((9, 0), True)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None, c=capability: c)
        assert hardware.native_bf16("cuda") is native


def test_fp16_step_with_a_scaler_trains_like_fp32():
    """The scaled step (here on the CPU: fp16 autocast, GradScaler) updates the weights as the
    fp32 step does, to fp16 rounding; the scaler's scale is applied and removed."""
    cfg = Config(arch="resnet8", width=4, method="okddip", dataset="cifar10", device="cpu",
                 channels_last=False)
    fp16 = precision.Precision("fp16", torch.float16, True, "test")
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 3, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g)
    weights = {}
    for name, prec in (("fp32", None), ("fp16", fp16)):
        torch.manual_seed(0)
        model, method = build(cfg, 10)
        opt = engine.make_optimizer(model, method, cfg)
        scaler = prec.scaler(torch.device("cpu")) if prec else None
        _, terms = engine.train_step(model.train(), method.train(), opt, x, y, 80,
                                     cpu_amp=False, prec=prec, scaler=scaler)
        assert torch.isfinite(terms["total"])
        if scaler is not None:
            assert scaler.is_enabled() and scaler.get_scale() == 65536.0  # no overflow here
        weights[name] = torch.cat([p.detach().flatten() for p in model.parameters()])
    moved = (weights["fp16"] - weights["fp32"]).abs().max()
    assert moved < 2e-3, moved


def test_fit_prints_its_precision(capsys):
    from okddip_edu.data import synthetic

    cfg = Config(arch="resnet8", width=4, method="baseline", dataset="synthetic", device="cpu",
                 epochs=1, batch_size=64, eval_batch_size=64)
    engine.fit(cfg, splits=synthetic(train=64, val=32), progress=True)
    assert "precision: CPU: fp32 (cpu_amp=False)" in capsys.readouterr().out
