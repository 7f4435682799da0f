"""Online-distillation methods: each maps a group's output to named loss terms.

>>> method = build("okddip", num_classes=100, branches=4, feature_dim=64)
>>> terms = method(out, y, epoch=0)   # {"ce", "dis1", "dis2", "total"}

Names: baseline, independent, dml, cl-ilr, one, okddip, kd.
"""

from __future__ import annotations

from typing import Any

from ..config import METHODS
from .base import Method
from .baseline import Baseline, Independent
from .dml import CLILR, DML
from .kd import KD
from .okddip import OKDDip
from .one import ONE

REGISTRY: dict[str, type[Method]] = {
    "baseline": Baseline, "independent": Independent, "dml": DML, "cl-ilr": CLILR,
    "one": ONE, "okddip": OKDDip, "kd": KD,
}
assert tuple(REGISTRY) == METHODS


def build(name: str, num_classes: int | None = None, branches: int = 4, *,
          feature_dim: int | None = None, trunk_dim: int | None = None,
          **options: Any) -> Method:
    """Build method ``name``. ``options`` are the method's switches (temperature, detach, ...).

    ``num_classes`` is accepted for symmetry with :func:`okddip_edu.models.build`.
    """
    if name not in REGISTRY:
        raise ValueError(f"method={name!r} is not valid; choose one of: {', '.join(REGISTRY)}")
    cls = REGISTRY[name]
    if name == "okddip":
        if feature_dim is None:
            raise ValueError("okddip needs feature_dim (the branches' pooled feature size d)")
        return cls(branches, feature_dim=feature_dim, trunk_dim=trunk_dim, **options)
    if name == "one":
        if trunk_dim is None:
            raise ValueError("one needs trunk_dim (the channels of the trunk feature)")
        return cls(branches, trunk_dim=trunk_dim, **options)
    if name == "baseline":
        branches = 1
    return cls(branches, **options)


__all__ = ["Method", "REGISTRY", "build"]
