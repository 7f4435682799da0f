"""Every notebook teaches with exercises: at least two, each with what the student should
expect and a worked solution that runs.

The sources (``notebooks/src``) are read as the builder reads them. An exercise is a markdown
cell under the ``## Exercises`` heading that starts with ``**Exercise N**`` and says what to
expect (``Expected:``); its solution is the next code cell, tagged ``solution``
(``# %% tags=["solution"]``), stored collapsed. nbval runs every solution like any other
cell, so none can crash, and a "Try it" that asks for code is an exercise with a solution,
not a prompt left to fail.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
build_notebooks = pytest.importorskip("build_notebooks")

SOURCES = sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py"))
EXERCISE = re.compile(r"^\*\*Exercise (\d+)\*\*", re.M)


def _cells(src: Path):
    return build_notebooks.build(src).cells


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem[:2])
def test_each_notebook_has_two_exercises_with_expectations_and_solutions(src):
    cells = _cells(src)
    heading = [i for i, c in enumerate(cells)
               if c.cell_type == "markdown" and re.search(r"^## Exercises", c.source, re.M)]
    assert heading, f"{src.name}: no '## Exercises' section"
    exercises = [i for i, c in enumerate(cells)
                 if i > heading[0] and c.cell_type == "markdown" and EXERCISE.search(c.source)]
    assert len(exercises) >= 2, f"{src.name}: {len(exercises)} exercise(s), want 2 or more"
    for i in exercises:
        text = cells[i].source
        assert "Expected:" in text, f"{src.name}: exercise without 'Expected:'\n{text[:200]}"
        nxt = cells[i + 1]
        assert nxt.cell_type == "code" and "solution" in nxt.metadata.get("tags", []), \
            f"{src.name}: exercise not followed by a solution cell\n{text[:200]}"
        assert nxt.metadata["jupyter"]["source_hidden"] is True


def test_some_exercises_ask_for_code():
    """Across the course, students write code: a loss by hand, an aggregator variant, a
    diversity measure."""
    text = "\n".join(c.source for src in SOURCES for c in _cells(src) if c.cell_type == "markdown")
    for topic in ("loss", "aggregat", "diversity"):
        assert re.search(rf"\*\*Exercise \d+\*\*[^\n]*(?:write|implement|code)[^\n]*{topic}",
                         text, re.I), f"no exercise asks to write code for: {topic}"


def test_try_it_prompts_hold_no_code_left_to_fail():
    """A "Try it" may suggest things to look at; code to run lives in an exercise's solution."""
    for src in SOURCES:
        for c in _cells(src):
            if c.cell_type == "markdown" and "**Try it**" in c.source:
                assert "nb.config(" not in c.source and "`fit(" not in c.source, \
                    f"{src.name}: a Try it holds code without a solution that runs it"
