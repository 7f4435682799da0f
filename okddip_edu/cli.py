"""Command line: ``okddip-edu train | evaluate | ablate | report | bench``.

Every config field is a flag of ``train`` (``--temperature``, ``--detach/--no-detach``,
``--aggregation``, ...), with the field's comment as help. Bad input exits non-zero with one
clear line, not a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import json
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

from . import rundir, signals
from .config import PRESETS, Config

# Modules that add their own sub-command through ``register(subparsers)``.
PLUGINS = ("okddip_edu.data.command", "okddip_edu.experiments", "okddip_edu.report",
           "okddip_edu.bench")


class CLIError(Exception):
    """A user error the command line reports in one line."""


def _field_help() -> dict[str, str]:
    """The one-line comment of every Config field, read from its source."""
    src = inspect.getsource(Config)
    return {m.group(1): m.group(2).strip()
            for m in re.finditer(r"^\s+(\w+): [^=]+=.*?#\s*(.+)$", src, re.M)}


def _bool_or_none(text: str) -> Any:
    return None if text.lower() == "none" else text


def add_config_flags(parser: argparse.ArgumentParser, skip: Sequence[str] = ()) -> None:
    """One flag per Config field; defaults are None so only given flags override a preset."""
    helps = _field_help()
    group = parser.add_argument_group("run configuration (overrides the preset)")
    for f in dataclasses.fields(Config):
        if f.name in skip or f.name == "preset":
            continue
        flag = "--" + f.name.replace("_", "-")
        help_ = helps.get(f.name, "")
        if f.type in ("bool", "bool | None") or isinstance(f.default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                               help=help_)
        elif f.name == "milestones":
            group.add_argument(flag, type=int, nargs="+", default=None, help=help_)
        elif isinstance(f.default, int) or "int" in str(f.type):
            group.add_argument(flag, type=int, default=None, help=help_)
        elif isinstance(f.default, float) or "float" in str(f.type):
            group.add_argument(flag, type=float, default=None, help=help_)
        else:
            group.add_argument(flag, type=str, default=None, help=help_)


def given_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields a user gave as flags."""
    fields = {f.name for f in dataclasses.fields(Config)}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if "milestones" in given:
        given["milestones"] = tuple(given["milestones"])
    return given


def config_from_args(args: argparse.Namespace, preset_name: str) -> Config:
    """The preset with the given flags on top; a flag the method would ignore is refused."""
    from .config import preset
    from .validation import ignored_flags

    given = given_fields(args)
    with warnings.catch_warnings(record=True) as caught:  # refused below, or shown after
        warnings.simplefilter("always")
        cfg = preset(preset_name, **given)
    ignored = ignored_flags(cfg, given)
    if ignored:
        raise CLIError("; ".join(ignored))
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return cfg


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage itself is on --help)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def format_table(rows: list[tuple[str, str]], title: str | None = None) -> str:
    width = max(len(k) for k, _ in rows)
    lines = [title] if title else []
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines)


def summary_rows(metrics: dict, prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for name in ["leader", "ens", "peer_mean"] + sorted(
            (k[len(prefix) + 5:] for k in metrics if k.startswith(prefix + "top1_b")),
            key=lambda s: int(s[1:])):
        key = f"{prefix}top1_{name}"
        if key in metrics:
            rows.append((f"top-1 {name}", f"{metrics[key]:.2f} %"))
    for key in ("div_l2", "div_disagree", "att_diag"):
        if f"{prefix}{key}" in metrics and metrics[f"{prefix}{key}"] == metrics[f"{prefix}{key}"]:
            rows.append((key, f"{metrics[prefix + key]:.4f}"))
    return rows


# train ---------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from .ddp import is_main_process, launched_fit  # torchrun: DDP; else engine.fit

    cfg = config_from_args(args, args.preset)
    out = Path(args.out) if args.out else Path("runs") / (
        f"{cfg.method}-{cfg.arch}-{cfg.dataset}-seed{cfg.seed}-{time.strftime('%Y%m%d-%H%M%S')}")
    if args.resume and not (out / "checkpoint.pt").exists():
        raise CLIError(f"--resume: no checkpoint in {out}; run without --resume to start it")
    args.run_out = out  # what an interruption's line speaks of
    main = is_main_process()  # under torchrun only rank 0 prints
    if main:
        branches = f"{cfg.num_branches} branch{'es' if cfg.num_branches > 1 else ''}"
        print(f"training {cfg.method} on {cfg.arch} ({cfg.resolved_layout}, {branches}), "
              f"{cfg.dataset}, {cfg.epochs} epochs -> {out}", flush=True)
    result = launched_fit(cfg, out, resume=args.resume, progress=not args.quiet)
    if not main:
        return 0
    summary = json.loads((out / "final.json").read_text())
    rows = summary_rows(summary["final"])
    rows.append(("best-epoch top-1 leader", f"{summary['best']['top1_leader']:.2f} % "
                 f"(epoch {summary['best_epoch']})"))
    rows.append(("wall time", f"{summary['wall_time_s']:.1f} s"))
    print(format_table(rows, f"final epoch ({summary['final_epoch']}) on the validation split "
                             f"of {cfg.dataset}:"))
    print(f"run directory: {result.out_dir}")
    return 0


# evaluate ------------------------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    from . import data
    from .engine import evaluate, resolve_device
    from .factory import load_run

    if args.batch_size < 1:
        raise CLIError(f"--batch-size={args.batch_size} is not valid; it must be >= 1")
    device = resolve_device(args.device)
    run_dir = rundir.check_out_dir(args.run_dir) if Path(args.run_dir).is_dir() else None
    model, method, cfg = load_run(args.run_dir, map_location=device)
    model.to(device)
    edited = _edited_fields(Path(args.run_dir), cfg)
    if edited:
        print(f"note: config.json differs from the checkpoint's config in {', '.join(edited)}; "
              "evaluating with the checkpoint's", file=sys.stderr)
    source = args.data
    if source.endswith(".npz") or Path(source).is_file():
        x, y = data.load_npz(source)
        if int(y.max()) >= model_num_classes(model) or int(y.min()) < 0:
            raise CLIError(f"{source}: labels must be in 0..{model_num_classes(model) - 1} for "
                           f"this model, got {int(y.min())}..{int(y.max())}")
        mean, std = (data.CIFAR100_MEAN, data.CIFAR100_STD) if cfg.dataset == "cifar100" \
            else (data.CIFAR10_MEAN, data.CIFAR10_STD)
        name = Path(source).stem
    else:
        ecfg = cfg.replace(dataset=source, train_subset=None, npz=args.npz or cfg.npz)
        splits = data.load(ecfg)
        if splits.num_classes != model_num_classes(model):
            raise CLIError(f"{source} has {splits.num_classes} classes; the run's model predicts "
                           f"{model_num_classes(model)}")
        x, y, mean, std, name = splits.val_x, splits.val_y, splits.mean, splits.std, source
    loader = data.DeviceLoader(x, y, args.batch_size, mean, std, device=device, train=False)
    with torch.no_grad():
        metrics = evaluate(model, method, loader, device, amp=cfg.amp,
                           cpu_amp=cfg.cpu_amp)
    metrics["images"] = len(y)
    path = run_dir / f"eval-{name}.json"
    rundir.write_text(path, json.dumps({"data": source, **metrics}, indent=2))
    print(format_table(summary_rows(metrics), f"{args.run_dir} on {source} ({len(y)} images):"))
    print(f"written: {path}")
    return 0


def _edited_fields(run_dir: Path, cfg: Config) -> list[str]:
    """Fields where run_dir/config.json (if readable) differs from the checkpoint's config."""
    try:
        written = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(written, dict):
        return ["(not a JSON object)"]
    saved = cfg.to_dict()
    return sorted(k for k in set(written) | set(saved) if written.get(k) != saved.get(k))


def model_num_classes(model) -> int:
    from .models.group import NetworkGroup

    net = model.nets[0] if isinstance(model, NetworkGroup) else model
    return net.peers[0].classifier.out_features


# parser --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = Parser(
        prog="okddip-edu", description="Online Knowledge Distillation with Diverse Peers: "
        "train, evaluate, ablate, report, benchmark.")
    parser.add_argument("--version", action="version", version=f"okddip-edu {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("train", help="train one run; writes a run directory",
                       description="Train one method on one architecture. Writes config.json, "
                       "history.csv, checkpoint.pt and final.json into the run directory. Exit "
                       "status: 2 bad input, 3 the run diverged (the last healthy epoch is kept), "
                       "130 Ctrl-C, 143 SIGTERM (both resumable with --resume). Under torchrun "
                       "(WORLD_SIZE > 1) one run on N processes.")
    p.add_argument("--preset", choices=PRESETS, default="quick",
                   help="starting configuration (default: quick)")
    p.add_argument("--out", help="run directory (default: runs/<method>-<arch>-...)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_config_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a run's final model",
                       description="Top-1 accuracy of a run's leader, branches and ensemble on "
                       "a dataset's validation/test split or on an .npz holding x and y. The "
                       "checkpoint's own config decides what is built: an edited config.json "
                       "is ignored (a note says where it differs), as is an unreadable one. A "
                       "checkpoint whose logits are not finite is refused.")
    p.add_argument("run_dir", help="a run directory written by train")
    p.add_argument("--data", required=True, help="dataset name (cifar10, cifar100, cifar10-5k, "
                   "synthetic) or path of an .npz with x (uint8 N x 3 x 32 x 32) and y")
    p.add_argument("--npz", help="cifar10-5k source file, if not in $OKDDIP_CIFAR10_5K")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.set_defaults(func=cmd_evaluate)

    for name in PLUGINS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    with signals.terminate_as_interrupt():  # SIGTERM: one line and exit 143, as Ctrl-C
        try:
            return _main(argv)
        except KeyboardInterrupt as err:  # while loading the command's modules: nothing ran
            from .constants import STARTING
            print(STARTING, file=sys.stderr)
            return signals.exit_status(err)


def interrupted(args: argparse.Namespace, err: BaseException) -> str:
    """The one line after Ctrl-C or SIGTERM: what is kept and how to go on."""
    head = f"okddip-edu {args.command}: {signals.what(err)}"
    out = getattr(args, "run_out", None)
    if args.command == "train" and out is not None and not (out / "checkpoint.pt").exists():
        return (f"{head} before the first epoch finished, so there is nothing to resume: run "
                "the same command without --resume to start over")
    if args.command == "train":
        return f"{head}; the last finished epoch is saved (continue with --resume)"
    if args.command == "ablate":
        return f"{head}; finished runs are kept (run the same command to continue)"
    return f"{head}; run the same command again"


def _main(argv: Sequence[str] | None) -> int:
    from .checkpoint import CheckpointError
    from .data import DataUnavailableError

    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error already printed
        return stop.code if isinstance(stop.code, int) else 2
    if extras:
        print(f"okddip-edu {args.command}: error: unrecognized arguments: {' '.join(extras)} "
              "(see --help)", file=sys.stderr)
        return 2
    expected = (CLIError, ValueError, OSError, CheckpointError, DataUnavailableError)
    try:
        return int(args.func(args) or 0)
    except expected as err:
        print(f"okddip-edu {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print(interrupted(args, err), file=sys.stderr)
        return signals.exit_status(err)
    except RuntimeError as err:  # includes TrainingDiverged
        if type(err).__name__ == "TrainingDiverged":
            print(f"okddip-edu {args.command}: error: {err}", file=sys.stderr)
            return 3
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
