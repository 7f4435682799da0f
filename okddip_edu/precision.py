"""Mixed precision: which arithmetic a run uses on its device, and why.

Autocast runs the matmuls and convolutions in a 16-bit type and keeps the rest (losses,
softmax, BatchNorm statistics, the weights themselves) in fp32:

- **bf16** has fp32's exponent range (8 bits) and 7 mantissa bits: no overflow, no
  underflow of small gradients, so it needs nothing else. Native on CUDA from compute
  capability 8.0 (A100, H100, RTX 30xx and newer) and on CPUs with AVX512_BF16 or AMX.
- **fp16** has 10 mantissa bits but only a 5-bit exponent: gradients below 6e-8 flush to
  zero. A gradient scaler multiplies the loss by ``s`` before ``backward`` and divides the
  gradients by ``s`` before the step (skipping a step, and halving ``s``, when a gradient
  overflows). It is the choice on older GPUs such as Colab's T4 and the V100.
- **fp32** everywhere else: the CPU by default (bf16 there is opt-in, ``cpu_amp``, because
  it changes the arithmetic, and emulated it is slower than fp32).

    >>> p = choose(torch.device("cpu"), amp=True, cpu_amp=False)
    >>> p.name, p.reason
    ('fp32', 'CPU: fp32 (cpu_amp=False)')
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import hardware


@dataclass(frozen=True)
class Precision:
    name: str  # bf16 | fp16 | fp32
    dtype: torch.dtype | None  # autocast dtype; None: no autocast (fp32)
    scaled: bool  # fp16: the loss is scaled and the gradients unscaled (GradScaler)
    reason: str  # one line: the choice and why, as printed at the start of a run

    def autocast(self, device: torch.device):
        """The autocast context of this precision on ``device`` (disabled for fp32)."""
        return torch.autocast(device.type, dtype=self.dtype or torch.bfloat16,
                              enabled=self.dtype is not None)

    def scaler(self, device: torch.device) -> torch.amp.GradScaler:
        """A gradient scaler, enabled only for fp16 (disabled it passes everything through)."""
        return torch.amp.GradScaler(device.type, enabled=self.scaled)


FP32_CPU = "CPU: fp32 (cpu_amp=False)"


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


def choose(device: torch.device, amp: bool = True, cpu_amp: bool = False) -> Precision:
    """bf16 where the device runs it natively, else fp16 with gradient scaling (CUDA), else
    fp32. On the CPU autocast is used only when ``cpu_amp`` asks for it."""
    if device.type == "cuda":
        name = device_name(device)
        if not amp:
            return Precision("fp32", None, False, f"{name}: fp32 (amp=False)")
        if hardware.native_bf16(device):
            return Precision("bf16", torch.bfloat16, False,
                             f"{name}: bf16 autocast (native bf16)")
        return Precision("fp16", torch.float16, True,
                         f"{name}: fp16 autocast with gradient scaling (no native bf16 on "
                         "this GPU)")
    if device.type == "cpu" and cpu_amp:
        native = hardware.native_bf16("cpu")
        how = "native" if native else "emulated: usually slower than fp32"
        return Precision("bf16", torch.bfloat16, False, f"CPU: bf16 autocast ({how})")
    return Precision("fp32", None, False, FP32_CPU if device.type == "cpu"
                     else f"{device.type}: fp32")
