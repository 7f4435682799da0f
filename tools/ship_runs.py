"""Train the seed-0 runs the notebooks would otherwise retrain, and ship them.

    OMP_NUM_THREADS=2 python tools/ship_runs.py            # quick and smoke profiles
    python tools/ship_runs.py --profiles smoke --list       # what would be made, nothing trained

Each run is trained with :func:`okddip_edu.engine.fit` exactly as its notebook trains it and
written by :func:`okddip_edu.pretrained.save` to ``assets/pretrained/<run key>.pt``;
``assets/pretrained/index.csv`` lists every file with its size, its final accuracy, how long
it trained and on which machine. A run already shipped is skipped unless ``--force``. The
notebooks load these files by default (their ``TRAIN_LIVE`` switch trains instead).
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from okddip_edu import course, live, pretrained  # noqa: E402
from okddip_edu.engine import fit  # noqa: E402
from okddip_edu.experiments.suites import run_key  # noqa: E402

OUT = ROOT / "assets" / "pretrained"


def notebook_runs(profile: str) -> dict[str, object]:
    """The configs the notebooks train at seed 0, by what they are used for."""
    nb = course.Notebook(profile, "cpu", 0, 30)
    return {
        "00, 03, 04: the profile's OKDDip group": nb.config(method="okddip"),
        "01: the teacher (a single network)": nb.config(method="baseline"),
        "01: the student (one epoch, seed 1)": nb.config(method="baseline", epochs=1, seed=1),
        "03: the live run with the default switches": live.config(live.base(nb)),
    }


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", nargs="+", default=["quick", "smoke"],
                        choices=["quick", "smoke"], help="profiles whose runs to ship")
    parser.add_argument("--force", action="store_true", help="retrain runs already shipped")
    parser.add_argument("--list", action="store_true", help="list the runs; train nothing")
    args = parser.parse_args(argv)
    index_path = OUT / "index.csv"
    index = pd.read_csv(index_path) if index_path.exists() else pd.DataFrame()
    rows = []
    for profile in args.profiles:
        for use, cfg in notebook_runs(profile).items():
            key = run_key(cfg)
            path = OUT / f"{key}.pt"
            print(f"{profile:>5} | {use} -> {path.name}{' (shipped)' if path.exists() else ''}")
            if args.list or (path.exists() and not args.force):
                continue
            result = fit(cfg, progress=True)
            pretrained.save(result, OUT)
            rows.append({"file": path.name, "profile": profile, "used_by": use,
                         "method": cfg.method, "epochs": cfg.epochs, "seed": cfg.seed,
                         "final_top1_leader": round(result.final["val_top1_leader"], 2),
                         "train_min": round(result.history["epoch_time"].sum() / 60, 2),
                         "kib": round(path.stat().st_size / 1024),
                         "machine": f"{cpu_name()}, {torch.get_num_threads()} threads",
                         "torch": str(torch.__version__)})
    if rows:
        new = pd.DataFrame(rows)
        if not index.empty:
            index = index[~index["file"].isin(new["file"])]
        pd.concat([index, new], ignore_index=True).sort_values(["profile", "file"]).to_csv(
            index_path, index=False)
        print(f"wrote {len(rows)} run(s) and {index_path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
