"""Time every notebook top to bottom, with the shipped runs and with live training.

    python tools/time_notebooks.py                          # quick profile, both modes
    python tools/time_notebooks.py 00 03 --modes shipped    # some notebooks, one mode

Each notebook is built from its source as ``tools/build_notebooks.py`` builds it and run in
a fresh kernel from the ``notebooks/`` folder (nothing is written back). ``shipped`` runs it
as a student opens it (``TRAIN_LIVE = False``: the trained seed-0 runs load from the
package); ``live`` sets ``TRAIN_LIVE = True`` in its first cell that defines it, so the
runs are trained in the notebook. A notebook without the switch (02, 05, 06 read committed
results) is timed once, as ``shipped``. The wall time counts the kernel's start and every
cell. The table is printed and written to ``--out`` (CSV), with the machine, its CPU, the
torch threads and the profile, for the instructor guide.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_notebooks  # noqa: E402  (tools/)
from ship_runs import cpu_name  # noqa: E402

SWITCH = re.compile(r"^TRAIN_LIVE = False\b", re.M)


def set_live(nb) -> bool:
    """Turn the notebook's TRAIN_LIVE switch on; False where it has none."""
    for cell in nb.cells:
        if cell.cell_type == "code" and SWITCH.search(cell.source):
            cell.source = SWITCH.sub("TRAIN_LIVE = True", cell.source, count=1)
            return True
    return False


def time_one(src: Path, mode: str, profile: str, timeout: int) -> float | None:
    nb = build_notebooks.build(src)
    if mode == "live" and not set_live(nb):
        return None
    t0 = time.perf_counter()
    build_notebooks.execute(nb, profile, timeout)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    if errors:
        raise SystemExit(f"{src.stem} ({mode}): {errors[0].ename}: {errors[0].evalue}")
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("only", nargs="*", help="notebook number prefixes (default: all)")
    p.add_argument("--modes", nargs="+", default=["shipped", "live"], choices=["shipped", "live"])
    p.add_argument("--profile", default="quick", choices=["full", "quick", "smoke"])
    p.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    p.add_argument("--out", type=Path, default=None, help="CSV of the timings")
    args = p.parse_args(argv)
    sources = [s for s in sorted(build_notebooks.SRC.glob("*.py"))
               if not args.only or any(s.name.startswith(o) for o in args.only)]
    rows = []
    for src in sources:
        for mode in args.modes:
            seconds = time_one(src, mode, args.profile, args.timeout)
            if seconds is None:
                continue
            print(f"{src.stem:<36} {mode:<8} {seconds:6.1f} s", flush=True)
            rows.append({"notebook": src.stem, "mode": mode, "seconds": round(seconds, 1)})
    table = pd.DataFrame(rows)
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"profile {args.profile}; {cpu_name()}, {os.cpu_count()} cores, OMP_NUM_THREADS="
          f"{threads}; {platform.python_version()}")
    if args.out is not None:
        table.assign(profile=args.profile, machine=cpu_name(), cores=os.cpu_count(),
                     omp_threads=threads).to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
