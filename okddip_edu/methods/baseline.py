"""Baseline (one network, CE only) and independent branches (CE on every branch).

    baseline:     L = CE(z, y)
    independent:  L = sum_i CE(z_i, y)       n branches on a shared trunk, no distillation
"""

from __future__ import annotations

from .base import Method


class Baseline(Method):
    name = "baseline"

    @property
    def leader(self) -> int | None:
        return 0

    def forward(self, out, y, epoch, x=None):
        ce = self.cross_entropy(out.logits, y)
        return {"ce": ce, "total": ce}


class Independent(Method):
    name = "independent"

    def forward(self, out, y, epoch, x=None):
        ce = self.cross_entropy(out.logits, y)
        return {"ce": ce, "total": ce}
