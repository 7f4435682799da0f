"""Which process am I: ``torchrun``'s environment, the process group, each rank's device.

``torchrun --nproc-per-node N`` starts N copies of the command and tells each who it is
through environment variables:

    WORLD_SIZE  N, the processes in all        RANK        this process, 0 .. N-1
    LOCAL_RANK  this process on its machine    MASTER_ADDR, MASTER_PORT  where to meet

:func:`start` joins them into one process group (``nccl`` on CUDA, ``gloo`` on the CPU) and
gives each rank its device: ``cuda:LOCAL_RANK``, one GPU per process, or the CPU. Rank 0 is
the *main* process: the only one that prints and writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


def env_int(name: str, default: int) -> int:
    """An integer ``torchrun`` variable (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``); one line
    when it is not one."""
    text = os.environ.get(name, str(default))
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{name}={text!r} is not valid; it must be an integer >= 0 (torchrun "
                         "sets it; unset it to run one process)")
    return value


def world_size() -> int:
    """N as ``torchrun`` set it (1 when started as a plain single process). ``RANK`` and
    ``LOCAL_RANK`` are checked too, so a mistyped one is one line even where it is unused."""
    env_int("RANK", 0)
    env_int("LOCAL_RANK", 0)
    return env_int("WORLD_SIZE", 1)


def launched() -> bool:
    """Whether this process is one of several started by ``torchrun`` (N > 1)."""
    return world_size() > 1


def is_main_process() -> bool:
    """Rank 0 (or a plain single process): the one that prints and writes files."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return env_int("RANK", 0) == 0


@dataclass
class Process:
    rank: int  # this process, 0 .. world - 1; rank 0 writes every file
    world: int  # N: processes in all, each with its share of every batch
    local_rank: int  # this process on its machine: picks its GPU
    device: torch.device  # cuda:local_rank or cpu
    owns_group: bool  # the process group was made here (and is destroyed at the end)

    @property
    def main(self) -> bool:
        return self.rank == 0


def device_for(name: str, local_rank: int) -> torch.device:
    """The device of this rank for ``Config.device`` ``name`` (auto | cpu | cuda)."""
    cuda = torch.cuda.is_available()
    if name == "cuda" and not cuda:
        raise ValueError("device='cuda' is not valid here: no CUDA device is visible; "
                         "use device='cpu' or 'auto'")
    if name == "cpu" or not cuda:
        return torch.device("cpu")
    if local_rank >= torch.cuda.device_count():
        raise ValueError(f"LOCAL_RANK={local_rank} is not valid: this machine has "
                         f"{torch.cuda.device_count()} GPUs; start at most that many "
                         "processes per node (torchrun --nproc-per-node)")
    return torch.device("cuda", local_rank)


def start(device_name: str = "auto") -> Process:
    """Join (or reuse) the process group; return who this process is and its device."""
    local_rank = env_int("LOCAL_RANK", 0)
    device = device_for(device_name, local_rank)
    owns = False
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        owns = True
    return Process(dist.get_rank(), dist.get_world_size(), local_rank, device, owns)


def stop(proc: Process) -> None:
    """Leave the process group if :func:`start` made it."""
    if proc.owns_group and dist.is_initialized():
        dist.destroy_process_group()
