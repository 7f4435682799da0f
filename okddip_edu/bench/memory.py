"""Memory of a benchmark path: peak device or process memory, and the loader workers' RSS.

- **CUDA**: ``torch.cuda.max_memory_allocated`` over the timed window: absolute, and it
  holds the weights, the optimizer state, the activations and, for ``ours``, the resident
  dataset.
- **CPU**: the peak growth of this process's resident set (RSS) from just before the path
  is built to the end of its timed window, sampled every 10 ms by psutil on a thread::

      peak_mib = (max_t RSS(t) - RSS(before)) / 2^20

  It holds the weights, optimizer state, activations and loader buffers (for
  ``reference`` also its HWC copy of the images for PIL). Before the first reading, freed
  heap pages go back to the OS (``malloc_trim``), so what an earlier path freed does not
  hide this one's growth. Without psutil: the growth of the ``resource.getrusage``
  high-water mark.

DataLoader worker processes are not in that figure; :func:`worker_rss_mb` reports them
apart (shared pages counted in every worker).
"""

from __future__ import annotations

import ctypes
import gc
import sys
import threading

import torch


class MemoryProbe:
    """Peak memory of one path.

    CUDA: ``torch.cuda.max_memory_allocated`` over the timed window (absolute: weights,
    optimizer state, activations, resident data). CPU: the peak RSS of this process while
    the path is built, warmed up and timed, minus its RSS just before (after a
    ``malloc_trim``, so memory freed by an earlier path does not hide this one's).

        probe.begin()   # before the path is built
        probe.window()  # at the start of the timed window
        mib = probe.end()
    """

    def __init__(self, device: torch.device, interval: float = 0.01):
        self.device = device
        self.interval = interval  # seconds between RSS samples
        self.kind = self._kind(device)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._base = 0  # bytes before the path was built
        self._peak = 0  # bytes, highest sample

    @staticmethod
    def _kind(device: torch.device) -> str:
        if device.type == "cuda":
            return "torch.cuda.max_memory_allocated over the timed window (absolute)"
        try:
            import psutil  # noqa: F401
            return ("peak RSS growth of the main process from before the path is built to "
                    "the end of its timed window (psutil, sampled every 10 ms)")
        except ImportError:
            return "growth of the RSS high-water mark (resource.getrusage ru_maxrss)"

    def begin(self) -> None:
        if self.device.type == "cuda":
            return
        gc.collect()
        _trim_heap()
        self._base = self._peak = _rss_bytes()
        if "psutil" in self.kind:
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def window(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, _rss_bytes())

    def end(self) -> float:
        """Peak in MiB (see the class docstring)."""
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self._peak = max(self._peak, _rss_bytes())
        return max(0, self._peak - self._base) / 2**20


def _trim_heap() -> None:
    """Return freed heap pages to the OS (glibc only; elsewhere a no-op)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss_bytes() -> int:
    """Current RSS with psutil, else the RSS high-water mark (ru_maxrss is KiB on Linux)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        import resource

        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def worker_rss_mb() -> float:
    """Summed RSS of this process's children (DataLoader workers; shared pages counted)."""
    try:
        import psutil

        return sum(c.memory_info().rss for c in psutil.Process().children()) / 2**20
    except Exception:  # psutil missing, or a child exited while we looked
        return float("nan")
