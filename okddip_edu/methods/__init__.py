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
    check_options(name, branches, options)
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


def check_options(name: str, branches: Any, options: dict[str, Any]) -> None:
    """The Python API's guard: the same rules the config enforces, one line per problem."""
    import math

    low = {"okddip": 3, "baseline": 1, "kd": 1}.get(name, 2)
    if isinstance(branches, bool) or not isinstance(branches, int) or not low <= branches <= 9:
        raise ValueError(f"branches={branches!r} is not valid for method {name!r}; allowed: "
                         f"{low}..9")
    for key, lowest, open_ in (("temperature", 0.0, True), ("alpha", 0.0, False)):
        v = options.get(key, 1.0)
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or (v <= lowest if open_ else v < lowest):
            raise ValueError(f"{key}={v!r} is not valid; it must be a finite number "
                             f"{'>' if open_ else '>='} {lowest}")
    rampup = options.get("rampup", 0)
    if isinstance(rampup, bool) or not isinstance(rampup, int) or rampup < 0:
        raise ValueError(f"rampup={rampup!r} is not valid; it must be an integer >= 0")
    for key in ("detach", "second_level", "mask_diagonal", "leader_in_peers"):
        if key in options and not isinstance(options[key], bool):
            raise ValueError(f"{key}={options[key]!r} is not valid; use True or False")
    if options.get("ramp") is not None and not isinstance(options["ramp"], bool):
        raise ValueError(f"ramp={options['ramp']!r} is not valid; use True, False or None")


__all__ = ["Method", "REGISTRY", "build", "check_options"]
