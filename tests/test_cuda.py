"""The CUDA path: the same semantics as the CPU path, within bf16 tolerance.

Every test here needs a CUDA device and is skipped without one (CI has none). On a GPU
machine, from the repository root: ``bash tools/gpu_check.sh`` runs these first, then the
benchmark. The CPU halves of the same checks run everywhere, in ``test_bench.py`` and
``test_engine.py``.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from okddip_edu import bench, engine
from okddip_edu.cli import main
from okddip_edu.config import preset

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
TINY = dict(arch="resnet8", width=8, branches=4, batch_size=32, images=128)


@pytest.fixture
def no_tf32():
    """Plain fp32 matmuls and convolutions on CUDA (TF32 would round to 10 mantissa bits)."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def _settings(device: str, **changes) -> bench.BenchSettings:
    return bench.BenchSettings(**{**TINY, "device": device, **changes}).resolved()


def _eval_batch(device: torch.device, channels_last: bool = False):
    x, y = bench.synthetic_images(TINY["batch_size"], seed=3)
    loader = bench.ours_loader(x, y, TINY["batch_size"], device, train=False,
                               channels_last=channels_last)
    return next(iter(loader))


def test_device_loader_on_cuda_makes_the_cpu_batches():
    """Without augmentation both devices make identical batches; with it, the same shapes,
    value range and per-channel statistics, and channels_last when asked."""
    xc, yc = _eval_batch(CPU)
    xg, yg = _eval_batch(CUDA, channels_last=True)
    assert xg.device.type == "cuda" and xg.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(xg.cpu(), xc, atol=1e-6) and torch.equal(yg.cpu(), yc)
    x, y = bench.synthetic_images(512, seed=1)
    ours = torch.cat([b.cpu() for b, _ in bench.ours_loader(x, y, 128, CUDA, seed=0)])
    ref = torch.cat([b for b, _ in bench.ours_loader(x, y, 128, CPU, seed=0)])
    assert ours.shape == ref.shape == (512, 3, 32, 32)
    assert torch.allclose(ours.mean(dim=(0, 2, 3)), ref.mean(dim=(0, 2, 3)), atol=0.04)


def test_engine_step_on_cuda_bf16_matches_cpu_fp32():
    """Same weights, same batch: the engine's CUDA step (bf16 autocast, channels_last, fused
    SGD) gives the CPU fp32 loss within bf16 tolerance, and finite, updated weights."""
    losses = {}
    for device, amp in ((CPU, False), (CUDA, True)):
        s = _settings(device.type)
        cfg = bench.make_config(s)
        model, method = bench.build_model(cfg, device, seed=0, channels_last=amp)
        optimizer = engine.make_optimizer(model, method, cfg)
        fused = True if device.type == "cuda" and engine.has_fused_sgd() else None
        assert optimizer.defaults["fused"] is fused  # the engine's kernel choice
        x, y = _eval_batch(device, channels_last=amp)
        before = [p.detach().clone() for p in model.parameters()]
        _, terms = engine.train_step(model, method, optimizer, x, y, cfg.rampup, amp)
        losses[device.type] = terms["total"].detach().float().cpu()
        assert all(torch.isfinite(p).all() for p in model.parameters())
        assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), before))
    assert torch.allclose(losses["cuda"], losses["cpu"], rtol=5e-2), losses


def test_plain_fp32_step_on_cuda_matches_cpu(no_tf32):
    """Without autocast and TF32 the CUDA step is the CPU step, up to float rounding."""
    out = {}
    for device in (CPU, CUDA):
        s = _settings(device.type)
        cfg = bench.make_config(s)
        model, method = bench.build_model(cfg, device, seed=0)
        optimizer = engine.make_optimizer(model, method, cfg)
        x, y = _eval_batch(device)
        _, terms = engine.train_step(model, method, optimizer, x, y, cfg.rampup, amp=False)
        out[device.type] = (terms["total"].detach().cpu(),
                            torch.cat([p.detach().flatten().cpu() for p in model.parameters()]))
    assert torch.allclose(out["cuda"][0], out["cpu"][0], rtol=1e-4, atol=1e-5)
    assert torch.allclose(out["cuda"][1], out["cpu"][1], rtol=1e-3, atol=1e-5)


def test_fit_on_cuda_then_evaluate_on_cpu_and_resume(tmp_path):
    """A smoke run on CUDA: finite history, a checkpoint the CPU evaluates, and a resume
    (on CUDA) that continues it."""
    cfg = preset("smoke", dataset="synthetic", device="cuda", epochs=2)
    run = tmp_path / "run"
    result = engine.fit(cfg, run, progress=False)
    assert len(result.history) == 2
    assert all(math.isfinite(v) for v in result.history["train_total"])
    assert 0 <= result.final["val_top1_leader"] <= 100
    assert main(["evaluate", str(run), "--data", "synthetic", "--device", "cpu"]) == 0
    on_cpu = json.loads((run / "eval-synthetic.json").read_text())
    # bf16 on CUDA vs fp32 on CPU: some of the 128 validation images may flip
    assert abs(on_cpu["top1_leader"] - result.final["val_top1_leader"]) <= 10
    longer = engine.fit(cfg.replace(epochs=3), run, resume=True, progress=False)
    assert len(longer.history) == 3
    assert longer.history["epoch"].tolist() == [0, 1, 2]


def test_bench_command_on_cuda(tmp_path, capsys):
    flags = ["--device", "cuda", "--arch", "resnet8", "--width", "8", "--batch-size", "32",
             "--steps", "3", "--warmup", "1", "--images", "256", "--workers", "2"]
    assert main(["bench", *flags, "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "cuda.json").read_text())
    assert result["device_type"] == "cuda"
    assert result["settings"]["amp"] and result["settings"]["channels_last"]
    assert "max_memory_allocated" in result["memory_measure"]
    for p in result["paths"].values():
        assert p["images_per_s"] > 0 and math.isfinite(p["loss"]) and p["peak_mem_mb"] > 0
    assert all(r > 0 for r in result["arithmetic"]["matmul_gflops"].values())
    printed = capsys.readouterr().out
    assert "ours / reference" in printed and "fp32 bound" in printed
