"""okddip_edu: learn, teach and trust Online Knowledge Distillation with Diverse Peers.

The library flows one way::

    config -> data -> models -> aggregation / losses -> methods -> engine -> history
           -> metrics, plots and widgets -> notebooks

>>> from okddip_edu import models, aggregation, losses, methods, metrics
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "aggregation", "cli", "config", "data", "engine", "experiments", "factory", "losses",
    "methods", "metrics", "models", "plots", "report", "widgets", "bench", "checkpoint",
)


def __getattr__(name: str):
    # Submodules load on first use, so `okddip-edu --help` starts fast.
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__", *_SUBMODULES]
