"""Strict reading of a suite's tables: a row that does not fit is set aside, never multiplied.

``results.csv`` and ``histories.csv`` are merged with what a folder already holds each time
a suite runs (:mod:`.tables`), and read by ``okddip-edu report``. A row that does not fit
the table (a hand edit, a line appended by another tool, a torn copy) would otherwise turn a
whole column into text, so the merge key no longer matches and every rerun appends new
copies of the good rows. :func:`read_table` accepts a row only when

- it has exactly as many fields as the header;
- its key (suite, variant, seed[, epoch]) and ``run`` are filled, seed and epoch integers
  >= 0;
- every other field is a number or empty, except the text columns (:data:`TEXT`);
- in ``results.csv``, both leader accuracies are finite numbers;
- its key has not been seen above it (the first row of a key is kept).

Rows that fail are appended, verbatim, to ``<table>.rejected`` beside the table, the table is
rewritten without them (its good lines verbatim, so rewriting is idempotent), and one line
says so. A header that lacks the key columns, or a file that is not text, is one error that
names the file.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Callable

import pandas as pd

from ..rundir import RunDirError

RESULTS_KEY = ("suite", "variant", "seed")
HISTORIES_KEY = ("suite", "variant", "seed", "epoch")
# Columns that hold text; every other column holds numbers (or nothing).
TEXT = {"suite", "variant", "dataset", "arch", "method", "device", "torch", "okddip_edu", "run"}
FINITE = {"results.csv": ("best_top1_leader", "final_top1_leader")}  # must be finite there
INTEGER = {"seed", "epoch", "epochs", "best_epoch"}


def key_of(path: Path) -> tuple[str, ...]:
    return HISTORIES_KEY if path.name.startswith("histories") else RESULTS_KEY


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _problem(fields: list[str], header: list[str], required: tuple[str, ...],
             finite: tuple[str, ...]) -> str | None:
    """Why a row does not fit the table, or None."""
    if len(fields) != len(header):
        return f"{len(fields)} fields, the header has {len(header)}"
    row = dict(zip(header, fields))
    for name in required:
        if not row[name].strip():
            return f"{name} is empty"
    for name, value in row.items():
        if name in INTEGER and value and not value.strip().isdigit():
            return f"{name}={value!r} is not an integer >= 0"
        if name not in TEXT and value and _number(value) is None:
            return f"{name}={value!r} is not a number"
    for name in finite:
        number = _number(row.get(name, "")) if name in row else None
        if number is None or not math.isfinite(number):
            return f"{name}={row.get(name)!r} is not a finite number"
    return None


def read_table(path: str | os.PathLike, log: Callable[[str], None] = print,
               set_aside: bool = True, required: tuple[str, ...] | None = None
               ) -> pd.DataFrame:
    """``path`` as a DataFrame of the rows that fit (see the module docstring).

    With ``set_aside`` the rows that do not fit are moved to ``<path>.rejected`` and the
    table is rewritten without them; either way one line (through ``log``) says how many.
    ``required``: the columns that must be present and filled (default: the key and run).
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise RunDirError(f"{path} is not a readable table (not UTF-8 text); delete it to "
                          "rebuild it") from None
    except IsADirectoryError:
        raise RunDirError(f"{path} is a folder, not a table; remove it to rebuild it") from None
    if "\x00" in text:
        raise RunDirError(f"{path} is not a readable table (it holds NUL bytes); delete it "
                          "to rebuild it")
    lines = [line.rstrip("\r") for line in text.split("\n")]
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise RunDirError(f"{path} is empty; delete it to rebuild it")
    header = _fields(lines[0])
    key = key_of(path)
    required = (*key, "run") if required is None else required
    missing = [c for c in required if header is None or c not in header]
    if missing:
        raise RunDirError(f"{path} is not a {path.stem} table: its header lacks "
                          f"{', '.join(missing)}; delete it to rebuild it")
    finite = FINITE.get(path.name, ())
    good, rejected, reasons, seen = [], [], [], set()
    for line in lines[1:]:
        fields = _fields(line)
        why = "not CSV" if fields is None else _problem(fields, header, required, finite)
        if why is None:
            row = dict(zip(header, fields))
            k = tuple(row[c].strip() if c not in INTEGER else int(row[c] or -1)
                      for c in key if c in row)
            if k in seen:
                why = f"a second row for {', '.join(map(str, k))}"
            seen.add(k)
        if why is None:
            good.append(line)
        else:
            rejected.append(line)
            reasons.append(why)
    if rejected:
        aside = path.with_name(path.name + ".rejected")
        where = "left out"
        if set_aside:
            try:
                with open(aside, "a") as f:
                    f.write("".join(line + "\n" for line in rejected))
                _write_lines(path, [lines[0], *good])
                where = f"set aside in {aside}"
            except OSError as err:
                where = f"left out (could not set them aside: {err})"
        log(f"{path}: {len(rejected)} row(s) that do not fit the table {where} (first: "
            f"{reasons[0]})")
    return pd.read_csv(io.StringIO("\n".join([lines[0], *good]) + "\n"))


def _fields(line: str) -> list[str] | None:
    try:
        rows = list(csv.reader([line], strict=True))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


def _write_lines(path: Path, lines: list[str]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(line + "\n" for line in lines))
    os.replace(tmp, path)
