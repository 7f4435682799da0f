"""Build the course notebooks from their sources, and optionally run them.

Each notebook is written as a plain Python file in ``notebooks/src/NN_name.py`` with cells
separated by ``# %%`` (code) and ``# %% [markdown]`` (markdown, every line starting with
``# ``). This script turns them into ``notebooks/NN_name.ipynb``; with ``--execute`` it runs
them (so the committed notebooks carry real outputs) under the chosen profile:

    python tools/build_notebooks.py                       # all, no outputs
    python tools/build_notebooks.py 03 --execute --profile quick

Plain sources keep reviews readable; the ``.ipynb`` files are what people open.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "notebooks" / "src"
OUT = ROOT / "notebooks"
CELL = re.compile(r"^# %%(.*)$", re.M)


def parse(text: str) -> list:
    cells = []
    parts = CELL.split(text)
    # parts: [preamble, header1, body1, header2, body2, ...]
    for header, body in zip(parts[1::2], parts[2::2]):
        body = body.strip("\n")
        if "[markdown]" in header:
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in body.splitlines()]
            cells.append(new_markdown_cell("\n".join(lines).strip("\n")))
        elif body.strip():
            cells.append(new_code_cell(body))
    return cells


def build(src: Path) -> nbformat.NotebookNode:
    nb = new_notebook(cells=parse(src.read_text()))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def execute(nb: nbformat.NotebookNode, profile: str, timeout: int) -> None:
    from nbclient import NotebookClient

    os.environ["OKDDIP_PROFILE"] = profile
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(OUT)}}).execute()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("only", nargs="*", help="notebook number prefixes (default: all)")
    p.add_argument("--execute", action="store_true", help="run the notebooks and keep outputs")
    p.add_argument("--profile", default="quick", choices=["full", "quick", "smoke"])
    p.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = p.parse_args(argv)
    sources = sorted(SRC.glob("[0-9][0-9]_*.py"))
    if args.only:
        sources = [s for s in sources if any(s.name.startswith(o) for o in args.only)]
    if not sources:
        print("no notebook sources matched", file=sys.stderr)
        return 1
    for src in sources:
        nb = build(src)
        dst = OUT / (src.stem + ".ipynb")
        t0 = time.perf_counter()
        if args.execute:
            execute(nb, args.profile, args.timeout)
        nbformat.write(nb, dst)
        took = f" executed ({args.profile}) in {time.perf_counter() - t0:.0f} s" if args.execute else ""
        print(f"{dst.relative_to(ROOT)}{took}, {dst.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
