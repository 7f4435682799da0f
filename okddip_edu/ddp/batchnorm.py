r"""BatchNorm over the global batch, when every process holds only a shard of it.

Plain DistributedDataParallel keeps BatchNorm per process: each rank normalises its B/N
images with their own mean and variance, which are not those of the B images a single
process sees, so the run computes something else. Synchronised BatchNorm sums over all
ranks first. With x the activations of channel c on every rank r (n_r values each):

.. math::

    n = \sum_r n_r, \qquad
    \mu = \frac{1}{n} \sum_r \sum_{i \in r} x_i, \qquad
    \sigma^2 = \frac{1}{n} \sum_r \sum_{i \in r} (x_i - \mu)^2, \qquad
    y_i = \gamma \frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta

and the running statistics move towards mu and the unbiased n / (n - 1) sigma^2, exactly
as one BatchNorm over the whole batch. The sums travel through an all-reduce whose
backward is again an all-reduce, so autograd gives each rank the gradient of the loss
summed over all ranks, which DDP then averages.

On CUDA :func:`convert` uses ``torch.nn.SyncBatchNorm`` (fused kernels). That class
refuses CPU tensors ("expected input tensor to be on GPU"), so on the CPU it uses
:class:`SyncBatchNorm` below: the formula above in plain tensor operations, two
all-reduces per layer and step. Evaluation does not synchronise: it uses the running
statistics, which are identical on every rank.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class _AllReduceSum(torch.autograd.Function):
    """y = sum over ranks of x; its gradient is the sum over ranks of dL/dy."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Differentiable sum of ``x`` over every rank of the default process group."""
    return _AllReduceSum.apply(x)


def synchronising() -> bool:
    """Whether there are other ranks to synchronise with."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class SyncBatchNorm(_BatchNorm):
    """BatchNorm whose batch statistics are those of the global batch (any device, any
    dimension: (B, C) or (B, C, H, W)). Same parameters, buffers and state_dict keys as
    ``nn.BatchNorm1d/2d``, so checkpoints move freely between the two."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"SyncBatchNorm expects (B, C, ...) input; got {x.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and synchronising()):
            return super().forward(x)  # eval (running statistics) or a single process
        self._check_input_dim(x)
        dims = [0, *range(2, x.dim())]  # every dimension but the channel
        shape = [1, -1] + [1] * (x.dim() - 2)  # (1, C, 1, 1) for images
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x  # fp32 or fp64
        count = torch.tensor([x.numel() / x.shape[1]], device=x.device, dtype=xf.dtype)  # n_r
        sums = all_reduce_sum(torch.cat([xf.sum(dims), count]))  # (C + 1,)
        n = sums[-1]
        mean = sums[:-1] / n  # (C,)
        centred = xf - mean.view(shape)
        var = all_reduce_sum((centred * centred).sum(dims)) / n  # (C,)  biased, as BN
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach(), n.item())
        return y.to(x.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, n: float) -> None:
        self.num_batches_tracked.add_(1)
        factor = (1.0 / self.num_batches_tracked.item() if self.momentum is None
                  else self.momentum)  # None: cumulative average, as BatchNorm
        self.running_mean.lerp_(mean, factor)
        self.running_var.lerp_(var * n / max(n - 1.0, 1.0), factor)


def convert(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` with every BatchNorm synchronised over the process group.

    CUDA: ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``. CPU: :class:`SyncBatchNorm`,
    which takes over each layer's own parameters and buffers (nothing is re-initialised).
    """
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
        sync = SyncBatchNorm(module.num_features, module.eps, module.momentum,
                             module.affine, module.track_running_stats)
        sync.training = module.training
        for name, p in module.named_parameters(recurse=False):
            setattr(sync, name, p)
        for name, b in module.named_buffers(recurse=False):
            setattr(sync, name, b)
        return sync
    for name, child in module.named_children():
        module.add_module(name, convert(child, device))
    return module
