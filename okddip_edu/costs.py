"""Arithmetic cost of training, and the arithmetic rate a device actually delivers.

Two numbers put a throughput in perspective:

- the **FLOPs of one training step per image**: forward, loss and backward of the whole
  group, counted by ``torch.utils.flop_counter`` (matmuls and convolutions; a multiply-add
  is 2 FLOPs; batch norm, activations and the optimizer are not counted);
- the **dense matmul rate** of the device: GFLOP/s of a large square ``A @ B`` in fp32 and,
  where the device runs it natively, in bf16, measured here. It is the practical ceiling
  for that arithmetic in the same dtype: small convolutions run below it, not above.

A training path that reaches ``r`` images/s does ``r x FLOP/image`` FLOP/s, and its share
of the matmul rate says how much headroom any rewrite of the same arithmetic could find:

.. math::

    \text{share} = \frac{\text{images/s} \times \text{FLOP/image}}
                         {\text{measured matmul FLOP/s}}

Example::

    >>> from okddip_edu.config import preset
    >>> train_flops_per_image(preset("paper", arch="resnet32"))  # doctest: +SKIP
    819836616.0
"""

from __future__ import annotations

import os

import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from . import hardware
from .config import Config
from .factory import build

# Square matmul sizes: large enough to reach the device's steady rate, small enough to be
# quick (CPU 2048: 17 GFLOP, a fraction of a second on one core).
MATMUL_SIZE = {"cpu": 2048, "cuda": 8192}


def train_flops_per_image(cfg: Config, num_classes: int = 100, batch: int = 2) -> float:
    """FLOPs of one training step (forward + loss + backward) of ``cfg``'s group, per image.

    Counted on the CPU in fp32 on a batch of random 32 x 32 images, at the end of the
    ramp-up (every term on); the count does not depend on the device or the dtype.
    """
    torch.manual_seed(0)
    model, method = build(cfg, num_classes)
    model.train()
    method.train()
    x = torch.randn(batch, 3, 32, 32)  # (B, 3, 32, 32)
    y = torch.randint(0, num_classes, (batch,))  # (B,)
    counter = FlopCounterMode(display=False)
    with counter:
        method(model(x), y, cfg.rampup, x=x)["total"].backward()
    return counter.get_total_flops() / batch


def matmul_gflops(device: torch.device | str, dtype: torch.dtype = torch.float32,
                  size: int | None = None, repeats: int = 5) -> float:
    """Measured GFLOP/s of ``(size x size) @ (size x size)`` in ``dtype`` on ``device``.

    The best of ``repeats`` timed products after one warm-up, bracketed by a device sync
    on CUDA. On the CPU it uses torch's current number of threads.
    """
    device = torch.device(device)
    n = size or MATMUL_SIZE.get(device.type, 2048)
    g = torch.Generator(device=device).manual_seed(0)  # drawn on the device: no big copy
    a = torch.randn(n, n, generator=g, device=device, dtype=dtype)  # (n, n)
    b = torch.randn(n, n, generator=g, device=device, dtype=dtype)  # (n, n)
    best = float("inf")
    for i in range(repeats + 1):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        if i:  # the first product is a warm-up
            best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def matmul_rates(device: torch.device | str, size: int | None = None,
                 repeats: int = 5) -> dict[str, float]:
    """The device's measured matmul rate in GFLOP/s: ``{"fp32": ..., "bf16": ...}``.

    bf16 is measured only where the device runs it natively (:func:`bf16_skipped` says why
    not otherwise): emulated bf16 on an AVX2-only CPU takes about 30 s for one 2048 x 2048
    product, and its rate is no ceiling for anything the engine runs by default.
    """
    rates = {"fp32": matmul_gflops(device, torch.float32, size, repeats)}
    if bf16_skipped(device) is None:
        rates["bf16"] = matmul_gflops(device, torch.bfloat16, size, repeats)
    return rates


def bf16_skipped(device: torch.device | str) -> str | None:
    """Why the bf16 matmul rate is not measured on ``device``; None when it is."""
    device = torch.device(device)
    if hardware.native_bf16(device):
        return None
    if device.type == "cpu":
        flags = hardware.cpu_flags() or set()
        if any(f in flags for f in hardware.NATIVE_BF16_FLAGS):  # the CPU has it, oneDNN may not
            why = ("bf16 is not native here: oneDNN may not use this CPU's bf16 instructions "
                   f"(ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', 'unset')})")
        else:
            why = "bf16 is not native on this CPU (no AVX512_BF16 or AMX)"
        return f"{why}: {hardware.describe_cpu()}; emulated bf16 is no ceiling worth timing"
    return f"bf16 is not native on {device} (compute capability below 8.0)"


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); a no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
