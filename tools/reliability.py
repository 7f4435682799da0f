"""Interrupt real training processes at random moments; check that nothing is lost.

    OMP_NUM_THREADS=1 python tools/reliability.py [--kills 8] [--out runs/reliability]

What it does, each through the real command line in a child process:

1. trains one reference run without interruption (the ``smoke`` preset on ``cifar10-5k``,
   made longer: 6 epochs, 512 images);
2. ``--kills`` times: starts the same run, sends SIGKILL after a random delay, then
   ``--resume`` (killing again at random while resuming, half of the time) until it
   finishes; the history must equal the reference's, epoch times aside;
3. SIGINT and SIGTERM once each, then ``--resume``: the same check; each must end with its
   one line, SIGINT with exit 130, SIGTERM with 143;
4. two ``ablate`` workers on one suite folder at once: every run trained exactly once,
   every (suite, variant, seed) once in results.csv.

It prints one line per trial and the counts. The bad-input cases (exit 2 with one line)
are the tables of ``tests/test_reliability.py`` and ``tests/test_cli.py``.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

CMD = [sys.executable, "-m", "okddip_edu"]
RUN = ["train", "--preset", "smoke", "--quiet", "--device", "cpu", "--epochs", "6",
       "--train-subset", "512"]


def _default_signals() -> None:
    """A child started from a background job inherits an ignored SIGINT; Python then never
    raises KeyboardInterrupt. Restore the default, as in a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def train(out: Path, *extra: str, kill_after: float | None = None, sig=signal.SIGKILL):
    """Start a training process; with ``kill_after``, send ``sig`` then. (rc, stderr)"""
    proc = subprocess.Popen([*CMD, *RUN, "--out", str(out), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ,
                            preexec_fn=_default_signals)
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(sig)
    _, err = proc.communicate(timeout=600)
    return proc.returncode, err


def history(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "history.csv").drop(columns=["epoch_time"])


def finish(out: Path, rng: random.Random, ref_s: float, again: bool) -> int:
    """Resume until final.json exists (killing once more at random if ``again``)."""
    resumes = 0
    while not (out / "final.json").exists():
        resume = ["--resume"] if (out / "checkpoint.pt").exists() else []
        kill = rng.uniform(0.5, ref_s) if again and resumes == 0 else None
        rc, err = train(out, *resume, kill_after=kill)
        if kill is None and rc != 0:
            raise RuntimeError(f"resume failed ({rc}): {err.strip()[-400:]}")
        resumes += 1
    return resumes


def same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return a.shape == b.shape and bool((a.round(6) == b.round(6)).all().all())


def two_workers(root: Path) -> str:
    """Two ablate workers on one folder: each run trained once, each row once."""
    out = root / "suite"
    args = [*CMD, "ablate", "detach", "--preset", "smoke", "--seeds", "2", "--out", str(out),
            "--quiet"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(2)]
    logs = [p.communicate(timeout=1200)[0] for p in procs]
    trained = [m for log in logs for m in re.findall(r"-> (\S+)", log)]
    res = pd.read_csv(out / "results.csv")
    dup_rows = res.duplicated(["suite", "variant", "seed"]).sum()
    ok = len(trained) == len(set(trained)) and dup_rows == 0 and len(res) == 4
    return (f"two workers: {len(set(trained))} runs trained ({len(trained)} starts), "
            f"{len(res)} rows, {dup_rows} duplicated: {'ok' if ok else 'FAILED'}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=8)
    p.add_argument("--out", type=Path, default=Path("runs/reliability"))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = random.Random(args.seed)
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    t0 = time.perf_counter()
    rc, err = train(args.out / "reference")
    ref_s = time.perf_counter() - t0
    if rc:
        raise SystemExit(f"the reference run failed: {err}")
    ref = history(args.out / "reference")
    print(f"reference: {len(ref)} epochs in {ref_s:.0f} s")
    identical = 0
    trials = [("SIGKILL", signal.SIGKILL)] * args.kills + [("SIGINT", signal.SIGINT),
                                                            ("SIGTERM", signal.SIGTERM)]
    landed = 0  # signals that reached the run before it ended on its own
    for i, (name, sig) in enumerate(trials):
        out = args.out / f"trial{i}"
        # a signal must land while training: SIGINT and SIGTERM retry earlier if it did not
        delay = rng.uniform(1.0, max(1.5, 0.8 * ref_s))
        for _ in range(1 if sig == signal.SIGKILL else 3):
            shutil.rmtree(out, ignore_errors=True)
            rc, err = train(out, kill_after=delay, sig=sig)
            if rc != 0:
                break
            delay /= 2
        landed += rc != 0
        note = f"rc {rc}" + ("" if rc else ": the run ended before the signal")
        if name in ("SIGINT", "SIGTERM"):
            lines = err.strip().splitlines()
            note += ", one line" if len(lines) == 1 and "--resume" in lines[0] else \
                f", said: {err.strip()[-300:]!r}"
        resumes = finish(out, rng, ref_s, again=name == "SIGKILL" and i % 2 == 1)
        ok = same(history(out), ref)
        identical += ok
        print(f"{name} after {delay:4.1f} s ({note}), {resumes} resume(s): "
              f"{'identical history' if ok else 'DIFFERENT history'}", flush=True)
    print(two_workers(args.out))
    print(f"{landed} of {len(trials)} signals landed while training; {identical} of "
          f"{len(trials)} runs ended with the reference history")
    return 0 if identical == len(trials) else 1


if __name__ == "__main__":
    raise SystemExit(main())
