"""One run on several processes: DistributedDataParallel under ``torchrun``.

    torchrun --nproc-per-node 4 -m okddip_edu train --preset paper --out runs/r32-ddp

The command is ``okddip-edu train`` unchanged; started by ``torchrun`` with N > 1 processes
it trains with :func:`fit`, which computes what a single process computes with the same
(global) batch, up to the order of float sums:

- :mod:`.process`: who this process is (rank, world size, device) and the process group
  (``nccl`` on CUDA, ``gloo`` on the CPU);
- :mod:`.shards`: each rank's rows of every global batch, cropped and flipped exactly as
  in the single-process run; a batch that does not divide evenly is refused;
- :mod:`.batchnorm`: BatchNorm over the global batch (``torch.nn.SyncBatchNorm`` on CUDA,
  our own on the CPU, where torch's refuses to run);
- :mod:`.fit`: the training loop: DDP over the model and the method together, rank 0
  evaluates and writes every file, every rank resumes from the checkpoint.
"""

from .batchnorm import SyncBatchNorm, convert
from .fit import GroupStep, fit, launched_fit
from .process import Process, is_main_process, launched, start, stop
from .shards import ShardedLoader, check_shardable

__all__ = ["GroupStep", "Process", "ShardedLoader", "SyncBatchNorm", "check_shardable",
           "convert", "fit", "is_main_process", "launched", "launched_fit", "start", "stop"]
