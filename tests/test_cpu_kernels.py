"""channels_last trains exactly like NCHW, for every network, on this CPU and as an AVX2 CPU.

The engine keeps images and weights channels_last (faster oneDNN kernels, same arithmetic).
On AVX2-only CPUs one of those kernels was broken: the backward of a strided 1x1
convolution with fewer input channels than the kernel's block (the ResNet shortcut at small
widths) crashed, spun forever, or wrote wrong weight gradients without a sign. The models
route around it (``models.resnet.PointwiseDownsample``); these tests would catch it, or any
kernel like it, on any machine:

- every architecture, at the smallest width a run can ask for and at the presets' widths,
  takes one OKDDip training step in both layouts from the same weights and batch, and the
  gradients must agree to fp32 rounding (``tests/layout_step.py`` says how it compares);
- each case runs in its own child process with a time limit, so a crash or a hang is one
  failing test with a message, not a dead suite;
- on a CPU with AVX-512, every case runs a second time with oneDNN and ATen capped at AVX2
  (``ONEDNN_MAX_CPU_ISA=AVX2``, ``ATEN_CPU_CAPABILITY=avx2``): the kernels an AVX2-only
  machine runs, so the defect shows on any x86 CI machine.

The children run concurrently, one thread each, as many at a time as there are cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from okddip_edu import hardware

SCRIPT = Path(__file__).with_name("layout_step.py")
TIMEOUT_S = 240  # a hanging kernel spins forever; a case takes a few seconds
EVAL_GRAD_TOL = 1e-2  # worst per-tensor relative L2 gradient error (rounding: 1e-5; a
# ReLU flipped by rounding: up to 2e-3 here; a wrong kernel: order 1)
LOSS_TOL = 1e-3  # relative loss difference (rounding: below 1e-4 in the train pass)

# (arch, width): width 2 is the smallest a run accepts; 4 and 16 are the presets' widths
# (smoke; quick, course and paper). VGG, DenseNet and ResNet-34 have no width.
# ResNet-14 and -20 are ResNet-8 and -32 with other block counts: the same layers, same code.
CASES = [("resnet8", 2), ("resnet8", 4), ("resnet32", 2), ("resnet32", 16), ("resnet110", 2),
         ("wrn20-8", 2), ("vgg16", 16), ("densenet40-12", 16), ("resnet34", 16)]
AVX2_ENV = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def _has_avx512() -> bool:
    flags = hardware.cpu_flags()
    return bool(flags) and "avx512f" in flags


ISAS = {"native": {}, "avx2": AVX2_ENV}


def _run_case(arch: str, width: int, isa: str) -> dict:
    env = {**os.environ, **ISAS[isa], "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    try:
        proc = subprocess.run([sys.executable, str(SCRIPT), arch, str(width)], env=env,
                              capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": f"no answer after {TIMEOUT_S} s: a kernel hangs (the AVX2 defect "
                         "spins every thread at 100 %)"}
    if proc.returncode != 0:
        sig = -proc.returncode
        how = (f"killed by {signal.Signals(sig).name}" if proc.returncode < 0
               else f"exit status {proc.returncode}")
        return {"error": f"the child process died ({how}); stderr ends with:\n"
                         + proc.stderr[-1500:]}
    passes = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {p["pass"]: p for p in passes}


@pytest.fixture(scope="module")
def results():
    """Every case started at once, ``cpu_count`` at a time; a test waits for its own."""
    isas = ["native", "avx2"] if _has_avx512() else ["native"]
    pool = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1))
    futures: dict[tuple, Future] = {(a, w, isa): pool.submit(_run_case, a, w, isa)
                                    for isa in isas for a, w in CASES}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("arch,width", CASES, ids=[f"{a}-w{w}" for a, w in CASES])
def test_channels_last_step_equals_nchw_step(results, arch, width, isa):
    if (arch, width, isa) not in results:
        pytest.skip("this CPU has no AVX-512: its native run above is the AVX2 run")
    r = results[(arch, width, isa)].result()
    where = f"{arch} width {width}, {isa} kernels"
    assert "error" not in r, f"{where}: {r.get('error')}"
    ev, tr = r["eval"], r["train"]
    assert ev["worst_grad_err"] < EVAL_GRAD_TOL, (
        f"{where}: channels_last gives other gradients than NCHW: {ev['worst_grad']} is off "
        f"by {ev['worst_grad_err']:.2e} of its norm (rounding gives 1e-5 to 2e-3)")
    for p in (ev, tr):
        assert p["loss_rel"] < LOSS_TOL, (
            f"{where}, {p['pass']} pass: loss {p['loss']} in NCHW, {p['loss_cl']} channels_last")
        assert p["finite"], f"{where}, {p['pass']} pass: non-finite gradients in channels_last"
    if isa == "avx2":
        assert ev["isa"] == "AVX2", f"ATen ignored ATEN_CPU_CAPABILITY=avx2 ({ev['isa']})"


def test_strided_shortcut_is_a_subsampled_pointwise_convolution():
    """The construction the models use is the strided 1x1 convolution: the same outputs and
    the same gradients, and the same parameter name and shape in the state dict."""
    from okddip_edu.models.resnet import PointwiseDownsample

    torch.manual_seed(0)
    ours = PointwiseDownsample(4, 8, stride=2)
    plain = torch.nn.Conv2d(4, 8, 1, stride=2, bias=False)
    plain.load_state_dict(ours.state_dict())
    assert list(ours.state_dict()) == ["weight"] and ours.weight.shape == (8, 4, 1, 1)
    x = torch.randn(3, 4, 9, 10, requires_grad=True)  # odd sizes: the last row/col handling
    x2 = x.detach().clone().requires_grad_()
    y, y2 = ours(x), plain(x2)
    assert y.shape == y2.shape == (3, 8, 5, 5)
    assert torch.allclose(y, y2, atol=1e-6)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    (y2 * g).sum().backward()
    assert torch.allclose(x.grad, x2.grad, atol=1e-6)
    assert torch.allclose(ours.weight.grad, plain.weight.grad, rtol=1e-4, atol=1e-5)
