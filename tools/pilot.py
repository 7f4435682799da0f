"""A cheap pilot: where on the CPU does online distillation separate from training alone?

    OMP_NUM_THREADS=1 python tools/pilot.py run  [--out runs/pilot]   # start it twice: 2 workers
    python tools/pilot.py table [--out runs/pilot]                    # the table so far

At the ``quick`` scale (ResNet-8, 12 epochs, 4,085 images) every method underfits near 53 %
and lands inside the seed noise. Online distillation is a regulariser, so it should separate
from a single network once the networks can overfit: longer training, fewer images. The
pilot trains baseline, independent branches and OKDDip (2 seeds each) in a few such
regimes of the ``quick`` preset (a first try at width 8 was dropped after one run: at 60
epochs its single network was still far from fitting its training set, 65 % train top-1, so
it could not show a regulariser at work); each regime is a run of the suite runner in its own folder
(resumable; several workers can share it), and ``table`` prints the leader's final top-1 per
method with OKDDip's gaps to the other two and their standard errors over the seeds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from okddip_edu.experiments import expand, run_suite
from okddip_edu.report.stats import difference

METHODS = ("baseline", "independent", "okddip")
SEEDS = 2
# name -> overrides of the quick preset; ramp-up L scaled as the paper's 80 of 300 epochs.
REGIMES = {
    "w16-n4085-e40": dict(width=16, epochs=40, rampup=11),
    "w16-n2000-e60": dict(width=16, train_subset=2000, epochs=60, rampup=16),
    "w16-n1000-e100": dict(width=16, train_subset=1000, epochs=100, rampup=27),
    "r14-w16-n2000-e40": dict(arch="resnet14", width=16, train_subset=2000, epochs=40,
                              rampup=11),
}


def jobs_of(regime: str, out: Path):
    jobs = expand("methods", "quick", SEEDS, out / regime, **REGIMES[regime])
    return [j for j in jobs if j.variant in METHODS]


def run(out: Path, regimes: list[str]) -> None:
    for seed in range(SEEDS):  # every regime's seed 0 first, then seed 1
        for regime in regimes:
            print(f"== {regime}, seed {seed}", flush=True)
            jobs = [j for j in jobs_of(regime, out) if j.seed == seed]
            run_suite(jobs, out / regime, progress=False)


def table(out: Path) -> pd.DataFrame:
    rows = []
    for regime in REGIMES:
        path = out / regime / "results.csv"
        if not path.exists():
            continue
        res = pd.read_csv(path)
        row = {"regime": regime}
        for m in METHODS:
            x = res.loc[res["variant"] == m, "final_top1_leader"]
            row[m] = f"{x.mean():.2f} ({len(x)})" if len(x) else "-"
        for other in ("baseline", "independent"):
            try:
                d = difference(res, "methods", "okddip", other)
                row[f"okddip - {other}"] = f"{d['diff']:+.2f} (se {d['se']:.2f})"
            except ValueError:
                row[f"okddip - {other}"] = "-"
        row["core-min"] = round(res["wall_time_s"].sum() / 60, 1)
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["run", "table"])
    p.add_argument("--out", type=Path, default=Path("runs/pilot"))
    p.add_argument("--regimes", nargs="+", choices=list(REGIMES), default=list(REGIMES),
                   help="run only these regimes (default: all)")
    args = p.parse_args()
    if args.what == "run":
        run(args.out, args.regimes)
    print(table(args.out).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
