r"""Distillation losses: the temperature-softened KL divergence and the ramp-up weight.

Knowledge distillation (Hinton et al. 2015) softens both distributions with a temperature T,

    p(z; T) = softmax(z / T),

and lets the student match the teacher with

    KL_T(teacher -> student) = T^2 * (1/B) * sum_i KL( p(z_t^i; T) || p(z_s^i; T) ).

Two details decide whether the loss is right:

- **T^2**: the gradient of the softened KL w.r.t. the student logits scales as 1/T^2
  (exactly 1/T for the softmax and roughly 1/T again for the softened targets), so T^2 keeps
  the distillation gradient on the same scale as the cross-entropy when T changes.
- **batchmean**: the KL is summed over the C classes and averaged over the B samples.
  ``F.kl_div(..., reduction="mean")`` averages over B*C elements instead: the loss is C times
  too small. It is the most common distillation bug.

The ramp-up weight of Temporal Ensembling (Laine & Aila 2017) fades the distillation in:

    w(e) = exp(-5 (1 - min(e, L) / L)^2),   w(0) = e^-5,  w(L/2) = e^-1.25,  w(L) = 1.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float,
            detach: bool = False) -> torch.Tensor:
    """T^2 * KL(p(teacher; T) || p(student; T)), summed over classes, averaged over the batch.

    ``student_logits``, ``teacher_logits``: (B, C). With ``detach=True`` no gradient reaches
    the teacher (a stop-gradient on the target).
    """
    if temperature <= 0:
        raise ValueError(f"temperature={temperature!r} is not valid; it must be > 0")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} must have the same shape (B, C)")
    if detach:
        teacher_logits = teacher_logits.detach()
    T = temperature
    log_p_student = F.log_softmax(student_logits.float() / T, dim=-1)  # (B, C)
    log_p_teacher = F.log_softmax(teacher_logits.float() / T, dim=-1)  # (B, C)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return kl * T * T


def kd_loss_probs(student_logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float,
                  detach: bool = False) -> torch.Tensor:
    """Like :func:`kd_loss`, with a teacher given as (already softened) probabilities (B, C).

    Used when peers are aggregated in probability space instead of logit space.
    """
    if detach:
        teacher_probs = teacher_probs.detach()
    T = temperature
    log_p_student = F.log_softmax(student_logits.float() / T, dim=-1)  # (B, C)
    kl = F.kl_div(log_p_student, teacher_probs.float(), reduction="batchmean")
    return kl * T * T


def ramp_up(epoch: float, length: int = 80) -> float:
    """w(e) = exp(-5 (1 - min(e, L)/L)^2); 1 everywhere when ``length`` is 0."""
    if length < 0:
        raise ValueError(f"length={length!r} is not valid; it must be >= 0")
    if length == 0:
        return 1.0
    progress = min(max(epoch, 0.0), length) / length
    return math.exp(-5.0 * (1.0 - progress) ** 2)
