"""A run directory and its artefacts: what is in it, written so that nothing is ever half done.

    runs/okddip-resnet8/
        config.json     the run's Config (written when training starts)
        history.csv     one row per finished epoch
        checkpoint.pt   weights, optimizer, and the history again (the source of truth)
        final.json      final- and best-epoch metrics; its presence means "finished"

Every file is written beside its target and renamed over it, so an interruption leaves the
previous version, never a torn one. The checkpoint carries the whole history, so whatever
else is lost or cut short (a kill between the checkpoint and history.csv, a deleted or
truncated history.csv, a missing final.json) :func:`repair` rebuilds from it on resume, and
``final.json`` is written only once the last epoch is in the checkpoint.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from . import __version__, hardware


NAME_MAX = 255  # bytes in one file or folder name (ext4, APFS, NTFS)


class RunDirError(ValueError):
    """A run directory that cannot be written or read; the message names the file."""


def check_out_dir(path: str | os.PathLike, create: bool = True) -> Path:
    """``path`` as a folder this process can write into (created if missing, unless not
    ``create``), or one line saying why not: a file in the way, or no permission."""
    path = Path(path)
    longest = max(path.parts, key=len, default="")
    if len(longest.encode()) > NAME_MAX:
        raise RunDirError(f"output folder name {longest[:40]}... is not valid: it has "
                          f"{len(longest.encode())} bytes; a file system allows {NAME_MAX}")
    for parent in [path, *path.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise RunDirError(f"output folder {path} is not valid: {parent} is a file")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise RunDirError(f"output folder {path} is not valid: {parent} is not writable "
                                  "by this user; choose another --out")
            break
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RunDirError(f"output folder {path} is not valid: {err.strerror}") from None
    return path


RUN_FILES = ("config.json", "history.csv", "checkpoint.pt", "checkpoint.pt.tmp", "final.json")


def check_run_files(out: Path) -> None:
    """Each file of a run directory is a file (or absent): a folder in its place is one line."""
    for name in RUN_FILES:
        if (out / name).is_dir():
            raise RunDirError(f"{out / name} is a folder, not the run's file; remove it to "
                              "continue the run")


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (beside, then renamed)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_history(out: Path, rows: list[dict]) -> None:
    write_text(out / "history.csv", pd.DataFrame(rows).to_csv(index=False))


def read_json(path: Path, what: str = "") -> Any:
    """JSON from ``path``; a missing or garbled file raises one line that names it."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunDirError(f"{path} is missing{what}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunDirError(f"{path} is not valid JSON ({err}){what}") from None


def read_csv(path: Path, **kw) -> pd.DataFrame:
    """A CSV table; a garbled one raises one line that names it."""
    try:
        return pd.read_csv(path, **kw)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RunDirError(f"{path} is not a readable table ({first}); delete it to rebuild "
                          "it") from None


def versions() -> dict[str, str]:
    import torchvision

    return {"okddip_edu": __version__, "torch": torch.__version__,
            "torchvision": torchvision.__version__, "python": platform.python_version()}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({hardware.cpu_model()}, {torch.get_num_threads()} threads)"


def summarize(history: pd.DataFrame, cfg, device: torch.device | None = None) -> dict:
    """Final-epoch and best-epoch metrics of a history (both, labelled)."""
    last = history.iloc[-1]
    best_i = int(history["val_top1_leader"].idxmax())
    best = history.loc[best_i]
    keys = [c for c in history.columns if c.startswith("val_")]
    return {
        "final_epoch": int(last["epoch"]),
        "final": {k[4:]: float(last[k]) for k in keys},
        "best_epoch": int(best["epoch"]),
        "best": {k[4:]: float(best[k]) for k in keys},
        "wall_time_s": float(history["epoch_time"].sum()),
        "versions": versions(),
        "device": device_name(device) if device is not None else None,
        "config": cfg.to_dict(),
    }


def finish(out: Path, rows: list[dict], cfg, device: torch.device | None,
           extra: dict | None = None) -> None:
    """history.csv, then final.json (the summary, with ``extra`` merged in): the run is
    complete."""
    write_history(out, rows)
    summary = {**summarize(pd.DataFrame(rows), cfg, device), **(extra or {})}
    write_text(out / "final.json", json.dumps(summary, indent=2))


def repair(out: Path, rows: list[dict]) -> list[str]:
    """Make history.csv hold exactly the checkpoint's ``rows``; return what was wrong with it.

    A final.json that no longer matches (a finished run extended with more epochs) is
    removed: the run is not finished until its new last epoch is.
    """
    problems = []
    path = out / "history.csv"
    try:
        on_disk = pd.read_csv(path)
        if len(on_disk) != len(rows):
            problems.append(f"history.csv had {len(on_disk)} rows, the checkpoint {len(rows)}")
    except FileNotFoundError:
        problems.append("history.csv was missing")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError):
        problems.append("history.csv was unreadable")
    if problems:
        write_history(out, rows)
    final = out / "final.json"
    if final.exists() and rows:
        try:
            if json.loads(final.read_text()).get("final_epoch") != rows[-1]["epoch"]:
                final.unlink()
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            final.unlink()
            problems.append("final.json was unreadable")
    return problems
