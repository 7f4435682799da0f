"""The benchmark: its fast path trains like the plain one, both pipelines make the same
batches, and ``okddip-edu bench`` runs end to end on the CPU with tiny settings."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from okddip_edu import bench, data, engine
from okddip_edu.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


TINY = dict(arch="resnet8", width=4, branches=3, batch_size=8, images=64, device="cpu")


def _settings(**changes) -> bench.BenchSettings:
    return bench.BenchSettings(**{**TINY, **changes}).resolved()


def _two_batches(seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    x, y = bench.synthetic_images(16, seed)
    loader = bench.ours_loader(x, y, 8, torch.device("cpu"), seed)
    return list(loader)  # 2 augmented, normalised batches (8, 3, 32, 32)


def _train(step_of, batches, *, fast: bool, compile_backend: str | None = None):
    """Losses of two SGD steps and the final weights, on the fast or the plain path."""
    s = _settings()
    cfg = bench.make_config(s)
    model, method = bench.build_model(cfg, torch.device("cpu"), seed=0)
    kind = "fused" if fast else "plain"
    optimizer = bench.make_optimizer(model, method, cfg, kind, torch.device("cpu"))
    if compile_backend:
        model = torch.compile(model, backend=compile_backend)
    step = step_of(model, method, optimizer, cfg.rampup)
    losses = torch.stack([step(x, y).detach() for x, y in batches])
    weights = torch.cat([p.detach().flatten() for p in method.parameters()]
                        + [p.detach().flatten() for p in model.parameters()])
    return losses, weights


# --- fast path vs plain path -------------------------------------------------------------
def test_fast_path_gives_the_plain_loss_fp32():
    """Compiled model + fused SGD + engine step == plain loop, step after step (fp32)."""
    batches = _two_batches()
    plain, w_plain = _train(bench.plain_step, batches, fast=False)
    fast, w_fast = _train(lambda m, me, o, e: bench.ours_step(m, me, o, e, amp=False),
                          batches, fast=True, compile_backend="eager")
    assert torch.allclose(fast, plain, rtol=1e-5, atol=1e-6), (fast, plain)
    assert torch.allclose(w_fast, w_plain, rtol=1e-4, atol=1e-6)


def test_bf16_autocast_on_cpu_stays_within_bf16_tolerance():
    batches = _two_batches()[:1]
    plain, _ = _train(bench.plain_step, batches, fast=False)
    amp, _ = _train(lambda m, me, o, e: bench.ours_step(m, me, o, e, amp=True),
                    batches, fast=True)
    assert torch.allclose(amp, plain, rtol=5e-2), (amp, plain)
    assert not torch.equal(amp, plain)  # autocast did change the arithmetic


def test_engine_picks_the_fused_sgd_kernel_on_cuda_only():
    assert engine.sgd_kernel(torch.device("cuda")) == (
        {"fused": True} if engine.has_fused_sgd() else {})
    assert engine.sgd_kernel(torch.device("cpu")) == {}
    cfg = bench.make_config(_settings())
    model, method = bench.build_model(cfg, torch.device("cpu"), seed=0)
    opt = engine.make_optimizer(model, method, cfg)
    assert opt.defaults["fused"] is None and opt.defaults["nesterov"]
    # the benchmark's "auto" is the engine's optimizer; "plain" is torch's default kernel
    for kind in ("auto", "plain"):
        other = bench.make_optimizer(model, method, cfg, kind, torch.device("cpu"))
        assert other.defaults == opt.defaults, kind


def test_optimizer_kinds():
    cfg = bench.make_config(_settings())
    model, method = bench.build_model(cfg, torch.device("cpu"), seed=0)
    cpu = torch.device("cpu")
    assert bench.make_optimizer(model, method, cfg, "fused", cpu).defaults["fused"] is True
    assert bench.make_optimizer(model, method, cfg, "foreach", cpu).defaults["foreach"] is True
    auto = bench.make_optimizer(model, method, cfg, "auto", cpu)
    assert not auto.defaults["fused"] and auto.defaults["nesterov"]
    with pytest.raises(ValueError, match="optimizer="):
        bench.make_optimizer(model, method, cfg, "adam", cpu)


# --- the two pipelines make the same batches --------------------------------------------
def test_ours_and_reference_batches_are_normalised_alike():
    x, y = bench.synthetic_images(256, seed=1)
    cpu = torch.device("cpu")
    # Without augmentation, the same images in the same order: the same numbers.
    ours = next(iter(bench.ours_loader(x, y, 64, cpu, train=False)))
    ref_loader = data.reference_loader(x, y, 64, bench.MEAN, bench.STD, train=False,
                                       num_workers=0)
    ref = next(bench.reference_batches(ref_loader, cpu))
    assert ours[0].shape == ref[0].shape == (64, 3, 32, 32)
    assert ours[0].dtype == ref[0].dtype == torch.float32
    assert torch.allclose(ours[0], ref[0], atol=1e-5)
    assert torch.equal(ours[1], ref[1])
    # With augmentation: one epoch of each has the same per-channel statistics.
    ours_x = torch.cat([b for b, _ in bench.ours_loader(x, y, 64, cpu, seed=0)])
    ref_loader = data.reference_loader(x, y, 64, bench.MEAN, bench.STD, num_workers=0)
    ref_x = torch.cat([b for b, _ in ref_loader])
    assert ours_x.shape == ref_x.shape == (256, 3, 32, 32)
    for stat in (lambda t: t.mean(dim=(0, 2, 3)), lambda t: t.std(dim=(0, 2, 3))):
        assert torch.allclose(stat(ours_x), stat(ref_x), atol=0.04)


# --- pieces of the measurement -----------------------------------------------------------
def test_memory_probe_sees_a_cpu_allocation():
    probe = bench.MemoryProbe(torch.device("cpu"))
    probe.begin()
    probe.window()
    block = torch.ones(16 * 2**20)  # 64 MiB, touched
    peak = probe.end()
    assert block.sum() > 0
    if "psutil" in probe.kind:
        assert peak >= 48


def test_defaults_depend_on_device_and_sweep():
    s = bench.BenchSettings(device="cpu").resolved()
    assert (s.arch, s.steps, s.warmup, s.amp, s.channels_last) == ("resnet32", 30, 5, False,
                                                                    True)
    s = bench.BenchSettings(device="cpu").resolved(sweep=True)
    assert (s.arch, s.steps, s.warmup) == ("resnet8", 3, 1)


def test_ratios_from_throughputs():
    paths = {"ours": {"images_per_s": 300.0}, "reference": {"images_per_s": 200.0},
             "ce-only": {"images_per_s": 360.0}}
    r = bench.ratios(paths, "okddip")
    assert r["ours/reference"] == pytest.approx(1.5)
    assert r["okddip/ce-only"] == pytest.approx(1.2)
    assert r["distillation_overhead_pct"] == pytest.approx(20.0)


# --- the command ------------------------------------------------------------------------
TINY_FLAGS = ["--device", "cpu", "--arch", "resnet8", "--width", "4", "--batch-size", "8",
              "--steps", "2", "--warmup", "1", "--images", "64", "--threads", "1",
              "--matmul-size", "64"]


def test_bench_command_writes_all_paths_and_ratios(tmp_path, capsys):
    assert main(["bench", *TINY_FLAGS, "--workers", "1", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "ours / reference" in printed and "distillation overhead" in printed
    result = json.loads((tmp_path / "cpu.json").read_text())
    assert set(result["paths"]) == {"ours", "reference", "ce-only"}
    for p in result["paths"].values():
        assert p["images_per_s"] > 0 and math.isfinite(p["loss"]) and p["peak_mem_mb"] >= 0
    assert set(result["ratios"]) == {"ours/reference", "okddip/ce-only",
                                     "distillation_overhead_pct", "ours/reference_cpu_time"}
    assert set(result["costs"]) == {"ours_batch_ms", "reference_batch_ms", "loss_ms_okddip",
                                    "loss_ms_ce"}
    assert set(result["versions"]) == {"okddip_edu", "torch", "torchvision", "python"}
    assert result["settings"]["steps"] == 2 and result["cpu_count"] >= 1
    assert result["command"].startswith("okddip-edu bench --device cpu --arch resnet8")
    a = result["arithmetic"]  # each path's GFLOP/s against the measured matmul rates
    for p in ("ours", "reference", "ce-only"):
        rate = result["paths"][p]["images_per_s"] * a["train_gflop_per_image"]
        assert a["gflops"][p] == pytest.approx(rate)
        assert a["share_of_fp32"][p] == pytest.approx(rate / a["matmul_gflops"]["fp32"])
    assert a["fp32_bound_ours/reference"] == pytest.approx(
        a["matmul_gflops"]["fp32"] / a["gflops"]["reference"])
    assert a["matmul_size"] == 64  # tiny in tests: bf16 may be emulated on this CPU
    # bf16 is timed only where it is native; otherwise the report says why it is not
    assert ("bf16" in a["matmul_gflops"]) == (not a["matmul_skipped"])
    assert "fp32 bound" in printed and "GFLOP per image" in printed
    if a["matmul_skipped"]:
        assert "bf16 not measured: bf16 is not native" in printed


def test_bench_sweep_writes_csv_and_figure(tmp_path):
    flags = [*TINY_FLAGS, "--steps", "1", "--warmup", "0", "--sweep",
             "--sweep-batch-sizes", "4", "8", "--sweep-branches", "2", "3"]
    assert main(["bench", *flags, "--out", str(tmp_path)]) == 0
    with open(tmp_path / "cpu_sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["sweep"], r["batch_size"], r["branches"]) for r in rows] == [
        ("batch_size", "4", "4"), ("batch_size", "8", "4"), ("branches", "8", "2"),
        ("branches", "8", "3")]
    assert rows[2]["note"].startswith("skipped")  # OKDDip needs a leader and 2 peers
    assert float(rows[3]["images_per_s"]) > 0
    assert (tmp_path / "cpu_sweep.png").stat().st_size > 1000


def test_bench_rejects_bad_settings(tmp_path, capsys):
    out = tmp_path / "never-made"
    assert main(["bench", *TINY_FLAGS, "--branches", "2", "--out", str(out)]) == 2
    assert not out.exists()
    assert "branches=2 is not valid" in capsys.readouterr().err
    assert main(["bench", *TINY_FLAGS, "--batch-size", "65", "--out", str(out)]) == 2
    assert "--images=64" in capsys.readouterr().err
