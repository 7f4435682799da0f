"""Train every method on every CIFAR architecture with the smoke preset, through the CLI.

    python tools/smoke_matrix.py [--out runs/smoke-matrix] [--train-subset N]

Proves that each (method, architecture) pair builds, trains and writes a run directory.
The kd method learns from the okddip run of the same architecture. Prints a table of exit
codes and wall times, and writes it to OUT/matrix.csv.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

from okddip_edu.cli import main as cli
from okddip_edu.config import ARCHITECTURES, METHODS

CIFAR_ARCHS = [a for a in ARCHITECTURES if a != "resnet34"]  # resnet34 is the ImageNet net


def run(args: list[str]) -> tuple[int, float, str]:
    err = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = cli(args)
        except Exception as e:  # a crash is a result here, not a reason to stop
            code, err = 1, io.StringIO(f"{type(e).__name__}: {e}")
    return code, time.perf_counter() - t0, err.getvalue().strip().splitlines()[-1:]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/smoke-matrix")
    p.add_argument("--train-subset", type=int, default=None,
                   help="fewer training images for the big networks (default: the preset's)")
    p.add_argument("--archs", nargs="*", default=CIFAR_ARCHS)
    a = p.parse_args()
    out = Path(a.out)
    rows = []
    order = [m for m in METHODS if m != "kd"] + ["kd"]  # kd needs the okddip teacher first
    for arch in a.archs:
        for method in order:
            run_dir = out / f"{arch}-{method}"
            args = ["train", "--preset", "smoke", "--arch", arch, "--method", method,
                    "--out", str(run_dir), "--quiet"]
            if (run_dir / "final.json").exists():
                rows.append((arch, method, 0, 0.0, "already done"))
                continue
            if a.train_subset:
                args += ["--train-subset", str(a.train_subset)]
            if method == "kd":
                args += ["--teacher", str(out / f"{arch}-okddip")]
            code, secs, err = run(args)
            rows.append((arch, method, code, secs, err[0] if err and code else ""))
            print(f"{arch:14s} {method:12s} exit {code}  {secs:6.1f} s  {rows[-1][-1]}",
                  flush=True)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "matrix.csv", "w") as f:
        f.write("arch,method,exit,seconds,error\n")
        for r in rows:
            f.write(f"{r[0]},{r[1]},{r[2]},{r[3]:.1f},\"{r[4]}\"\n")
    failed = [r for r in rows if r[2] != 0]
    print(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
