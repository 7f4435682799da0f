"""Cost of the paper's whole sweep: five networks x six methods x seeds, 300 CIFAR-100 epochs.

    python tools/sweep_costs.py [--seeds 3] [--rates 20 60]

For every architecture of ``tools/paper_costs.py`` and every method of the ``methods`` suite
(baseline, independent, dml, cl-ilr, one, okddip), builds the group exactly as
``okddip-edu ablate methods --preset paper --arch A`` does and counts the training FLOPs of
one step per image (``okddip_edu.costs.train_flops_per_image``, PyTorch's FLOP counter: a
measurement of the arithmetic, not of a device). One run is 300 epochs x 50,000 images.
GPU-hours are an ESTIMATE: total FLOPs divided by an assumed sustained rate (TFLOP/s);
no GPU has been measured. Prints a markdown table per architecture and the sweep's total.
"""

from __future__ import annotations

import argparse

from paper_costs import ARCHS, step_flops

from okddip_edu.experiments import SUITES

METHODS = [v.overrides.get("method", "okddip") for v in SUITES["methods"]]
IMAGES = 300 * 50_000  # one paper run: 300 epochs of the CIFAR-100 training set


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3, help="seeds per (network, method)")
    p.add_argument("--rates", type=float, nargs="+", default=[20.0, 60.0],
                   help="assumed sustained TFLOP/s for the estimate")
    a = p.parse_args()
    head = " | ".join(f"est. GPU-h at {r:g} TFLOP/s" for r in a.rates)
    print(f"| arch | {' | '.join(METHODS)} | PFLOP, {len(METHODS)} methods x {a.seeds} seeds "
          f"| {head} |")
    print("|---|" + "---|" * len(METHODS) + "---|" + "---|" * len(a.rates))
    total = 0.0
    for arch in ARCHS:
        per_image = [step_flops(arch, m)[0] for m in METHODS]  # FLOP per image, per method
        pflop = sum(per_image) * IMAGES * a.seeds / 1e15
        total += pflop
        hours = " | ".join(f"{pflop * 1e15 / (r * 1e12) / 3600:.1f}" for r in a.rates)
        gflop = " | ".join(f"{f / 1e9:.2f}" for f in per_image)
        print(f"| {arch} | {gflop} | {pflop:.0f} | {hours} |", flush=True)
    hours = " | ".join(f"**{total * 1e15 / (r * 1e12) / 3600:.1f}**" for r in a.rates)
    print(f"| **all {len(ARCHS) * len(METHODS) * a.seeds} runs** |" + " |" * len(METHODS)
          + f" **{total:.0f}** | {hours} |")


if __name__ == "__main__":
    main()
