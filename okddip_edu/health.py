"""Is a run still healthy? Judged by what it computes, not only by finite weights.

A run can go wrong while every weight stays finite: with a huge learning rate the weights
grow to 1e28, the logits overflow to NaN, and every prediction becomes one class, so the
validation top-1 is exactly chance (10 % on CIFAR-10) while nothing looks broken. After
each epoch :func:`judge` reads the epoch's history row and the rows before it and names the
first of these that holds, or returns None:

1. **non-finite output**: a validation logit is NaN or infinite (:func:`count_nonfinite`,
   raised by :func:`okddip_edu.engine.evaluate` as :class:`NonFiniteLogits`), or a top-1 /
   top-5 metric or a training loss term is;
2. **exploding loss**: the epoch's mean training loss ``train_total`` exceeds
   ``LOSS_FACTOR`` x its start, the start being the first epoch's mean (or, during the
   first epoch, the loss of the very first batch, at initialisation):

       L_e > 3 * L_start

   SGD with a sane learning rate lowers the loss from its start: in every committed run
   (``assets/results`` and ``assets/results-course``, 81 runs, 4,020 epoch rows) no epoch's
   mean loss is above the first epoch's (largest ratio 1.0), and on the smoke preset even
   lr 2 (40 x the preset's) peaks at 1.16 x the first batch's loss before falling; a factor
   of 3 leaves that much room. Runs that no longer learn overshoot it: lr 10 reaches 4 to
   6 x with accuracy at chance, lr 30 about 100 x in its first epoch (2.6e9 later);
3. **collapse to chance**: the leader's and the ensemble's validation top-1 both fall to
   at most ``CHANCE_FACTOR`` x chance (100/C %) after an earlier epoch had the leader at
   ``ABOVE_FACTOR`` x chance or more:

       top1_leader_e <= 1.2 * 100/C  and  top1_ens_e <= 1.2 * 100/C  and
       max_{e' < e} top1_leader_e' >= 2 * 100/C

   A network that predicts one class scores exactly chance on a balanced split; one that
   learned something (twice chance) does not return there while training normally. The
   committed runs never come close: their lowest leader top-1 is 16.6 % (C = 10, the line
   is 12 %), and no run that reached 20 % falls back at all.

``tests/test_health.py`` replays every epoch of every committed run through :func:`judge`
and checks that it never fires.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

LOSS_FACTOR = 3.0  # mean training loss above 3 x its start: exploding
CHANCE_FACTOR = 1.2  # leader and ensemble top-1 at most 1.2 x chance: collapsed...
ABOVE_FACTOR = 2.0  # ...after the leader had reached 2 x chance


class NonFiniteLogits(ValueError):
    """A model's logits on some data hold NaN or infinity: its metrics mean nothing."""


def count_nonfinite(logits: torch.Tensor) -> torch.Tensor:
    """How many entries of ``logits`` are NaN or infinite (a 0-d tensor, no host sync)."""
    return (~torch.isfinite(logits)).sum()


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def judge(rows: Sequence[dict], row: dict, num_classes: int,
          start_loss: float | None = None) -> str | None:
    """What is wrong with epoch ``row`` given the epochs before it (``rows``), or None.

    ``start_loss``: the loss of the run's first batch, used while there is no earlier epoch.
    """
    checked = [k for k in row if k.startswith(("val_top1_", "val_top5_", "train_"))]
    bad = [k for k in checked if not _finite(row[k])]
    if bad:
        return f"{bad[0]} is {row[bad[0]]} ({len(bad)} value(s) not finite)"
    loss = row.get("train_total")
    start = rows[0].get("train_total") if rows else start_loss
    if _finite(loss) and _finite(start) and start > 0 and loss > LOSS_FACTOR * start:
        return (f"the mean training loss exploded to {loss:.4g}, more than {LOSS_FACTOR:g} x "
                f"its start ({start:.4g})")
    chance = 100.0 / num_classes
    leader, ens = row.get("val_top1_leader"), row.get("val_top1_ens")
    best = max((r.get("val_top1_leader", -1.0) for r in rows), default=-1.0)
    if (_finite(leader) and _finite(ens) and leader <= CHANCE_FACTOR * chance
            and ens <= CHANCE_FACTOR * chance and best >= ABOVE_FACTOR * chance):
        return (f"validation top-1 collapsed to chance (leader {leader:.2f} %, ensemble "
                f"{ens:.2f} %, chance {chance:.2f} %) after reaching {best:.2f} %")
    return None
