"""The committed notebooks, read as files: what GitHub, nbviewer and a new reader see.

Nothing is executed here (nbval runs the notebooks): these tests check that each stored
notebook is its source built with the current badge and install cell, that its outputs
come from the quick profile, that every figure has a static image a page without a kernel
can show, that progress bars are one final line each, and that no notebook trains a suite
when its committed results are missing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_notebooks  # noqa: E402
import notebook_outputs as NO  # noqa: E402

from okddip_edu import _repo  # noqa: E402

SOURCES = sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py"))
# 06 shows every suite at two scales, each with its table and figure (1.53 MB with all eight
# suites at both); the cap keeps any notebook quick to open on GitHub and Colab.
MAX_BYTES = 1_600_000


def _stored(src: Path):
    return nbformat.read(ROOT / "notebooks" / (src.stem + ".ipynb"), as_version=4)


def _displays(nb):
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type in ("display_data", "execute_result"):
                yield i, out


@pytest.fixture(params=SOURCES, ids=[s.stem[:2] for s in SOURCES])
def source(request) -> Path:
    return request.param


def test_there_are_seven_notebooks():
    assert len(SOURCES) == 7


def test_stored_notebook_is_its_source(source):
    built, stored = build_notebooks.build(source), _stored(source)
    assert [(c.cell_type, c.source) for c in stored.cells] == [
        (c.cell_type, c.source) for c in built.cells], (
        f"{source.stem}.ipynb is stale: python tools/build_notebooks.py {source.stem[:2]} "
        "--execute --profile quick")


def test_install_cell_and_badge_are_pinned_to_the_release(source):
    nb = _stored(source)
    text = "\n".join(c.source for c in nb.cells)
    assert f'%pip install -q "{_repo.install_requirement()}"' in text
    assert _repo.install_requirement().endswith(f"@{_repo.REF}")
    assert _repo.colab_url(source.stem + ".ipynb") in text
    assert "{{" not in text, "a placeholder was left unfilled"
    unpinned = re.findall(r"git\+https://\S+?(?=[\"\s])", text)
    assert all("@" in u.removeprefix("git+https://") for u in unpinned), unpinned


def test_outputs_come_from_the_quick_profile(source):
    nb = _stored(source)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", [])
                      if o.output_type == "stream")
    assert "profile: quick" in printed and "profile: smoke" not in printed


def test_every_figure_has_a_static_image(source):
    """A plotly figure carries a PNG; a widget showing a figure is followed by one."""
    nb = _stored(source)
    state = NO.widget_state(nb)
    blind = []
    for i, cell in enumerate(nb.cells):
        outputs = cell.get("outputs", [])
        for j, out in enumerate(outputs):
            data = out.get("data", {})
            view = data.get(NO.WIDGET)
            if NO.PLOTLY in data and NO.PNG not in data:
                blind.append(i)
            elif view and NO.figure_of_widget(state, view["model_id"]) is not None:
                after = outputs[j + 1] if j + 1 < len(outputs) else {}
                if NO.PNG not in after.get("data", {}) or NO.PNG in data:
                    blind.append(i)
    assert not blind, f"cells {blind} store a figure without a static image nbviewer shows"


def test_matplotlib_figures_were_drawn(source):
    """A figure drawn with MPLBACKEND=Agg stores only its text repr: no such leftovers."""
    nb = _stored(source)
    blank = [i for i, out in _displays(nb)
             if re.match(r"<Figure size .*with \d+ Axes>", out.data.get("text/plain", ""))
             and NO.PNG not in out.data]
    assert not blank, f"cells {blank} hold a matplotlib figure that was never drawn"


def test_progress_bars_are_one_final_line_each(source):
    nb = _stored(source)
    state = NO.widget_state(nb)
    bars = [i for i, out in _displays(nb) if NO.WIDGET in out.data
            and NO.progress_line(state, out.data[NO.WIDGET]["model_id"]) is not None]
    assert not bars, f"cells {bars} store a progress bar widget"
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") + out.get("data", {}).get("text/plain", "")
            assert not re.search(r"(?<![\d.])0%\|", text), f"a '0%' bar is stored: {text[:80]!r}"


def test_stored_size_is_reasonable(source):
    size = (ROOT / "notebooks" / (source.stem + ".ipynb")).stat().st_size
    assert size < MAX_BYTES, f"{source.stem}.ipynb is {size / 1e6:.2f} MB"


def test_no_suite_is_trained_unasked(source):
    """A cell that looks for the committed results also stops, with the command that makes
    them, when they are missing (course.no_results)."""
    for cell in _stored(source).cells:
        if cell.cell_type == "code" and "report.find_results(" in cell.source:
            assert "raise course.no_results(" in cell.source or any(
                "raise course.no_results(" in c.source for c in _stored(source).cells), (
                f"{source.stem} reads the committed results but never stops without them")
