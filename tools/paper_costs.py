"""Cost of the paper-scale CIFAR-100 runs, per architecture: measured FLOPs, estimated time.

    python tools/paper_costs.py [--method okddip] [--rates 20 60]

For each architecture of the paper, builds the 4-branch group and OKDDip exactly as
``okddip-edu train --preset paper --arch A`` does, counts the FLOPs of one training step
(forward + backward; ``okddip_edu.costs``, which uses ``torch.utils.flop_counter``) per
image, and multiplies by 300 epochs x 50,000 images. The wall time is an ESTIMATE: total
FLOPs divided by an assumed sustained rate (TFLOP/s) that the user can change; small CIFAR
networks reach only a fraction of a GPU's peak, so the table shows a range.
"""

from __future__ import annotations

import argparse

from okddip_edu.config import preset
from okddip_edu.costs import train_flops_per_image
from okddip_edu.factory import build
from okddip_edu.models import count_parameters

ARCHS = ["resnet32", "resnet110", "vgg16", "densenet40-12", "wrn20-8"]


def step_flops(arch: str, method: str) -> tuple[float, int]:
    """FLOPs of one training step per image, and the parameters of the group + method."""
    cfg = preset("paper", arch=arch, method=method)
    model, meth = build(cfg, 100)
    params = count_parameters(model) + count_parameters(meth)
    return train_flops_per_image(cfg, 100), params


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", default="okddip")
    p.add_argument("--rates", type=float, nargs="+", default=[20.0, 60.0],
                   help="assumed sustained TFLOP/s for the estimate")
    a = p.parse_args()
    images = 300 * 50_000
    head = " | ".join(f"est. h at {r:g} TFLOP/s" for r in a.rates)
    print(f"| arch | params (M) | train GFLOP/image | PFLOP per 300 epochs | {head} |")
    print("|---|---|---|---|" + "---|" * len(a.rates))
    for arch in ARCHS:
        f, n = step_flops(arch, a.method)
        total = f * images
        est = " | ".join(f"{total / (r * 1e12) / 3600:.2f}" for r in a.rates)
        print(f"| {arch} | {n / 1e6:.3f} | {f / 1e9:.2f} | {total / 1e15:.1f} | {est} |",
              flush=True)


if __name__ == "__main__":
    main()
