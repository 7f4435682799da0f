"""One training step of ARCH at WIDTH in NCHW and in channels_last; prints how far apart they are.

    python tests/layout_step.py ARCH WIDTH

Run by ``tests/test_cpu_kernels.py``, one child process per case, so that a kernel that
crashes or spins forever fails one test instead of killing the suite. Both layouts start
from the same weights, batch and dropout masks; fp32 throughout; OKDDip's loss with every
term at full weight. Two passes:

- ``eval``: BatchNorm on its running statistics, no dropout. Float rounding then moves each
  gradient tensor by about 1e-5 of its norm (a ReLU input that rounding pushes across zero
  moves one tensor by up to 2e-3), while a kernel that writes wrong gradients moves it by
  an amount of order 1. Compared tightly.
- ``train``: batch statistics and dropout, as in training. BatchNorm over 8 images makes
  deep narrow networks chaotic: a rounding difference can flip a ReLU and move single
  gradient entries a lot (ResNet-110 at width 2 differs from a float64 run by 2e-2 in
  either layout). Compared on the loss only; this pass proves the training kernels finish.

Prints one JSON line per pass. A gradient's error is the relative L2 distance
``||g_cl - g_nchw|| / ||g_nchw||``, per tensor; the worst tensor is reported.
"""

from __future__ import annotations

import copy
import json
import sys

import torch

from okddip_edu.config import Config
from okddip_edu.factory import build

BATCH = 8  # the size that reproduced the AVX2 defect in a few seconds


def grads_of(model, method, x, y, epoch: int) -> tuple[float, dict[str, torch.Tensor]]:
    torch.manual_seed(1)  # the same dropout masks in both layouts
    loss = method(model(x), y, epoch, x=x)["total"]
    loss.backward()
    named = [*(("model." + n, p) for n, p in model.named_parameters()),
             *(("method." + n, p) for n, p in method.named_parameters())]
    return loss.item(), {n: p.grad.detach().contiguous().clone() for n, p in named
                         if p.grad is not None}


def compare(arch: str, width: int, train: bool) -> dict:
    cfg = Config(arch=arch, width=width, method="okddip", dataset="cifar10", device="cpu")
    torch.manual_seed(0)
    model, method = build(cfg, 10)
    model_cl, method_cl = copy.deepcopy(model), copy.deepcopy(method)
    model_cl.to(memory_format=torch.channels_last)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, 3, 32, 32, generator=g)  # (B, 3, 32, 32)
    y = torch.randint(0, 10, (BATCH,), generator=g)  # (B,)
    epoch = cfg.rampup  # every distillation term at full weight
    loss, grads = grads_of(model.train(train), method.train(train), x, y, epoch)
    loss_cl, grads_cl = grads_of(model_cl.train(train), method_cl.train(train),
                                 x.contiguous(memory_format=torch.channels_last), y, epoch)
    assert grads.keys() == grads_cl.keys()
    errs = {n: ((grads_cl[n] - g).norm() / g.norm().clamp_min(1e-12)).item()
            for n, g in grads.items()}
    worst = max(errs, key=errs.get)
    return {"pass": "train" if train else "eval", "loss": loss, "loss_cl": loss_cl,
            "loss_rel": abs(loss_cl - loss) / abs(loss), "worst_grad": worst,
            "worst_grad_err": errs[worst], "params": len(errs),
            "finite": all(bool(g.isfinite().all()) for g in grads_cl.values()),
            "isa": torch.backends.cpu.get_cpu_capability()}


if __name__ == "__main__":
    torch.set_num_threads(1)
    for train in (False, True):
        print(json.dumps(compare(sys.argv[1], int(sys.argv[2]), train)), flush=True)
