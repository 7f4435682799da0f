"""Plain values that several modules read; this module imports nothing of the package.

It keeps the imports one-way: ``config`` builds on these choices and calls
``validation``, which checks against the same choices without importing ``config``; the
``okddip-edu`` entry point (``_entry``) and the command (``cli``) print the same start-up
line without importing each other. ``okddip_edu.config`` re-exports the choices, so
``from okddip_edu.config import ARCHITECTURES`` keeps working.
"""

from __future__ import annotations

# --- the allowed values of Config's fields with a fixed set of choices ---
DATASETS = ("cifar10", "cifar100", "cifar10-5k", "synthetic")
ARCHITECTURES = (
    "resnet8", "resnet14", "resnet20", "resnet32", "resnet110",
    "wrn20-8", "vgg16", "densenet40-12", "resnet34",
)
METHODS = ("baseline", "independent", "dml", "cl-ilr", "one", "okddip", "kd")
LAYOUTS = ("single", "branch", "network")
AGGREGATIONS = ("attention", "mean", "gate", "none")
SCHEDULES = ("multistep", "cosine")
DML_TARGETS = ("mean-logits", "pairwise-kl")
AGGREGATE_SPACES = ("logits", "probs")
DEVICES = ("auto", "cpu", "cuda")
INITS = ("released", "kaiming-fan-out")
VGG_FEATURES = ("conv", "mlp")
PRESETS = ("paper", "course", "quick", "smoke")

# Config.milestones' default (the paper's lr steps); validation compares against it.
DEFAULT_MILESTONES: tuple[int, ...] = (150, 225)

# What the command prints when Ctrl-C arrives while it is still loading (exit code 130).
STARTING = "okddip-edu: interrupted while starting; nothing was written"
