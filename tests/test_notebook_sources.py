"""The notebook sources are jupytext ``py:percent`` files, and nbval's markers are cell tags.

jupytext reads and writes ``notebooks/src/*.py`` (``tools/build_notebooks.py``), so a source
must come back unchanged from jupytext, also after an author opened it as a notebook in
JupyterLab (which adds a kernelspec and cell metadata) and saved it. nbval markers live in
cell tags, out of the code a student reads; the stored notebooks carry the tags of their
sources.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_notebooks  # noqa: E402

SOURCES = sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py"))
FORMAT = build_notebooks.FORMAT
# The tags nbval reads from a cell's metadata (nbval.plugin.metadata_tags, nbval 0.11).
NBVAL_TAGS = {"nbval-check-output", "nbval-ignore-output", "nbval-skip",
              "nbval-raises-exception", "raises-exception"}
CHECK = "nbval-check-output"


def _stored(src: Path):
    return nbformat.read(ROOT / "notebooks" / (src.stem + ".ipynb"), as_version=4)


def _tags(cells) -> list[tuple[int, list[str]]]:
    return [(i, c.metadata.get("tags", [])) for i, c in enumerate(cells)]


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem[:2])
def test_source_round_trips_through_jupytext(src):
    text = src.read_text()
    assert jupytext.writes(jupytext.reads(text, fmt=FORMAT), fmt=FORMAT) == text, (
        f"{src.name}: jupytext would rewrite it; write it as jupytext does (py:percent, "
        "magics commented, tags after '# %%')")


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem[:2])
def test_saving_from_jupyterlab_writes_the_same_source(src):
    """What JupyterLab adds while a source is open as a notebook stays out of the file."""
    text = src.read_text()
    nb = jupytext.reads(text, fmt=FORMAT)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for cell in nb.cells:
        cell.metadata["collapsed"] = False
        if cell.cell_type == "code":
            cell.metadata["execution"] = {"iopub.status.idle": "2026-01-01T00:00:00Z"}
    assert jupytext.writes(nb, fmt=FORMAT) == text


def test_nbval_tags_are_ones_nbval_reads():
    plugin = pytest.importorskip("nbval.plugin")
    assert NBVAL_TAGS <= set(plugin.metadata_tags)  # (and an old pytest-validate- alias)
    for src in SOURCES:
        for i, tags in _tags(build_notebooks.read_source(src).cells):
            unknown = {t for t in tags if "nbval" in t} - NBVAL_TAGS
            assert not unknown, f"{src.name} cell {i}: nbval ignores the tags {unknown}"


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem[:2])
def test_no_nbval_comment_is_left_in_a_cell(src):
    for where, cells in (("source", build_notebooks.build(src).cells),
                         ("stored notebook", _stored(src).cells)):
        marked = [i for i, c in enumerate(cells) if "NBVAL_" in c.source]
        assert not marked, (f"{src.stem} {where}, cells {marked}: an NBVAL comment a student "
                            f"sees; tag the cell instead (# %% tags=[\"{CHECK}\"])")


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem[:2])
def test_stored_notebook_carries_the_tags_of_its_source(src):
    """Every notebook checks some outputs, and nbval finds the tags in the .ipynb it runs."""
    built, stored = build_notebooks.build(src), _stored(src)
    assert _tags(stored.cells) == _tags(built.cells), (
        f"{src.stem}.ipynb is stale: python tools/build_notebooks.py {src.stem[:2]} "
        "--keep-outputs")
    checked = [i for i, tags in _tags(stored.cells) if CHECK in tags]
    assert checked, f"{src.stem}: no cell tagged {CHECK}"
    assert all(stored.cells[i].cell_type == "code" and stored.cells[i].outputs
               for i in checked), f"{src.stem}: a {CHECK} cell without stored outputs"


def test_build_keeps_jupytext_layout_hints_out_of_the_notebook():
    for src in SOURCES:
        nb = build_notebooks.build(src)
        assert "jupytext" not in nb.metadata
        assert not [i for i, c in enumerate(nb.cells) if set(c.metadata) - {
            "tags", "jupyter", "cellView"}], f"{src.stem}: stray cell metadata"
