"""Shipped runs: the trained seed-0 runs the notebooks need, loaded instead of retrained.

A class on laptops should not wait minutes for every notebook to retrain the same run.
The runs a notebook would train (the profile's OKDDip group, the baseline of notebook 01,
the live run of notebook 03) travel with the package as small files, one per run, in
``assets/pretrained/`` (a wheel carries them as ``okddip_edu/_assets/pretrained/``)::

    result = pretrained.fit_or_load(cfg)                   # the shipped run if there is one
    result = pretrained.fit_or_load(cfg, train_live=True)  # train it here, as engine.fit

A run is found by what it computes: the file is named by
:func:`okddip_edu.experiments.suites.run_key` of its config, so any change of a field that
changes the run (seed, epochs, temperature, ...) finds no file and trains live. The file
holds plain tensors and containers only, read with ``torch.load(weights_only=True)``::

    {"format": 1, "config": {...}, "model": state_dict, "method": state_dict,
     "history": [row, ...], "made_with": {"torch": ..., "okddip_edu": ..., "device": ...}}

Loading gives the same :class:`~okddip_edu.engine.FitResult` as training (model and method
in eval mode, the history, the data); ``on_epoch_end`` is replayed over the history, so a
live plot draws the run's curves as if it had trained. ``tools/ship_runs.py`` makes the files.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from . import data, resources
from .config import Config
from .engine import FitResult, fit, resolve_device
from .experiments.suites import run_key
from .factory import build

FORMAT = 1
FOLDER = "pretrained"  # assets/pretrained in a clone, okddip_edu/_assets/pretrained in a wheel


class ShippedRunError(RuntimeError):
    """A shipped run's file that cannot be read or does not fit its config."""


def path_of(cfg: Config) -> Path | None:
    """The shipped file of the run ``cfg`` computes, or None where none is shipped."""
    for folder in resources.asset_dirs(FOLDER):
        candidate = folder / f"{run_key(cfg)}.pt"
        if candidate.is_file():
            return candidate
    return None


def save(result: FitResult, folder: str | Path) -> Path:
    """Write a finished run as a shipped file in ``folder``; return its path."""
    from . import __version__

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_key(result.config)}.pt"
    state = {"format": FORMAT, "config": result.config.to_dict(),
             "model": {k: v.detach().cpu().contiguous() for k, v in
                       result.model.state_dict().items()},
             "method": {k: v.detach().cpu() for k, v in result.method.state_dict().items()},
             "history": result.history.to_dict(orient="records"),
             "made_with": {"torch": str(torch.__version__), "okddip_edu": __version__,
                           "threads": torch.get_num_threads()}}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    return path


def load(cfg: Config, splits: data.Splits | None = None, path: str | Path | None = None
         ) -> FitResult:
    """The shipped run of ``cfg`` as a FitResult (raises FileNotFoundError where none is
    shipped). ``splits``: the dataset already loaded (the training subset is applied as
    :func:`~okddip_edu.engine.fit` would)."""
    path = Path(path) if path is not None else path_of(cfg)
    if path is None:
        looked = ", ".join(map(str, resources.asset_dirs(FOLDER)))
        raise FileNotFoundError(f"no shipped run for this config (looked for "
                                f"{run_key(cfg)}.pt in {looked})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ShippedRunError(f"{path} is not a readable shipped run ({type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ShippedRunError(f"{path} is not a shipped run of format {FORMAT}")
    saved = Config.from_dict(state["config"])
    if run_key(saved) != run_key(cfg):
        raise ShippedRunError(f"{path} was trained with another config than the one asked for")
    splits = data.apply_subset(splits, cfg.train_subset) if splits is not None else data.load(cfg)
    model, method = build(cfg, splits.num_classes)
    model.load_state_dict(state["model"])
    method.load_state_dict(state["method"])
    device = resolve_device(cfg.device)
    model.to(device)
    method.to(device)
    if cfg.channels_last:  # as the engine keeps it, so evaluation runs the same kernels
        model.to(memory_format=torch.channels_last)
    return FitResult(pd.DataFrame(state["history"]), model.eval(), method.eval(), cfg, None,
                     splits)


def fit_or_load(cfg: Config, *, train_live: bool = False, splits: data.Splits | None = None,
                on_epoch_end: Callable[[dict, pd.DataFrame], None] | None = None,
                progress: bool = True) -> FitResult:
    """The shipped run of ``cfg`` where one exists and ``train_live`` is False; else train it
    with :func:`~okddip_edu.engine.fit`. Either way ``on_epoch_end(row, history)`` is called
    once per epoch, and one line says which it was and how long it took."""
    if not isinstance(train_live, bool):
        raise TypeError(f"train_live={train_live!r} is not valid; use True or False")
    path = None if train_live else path_of(cfg)
    if path is None:
        if progress and not train_live:
            print("no shipped run of this config: training it here")
        return fit(cfg, splits=splits, on_epoch_end=on_epoch_end, progress=progress)
    t0 = time.perf_counter()
    result = load(cfg, splits, path)
    history = result.history
    if on_epoch_end is not None:  # replay: a live plot draws the stored curves
        for i in range(len(history)):
            on_epoch_end(history.iloc[i].to_dict(), history.iloc[:i + 1].reset_index(drop=True))
    if progress:
        trained = history["epoch_time"].sum() / 60 if "epoch_time" in history else float("nan")
        print(f"loaded the shipped run {resources.display_path(path)} in "
              f"{time.perf_counter() - t0:.1f} s ({len(history)} epochs; training it took "
              f"{trained:.1f} min where it was made); train_live=True (a notebook's TRAIN_LIVE "
              "switch) trains it here instead")
    return result
