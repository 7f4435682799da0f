"""Build the course notebooks from their sources, and optionally run them.

Each notebook is written as a plain Python file in ``notebooks/src/NN_name.py`` with cells
separated by ``# %%`` (code) and ``# %% [markdown]`` (markdown, every line starting with
``# ``) or ``# %% [solution]`` (an exercise's worked solution: a code cell that runs like any
other, stored collapsed). This script turns them into ``notebooks/NN_name.ipynb``; with ``--execute`` it runs
them (so the committed notebooks carry real outputs) under the chosen profile:

    python tools/build_notebooks.py                       # all, no outputs
    python tools/build_notebooks.py 03 --execute --profile quick

Two placeholders are filled from ``okddip_edu/_repo.py``, the one place that names the
repository and the release: ``{{colab_badge}}`` (a markdown line: the *Open in Colab* badge
of this notebook at that release) and ``{{install_cell}}`` (a code cell: install that
release where ``okddip_edu`` is missing, e.g. on Colab).

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

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "notebooks" / "src"
OUT = ROOT / "notebooks"
CELL = re.compile(r"^# %%(.*)$", re.M)
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


# A worked solution's code cell starts collapsed in JupyterLab (source_hidden) and as a
# form in Colab (cellView); the tag lets tests find every solution.
SOLUTION_METADATA = {"jupyter": {"source_hidden": True}, "cellView": "form",
                     "tags": ["solution"]}


def fill(text: str, notebook: str) -> str:
    """The source with its placeholders replaced (see the module docstring)."""
    badge = f"[![Open In Colab]({BADGE})]({_repo.colab_url(notebook)})"
    install = INSTALL_CELL.format(requirement=_repo.install_requirement())
    return (text.replace("# {{colab_badge}}", f"# {badge}")
                .replace("# {{install_cell}}", install))


def parse(text: str) -> list:
    cells = []
    parts = CELL.split(text)
    # parts: [preamble, header1, body1, header2, body2, ...]
    for header, body in zip(parts[1::2], parts[2::2]):
        body = body.strip("\n")
        if "[markdown]" in header:
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in body.splitlines()]
            cells.append(new_markdown_cell("\n".join(lines).strip("\n")))
        elif "[solution]" in header:  # a worked solution: runs, but starts collapsed
            cells.append(new_code_cell(body, metadata=SOLUTION_METADATA))
        elif body.strip():
            cells.append(new_code_cell(body))
    return cells


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
    nb = new_notebook(cells=parse(fill(src.read_text(), src.stem + ".ipynb")))
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            attach_images(cell)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def execute(nb: nbformat.NotebookNode, profile: str, timeout: int) -> None:
    from nbclient import NotebookClient

    os.environ["OKDDIP_PROFILE"] = profile
    os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend: figures are stored
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(OUT)}}).execute()


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
