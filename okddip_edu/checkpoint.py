"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint holds plain tensors and Python containers only (no pickled objects):

    {"format": 1, "epoch": e, "config": {...}, "model": state_dict, "method": state_dict,
     "optimizer": state_dict, "history": [row, ...]}

It is written to ``checkpoint.pt.tmp`` and renamed, so an interruption while saving leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

FORMAT = 1


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit the run; the message says why."""


def save_atomic(obj: Any, path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


REQUIRED = ("epoch", "config", "model", "method", "optimizer", "history")


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict:
    """A checkpoint's contents, checked: readable as plain tensors, our format, every key."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        if isinstance(err, pickle.UnpicklingError) and "Unsupported global" in str(err):
            raise CheckpointError(f"{path} holds Python objects, not only tensors; okddip_edu "
                                  "does not unpickle those (they can run code). Delete it to "
                                  "start the run over") from None
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__}); "
                              "delete it to start the run over") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an okddip_edu checkpoint of format {FORMAT}")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}; it was not written by "
                              "okddip_edu's engine. Delete it to start the run over")
    return state


def nonfinite(*modules: torch.nn.Module) -> list[str]:
    """Names of the parameters and buffers holding NaN or infinity (empty: all finite)."""
    bad = []
    for module in modules:
        for name, t in [*module.named_parameters(), *module.named_buffers()]:
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                bad.append(name)
    return bad


def restore(state: dict, model, method, optimizer=None) -> None:
    """Load weights (and optimizer state) into freshly built objects, with a clear error."""
    try:
        model.load_state_dict(state["model"])
        method.load_state_dict(state["method"])
        if optimizer is not None:
            optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, KeyError, ValueError) as err:
        cfg = state.get("config", {})
        raise CheckpointError(
            "checkpoint does not fit this model: it was written for "
            f"arch={cfg.get('arch')!r}, method={cfg.get('method')!r}, "
            f"branches={cfg.get('branches')!r}, layout={cfg.get('layout')!r} "
            f"({str(err).splitlines()[0]})") from err
