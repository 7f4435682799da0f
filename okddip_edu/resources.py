"""Committed files that travel with the code: found in a clone or in an installed wheel.

The repository keeps the results of its experiment suites in ``assets/results/`` (CSV
tables, ``report.md``, PNG figures, ``PROVENANCE.md``), and may hold more such folders
(``assets/results-*``). A wheel carries a copy of each as ``okddip_edu/_assets/<name>/``
(``setup.py`` copies every ``assets/results*`` folder), so a notebook on Colab, where the
package is installed from git and no clone is around, reads the same files as one in a
clone::

    asset_dir("results")            # the folder, or None where neither place has it
    asset_dirs("results")           # every place looked at, in order
    display_path(folder)            # "assets/results" or "okddip_edu/_assets/results"

Lookup order: the repository checkout (``assets/<name>`` beside this package), then the
installed package's copy. The checkout comes first so that results a user regenerates in
a clone are the ones the notebooks read.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
REPO_ASSETS = PACKAGE.parent / "assets"  # a clone: assets/ beside okddip_edu/
PACKAGED_ASSETS = PACKAGE / "_assets"  # a wheel: the copies setup.py made


def asset_dirs(name: str) -> list[Path]:
    """The places a committed folder ``name`` (e.g. ``"results"``) is looked for, in order."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"name={name!r} is not valid; give a folder name of assets/, "
                         "e.g. 'results'")
    return [REPO_ASSETS / name, PACKAGED_ASSETS / name]


def asset_dir(name: str, required: str | None = None) -> Path | None:
    """The first existing place of the committed folder ``name``; with ``required`` (a file
    name), the first that holds that file. None where none does."""
    for d in asset_dirs(name):
        if d.is_dir() and (required is None or (d / required).is_file()):
            return d
    return None


def display_path(path: str | Path) -> str:
    """A short, machine-independent name for a folder, for printing: relative to the clone
    (``assets/results``) or to the installed package's parent
    (``okddip_edu/_assets/results``); any other path as given."""
    resolved = Path(path).resolve()
    for base in (REPO_ASSETS.parent, PACKAGE.parent):
        if resolved.is_relative_to(base):
            return resolved.relative_to(base).as_posix()
    return str(path)
