"""Build the course notebooks from their sources, and optionally run them.

Each notebook is written as a plain Python file in ``notebooks/src/NN_name.py``, in
jupytext's ``py:percent`` format, which jupytext reads and writes (this script only calls
it): ``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell (every line starting
with ``# ``), and a cell's tags follow its marker, ``# %% tags=["solution"]``. Two tags mean
something here:

- ``solution``: an exercise's worked solution, a code cell that runs like any other and is
  stored collapsed (JupyterLab's ``source_hidden``, Colab's form view);
- ``nbval-check-output`` (also ``nbval-ignore-output``, ``nbval-skip``,
  ``nbval-raises-exception``): how ``pytest --nbval-lax`` treats the cell. nbval reads the
  tag from the cell's metadata, so students never see a ``# NBVAL_...`` comment.

This script turns the sources into ``notebooks/NN_name.ipynb``; with ``--execute`` it runs
them (so the committed notebooks carry real outputs) under the chosen profile:

    python tools/build_notebooks.py                       # all, no outputs
    python tools/build_notebooks.py 03 --execute --profile quick
    python tools/build_notebooks.py --keep-outputs        # sources changed, outputs kept

What is ours, on top of jupytext: two placeholders are filled from ``okddip_edu/_repo.py``,
the one place that names the repository and the release: ``{{colab_badge}}`` (a markdown
line: the *Open in Colab* badge of this notebook at that release) and ``{{install_cell}}``
(a code cell: install that release where ``okddip_edu`` is missing, e.g. on Colab);
solution cells are collapsed; images from ``assets/`` travel as cell attachments; jupytext's
layout hints for the ``.py`` (``lines_to_next_cell``) and its notebook metadata stay out of
the ``.ipynb``; and executed outputs are tidied (below).

To edit a source as a notebook: install jupytext in the environment JupyterLab runs in
(``pip install -e ".[test]"`` includes it; restart JupyterLab once), then right-click
``notebooks/src/NN_name.py`` in the file browser, *Open With > Notebook* (or *Jupytext
Notebook*). Cells run as in any notebook and saving writes the ``.py`` back, cell tags
included and outputs left out; no header is needed. To keep outputs while you work, pair
the source with a scratch notebook (``jupytext --set-formats ipynb,py:percent
notebooks/src/NN_name.py``): this adds a jupytext header to the source, which the builder
accepts; drop it (and the scratch ``.ipynb`` in ``src/``) before committing.
Never pair a source with ``notebooks/NN_name.ipynb``: this script writes that file.

An executed notebook is tidied for readers without a kernel (``tools/notebook_outputs.py``):
each plotly figure and each widget showing one gets a PNG beside it (GitHub and nbviewer
show it; JupyterLab still draws the interactive figure), and each tqdm bar is stored as the
one line it ended on. The PNGs need kaleido and a Chrome or Chromium it can find
(``pip install kaleido``; ``apt-get install chromium`` on Debian). The kernel runs with the
inline matplotlib backend, whatever ``$MPLBACKEND`` says, so stored figures are drawn.

Plain sources keep reviews readable; the ``.ipynb`` files are what people open.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbformat.v4 import new_notebook

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "notebooks" / "src"
OUT = ROOT / "notebooks"
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

import notebook_outputs  # noqa: E402  (tools/)
from okddip_edu import _repo  # noqa: E402

BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
INSTALL_CELL = '''# Set-up: where okddip_edu is not installed (Colab), install the release this notebook
# was written for. pip adds only what is missing: Colab keeps its own torch, ipywidgets
# and ipykernel.
try:
    import okddip_edu
except ImportError:  # pragma: no cover
    %pip install -q "{requirement}"
    import okddip_edu'''


FORMAT = "py:percent"  # jupytext's name for the format of notebooks/src/*.py
SOLUTION = "solution"  # the tag of an exercise's worked solution
# A worked solution's code cell starts collapsed in JupyterLab (source_hidden) and as a
# form in Colab (cellView); the tag lets tests find every solution.
SOLUTION_METADATA = {"jupyter": {"source_hidden": True}, "cellView": "form"}
# Cell metadata jupytext keeps only to write the .py back as it was (blank lines).
LAYOUT_HINTS = ("lines_to_next_cell",)


def read_source(src: Path) -> nbformat.NotebookNode:
    """The source as jupytext reads it: cells, their tags, nothing of ours yet."""
    return jupytext.reads(src.read_text(), fmt=FORMAT)


def fill(cell: nbformat.NotebookNode, notebook: str) -> None:
    """Replace the cell's placeholders (see the module docstring)."""
    if cell.cell_type == "markdown":
        badge = f"[![Open In Colab]({BADGE})]({_repo.colab_url(notebook)})"
        cell.source = cell.source.replace("{{colab_badge}}", badge)
    elif cell.cell_type == "code":
        install = INSTALL_CELL.format(requirement=_repo.install_requirement())
        cell.source = cell.source.replace("# {{install_cell}}", install)


def collapse_solution(cell: nbformat.NotebookNode) -> None:
    """A cell tagged ``solution`` runs like any other but starts collapsed."""
    if cell.cell_type == "code" and SOLUTION in cell.metadata.get("tags", []):
        cell.metadata.update(SOLUTION_METADATA)


ASSET_IMAGE = re.compile(r"\]\(\.\./assets/([\w.-]+\.png)\)")


def attach_images(cell: nbformat.NotebookNode) -> None:
    """A markdown image from ``../assets/`` travels inside the notebook as a cell attachment,
    so it shows where the folder is not beside it (Colab, a downloaded notebook)."""
    names = ASSET_IMAGE.findall(cell.source)
    if not names:
        return
    cell.attachments = {n: {"image/png": base64.b64encode((ROOT / "assets" / n).read_bytes())
                            .decode()} for n in names}
    cell.source = ASSET_IMAGE.sub(r"](attachment:\1)", cell.source)


def build(src: Path) -> nbformat.NotebookNode:
    """The notebook of a source: jupytext's cells, then what is ours (module docstring)."""
    nb = read_source(src)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code" and not cell.source.strip():
            continue  # an empty code cell is a slip in the source, not content
        for hint in LAYOUT_HINTS:
            cell.metadata.pop(hint, None)
        fill(cell, src.stem + ".ipynb")
        collapse_solution(cell)
        if cell.cell_type == "markdown":
            attach_images(cell)
        cells.append(cell)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


# Cells that may train (their timeout is the long one); every other cell runs in seconds.
TRAINS = re.compile(r"TRAIN_LIVE|TRAIN_HERE|RUN_SUITE|\bfit\(|fit_or_load|live\.train|run_suite")
SHORT_TIMEOUT = 180  # seconds: far above any cell that does not train


def execute(nb: nbformat.NotebookNode, profile: str, timeout: int, tries: int = 3) -> None:
    """Run ``nb`` in a fresh kernel from ``notebooks/``. A cell that does not train gets
    ``SHORT_TIMEOUT``: nbclient can miss a cell's reply after a widget output and wait for
    ever (jupyter/nbclient issue 312), so a cell past its timeout means the client hung,
    and the notebook is run again from the start, up to ``tries`` times."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError

    os.environ["OKDDIP_PROFILE"] = profile
    os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend: figures are stored
    source = [c.source for c in nb.cells]
    for attempt in range(1, tries + 1):
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           timeout_func=lambda cell: (timeout if TRAINS.search(cell.source)
                                                      else min(timeout, SHORT_TIMEOUT)),
                           resources={"metadata": {"path": str(OUT)}}).execute()
            return
        except CellTimeoutError as err:
            if attempt == tries:
                raise
            print(f"a cell passed its timeout ({str(err).splitlines()[0][:80]}); the client "
                  f"probably missed its reply: running the notebook again ({attempt + 1}/{tries})",
                  flush=True)
            for cell, text in zip(nb.cells, source):  # a clean slate for the next try
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count, cell.source = [], None, text


def tidy(nb: nbformat.NotebookNode) -> str:
    """Static images and final progress lines (``tools/notebook_outputs.py``)."""
    global _render
    if _render is None:
        _render = notebook_outputs.kaleido_renderer()
    counts = notebook_outputs.tidy(nb, _render)
    for cell in nb.cells:  # outputs the rewrite made are plain dicts
        if "outputs" in cell:
            cell.outputs = [nbformat.from_dict(o) for o in cell.outputs]
    return ", ".join(f"{n} {what}" for what, n in counts.items())


_render = None


def keep_outputs(nb: nbformat.NotebookNode, stored: nbformat.NotebookNode, name: str) -> None:
    """Give a fresh build the outputs of the stored notebook, cell by cell, where the code
    did not change (markdown, a badge or an install cell that printed nothing may have).
    A changed code cell that had outputs needs ``--execute``: that is an error."""
    new = [c for c in nb.cells if c.cell_type == "code"]
    old = [c for c in stored.cells if c.cell_type == "code"]
    if len(new) != len(old):
        raise SystemExit(f"{name}: {len(old)} code cells stored, {len(new)} in the source; "
                         "rebuild it with --execute")
    for i, (cell, before) in enumerate(zip(new, old)):
        if cell.source != before.source and before.outputs:
            raise SystemExit(f"{name}: code cell {i} changed and had outputs; rebuild it "
                             "with --execute")
        cell.outputs, cell.execution_count = before.outputs, before.execution_count
    if "widgets" in stored.metadata:
        nb.metadata["widgets"] = stored.metadata["widgets"]
    if len(nb.cells) == len(stored.cells):  # same cells: keep their ids, so diffs stay small
        for cell, before in zip(nb.cells, stored.cells):
            cell.id = before.get("id", cell.id)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("only", nargs="*", help="notebook number prefixes (default: all)")
    p.add_argument("--execute", action="store_true", help="run the notebooks and keep outputs")
    p.add_argument("--profile", default="quick", choices=["full", "quick", "smoke"])
    p.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    p.add_argument("--keep-outputs", action="store_true",
                   help="rebuild from the sources but keep the stored outputs of unchanged "
                        "code cells (then tidy them), instead of executing")
    args = p.parse_args(argv)
    if args.execute and args.keep_outputs:
        p.error("--execute and --keep-outputs exclude each other; choose one")
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
        took = ""
        if args.execute:
            execute(nb, args.profile, args.timeout)
            took = f" executed ({args.profile}) in {time.perf_counter() - t0:.0f} s ({tidy(nb)})"
        elif args.keep_outputs:
            keep_outputs(nb, nbformat.read(dst, as_version=4), dst.name)
            took = f" with its stored outputs ({tidy(nb)})"
        nbformat.write(nb, dst)
        print(f"{dst.relative_to(ROOT)}{took}, {dst.stat().st_size // 1024} KiB")
    if _render is not None:
        _render.close()  # the browser kaleido drew with
    return 0


if __name__ == "__main__":
    sys.exit(main())
