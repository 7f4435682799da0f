"""What this machine can do fast: the CPU's model and instruction sets, native bf16.

Speed figures and precision choices depend on the machine, and CPUs differ: an AVX2-only
CPU (AMD Zen 3, say) runs bf16 by emulation, tens of times slower than fp32, while one with
AVX512_BF16 or AMX runs it natively, faster than fp32. Code that would spend minutes on
emulated arithmetic asks here first:

    >>> native_bf16("cpu")  # doctest: +SKIP
    False
    >>> describe_cpu()  # doctest: +SKIP
    'Intel(R) Xeon(R) Processor @ 2.60GHz; avx2 yes, avx512f yes, avx512_bf16 no, amx_bf16 no'

On Linux the flags come from ``/proc/cpuinfo``. oneDNN's own view is respected too: with
``ONEDNN_MAX_CPU_ISA=AVX2`` (which makes an AVX-512 machine behave like an AVX2-only one)
bf16 is not native, whatever the CPU has.
"""

from __future__ import annotations

import functools
import platform

import torch

# Instruction sets that decide our kernels' speed, in the order they are reported.
REPORTED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # either one: oneDNN runs bf16 natively


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first CPU in /proc/cpuinfo; ('', {}) where there is none."""
    model, flags = "", frozenset()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = frozenset(value.split())
                if model and flags:
                    break
    except OSError:  # not Linux
        pass
    return model or platform.processor() or platform.machine(), flags


def cpu_model() -> str:
    return _cpuinfo()[0]


def cpu_flags() -> frozenset[str] | None:
    """The CPU's instruction-set flags, or None where the OS does not list them."""
    flags = _cpuinfo()[1]
    return flags or None


def onednn_bf16() -> bool | None:
    """oneDNN's answer to "can I run bf16?" (True on AVX-512 even without AVX512_BF16, where
    it emulates); None where this torch build does not say."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a private op: absent from some builds
        return None


def native_bf16(device: torch.device | str = "cpu") -> bool | None:
    """Whether ``device`` runs bf16 arithmetic natively (fast), not by emulation.

    CUDA: compute capability 8.0 or newer (Ampere: A100, H100, RTX 30xx; not the T4 or V100).
    CPU: AVX512_BF16 or AMX in the CPU flags, and oneDNN allowed to use them. None: unknown
    (a CPU whose flags the OS does not list, and oneDNN silent).
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
    if device.type != "cpu":
        return None
    flags, onednn = cpu_flags(), onednn_bf16()
    if onednn is False:
        return False
    if flags is None:
        return None
    return any(f in flags for f in NATIVE_BF16_FLAGS)


def describe_cpu() -> str:
    """One line: the CPU's model and whether it has each of :data:`REPORTED_FLAGS`."""
    flags = cpu_flags()
    if flags is None:
        return f"{cpu_model()}; instruction-set flags not listed by this OS"
    have = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in REPORTED_FLAGS)
    return f"{cpu_model()}; {have}"
