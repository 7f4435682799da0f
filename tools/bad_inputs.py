"""A campaign of bad input, written from the README and ``--help`` as a careless user would
try it; prints what each case did and the counts.

    OMP_NUM_THREADS=1 python tools/bad_inputs.py [--only WORD] [--limit N] [--verbose]

Each case runs the command line in this process (``okddip_edu.cli.main``, fast: torch is
imported once), in a fresh folder, offline (``$OKDDIP_OFFLINE``), and is classed:

- **clean**: non-zero exit, exactly one line on stderr, starting ``okddip-edu``, no traceback
  and no warning;
- **traceback**: an exception escaped the command, or stderr holds a traceback;
- **accepted**: exit 0 (the input was taken as valid; see the list printed at the end);
- **unclear**: non-zero exit with several lines, a warning, or a line that is not ours.

The cases: every ``train`` flag with values its help rules out, ``evaluate`` on broken run
folders and data files, ``ablate``, ``report`` on broken tables, ``data``, ``bench``, and
top-level mistakes. Training cases use the synthetic set and tiny settings, so an accepted
one costs about a second. The tables of ``tests/test_bad_inputs.py``,
``tests/test_reliability.py`` and ``tests/test_boundaries.py`` pin the cases that used to fail.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TINY = ["--preset", "smoke", "--quiet", "--device", "cpu", "--dataset", "synthetic", "--width",
        "2", "--train-subset", "64", "--batch-size", "32", "--epochs", "1"]
INT_BAD = ["-1", "0", "abc", "", "1.5", "nan", "9" * 30, "-9", "0x10", "1e3"]
FLOAT_BAD = ["-1", "nan", "inf", "-inf", "1e308", "1e39", "abc", "", "-1e-9", "1,5"]
STR_BAD = ["", "bogus", " ", "NONE", "../x", "cifar10;rm"]


def config_flag_cases() -> list[tuple[str, list[str], dict]]:
    """Every Config field's flag with values its type or help rules out."""
    from okddip_edu.config import Config

    cases = []
    for f in dataclasses.fields(Config):
        if f.name == "preset":
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = str(f.type)
        if isinstance(f.default, bool) or "bool" in kind:
            values = [[flag, "yes"], [flag + "=1"]]
        elif f.name == "milestones":
            values = [[flag, v] for v in ("-1", "0", "abc", "5", "3 2")] + [[flag]]
        elif "int" in kind:  # 0 is allowed where the field counts from 0 (seed, rampup)
            values = [[flag, v] for v in INT_BAD if not (v == "0" and f.name in ("seed",
                                                                                  "rampup"))]
        elif "float" in kind:
            values = [[flag, v] for v in FLOAT_BAD]
        else:
            values = [[flag, v] for v in STR_BAD]
        for v in values:
            cases.append((f"train {' '.join(v) or flag}", ["train", *TINY, *v, "--out", "OUT"],
                          {}))
    return cases


def make_files(d: Path, run: Path) -> dict[str, str]:
    """Broken files and folders a careless user produces, by placeholder name."""
    p: dict[str, Path] = {}
    (d / "text.txt").write_text("hello\n")
    p["TEXT"] = d / "text.txt"
    (d / "empty").mkdir()
    p["EMPTY_DIR"] = d / "empty"
    with zipfile.ZipFile(d / "members.npz", "w") as z:
        z.writestr("x", "a")
        z.writestr("y", "b")
    p["ZIP"] = d / "members.npz"
    np.savez(d / "nox.npz", a=np.zeros(3))
    p["NOX"] = d / "nox.npz"
    np.savez(d / "shape.npz", x=np.zeros((4, 32, 32, 3), np.uint8), y=np.zeros(4, np.int64))
    p["HWC"] = d / "shape.npz"
    np.savez(d / "floatx.npz", x=np.zeros((4, 3, 32, 32), np.float32), y=np.zeros(4, np.int64))
    p["FLOATX"] = d / "floatx.npz"
    np.savez(d / "fewy.npz", x=np.zeros((4, 3, 32, 32), np.uint8), y=np.zeros(3, np.int64))
    p["FEWY"] = d / "fewy.npz"
    np.savez(d / "negy.npz", x=np.zeros((4, 3, 32, 32), np.uint8), y=-np.ones(4, np.int64))
    p["NEGY"] = d / "negy.npz"
    np.savez(d / "bigy.npz", x=np.zeros((4, 3, 32, 32), np.uint8), y=np.full(4, 10))
    p["BIGY"] = d / "bigy.npz"
    np.savez(d / "floaty.npz", x=np.zeros((4, 3, 32, 32), np.uint8), y=np.zeros(4))
    p["FLOATY"] = d / "floaty.npz"
    np.savez(d / "zero.npz", x=np.zeros((0, 3, 32, 32), np.uint8), y=np.zeros(0, np.int64))
    p["ZERO"] = d / "zero.npz"
    np.save(d / "pickled.npy", np.array([{"a": 1}], dtype=object))
    os.replace(d / "pickled.npy", d / "pickled.npz")
    p["PICKLED"] = d / "pickled.npz"
    (d / "bin.npz").write_bytes(os.urandom(256))
    p["BIN"] = d / "bin.npz"
    p["MISSING"] = d / "missing.npz"
    p["RUN"] = run
    for name, damage in {"NOCKPT": "checkpoint.pt", "GARBLEDCKPT": "checkpoint.pt!",
                         "DIRHIST": "history.csv/", "DIRFINAL": "final.json/",
                         "DIRTMP": "checkpoint.pt.tmp/", "DIRCKPT": "checkpoint.pt/",
                         "BADCONFIG": "config.json!"}.items():
        copy = d / name.lower()
        shutil.copytree(run, copy)
        target = copy / damage.rstrip("/!")
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        if damage.endswith("/"):
            target.mkdir()
        elif damage.endswith("!"):
            target.write_bytes(b"\x00garbage\xff" * 10)
        p[name] = copy
    header = (ROOT / "assets/results/results.csv").read_text().splitlines()
    tables = {"T_EMPTYFILE": "", "T_HEADER": header[0] + "\n", "T_BINARY": "\x00\xff\xfe",
              "T_RAGGED": "a,b\n1,2,3\n", "T_GARBAGE": "\n".join(header[:3]) +
              "\ngarbage,row,with,too,few\n", "T_NANACC": header[0] + "\n" +
              header[1].replace(",52.7,52.7,", ",nan,nan,") + "\n",
              "T_ZEROSEED": header[0] + "\n" + header[1].replace(",attention,0,",
                                                                  ",attention,zero,") + "\n"}
    for name, text in tables.items():
        folder = d / name.lower()
        folder.mkdir()
        (folder / "results.csv").write_bytes(text.encode("utf-8", "surrogateescape")
                                             if "\x00" not in text else b"\x00\xff\xfe")
        p[name] = folder
    p["OUT"] = d / "out"
    p["LONG"] = d / ("n" * 300)
    p["UNDER_FILE"] = d / "text.txt" / "run"
    return {k: str(v) for k, v in p.items()}


def other_cases() -> list[tuple[str, list[str], dict]]:
    c: list[tuple[str, list[str], dict]] = []
    add = lambda name, argv, env=None: c.append((name, argv, env or {}))  # noqa: E731
    # top level
    add("no command", [])
    add("unknown command", ["trian"])
    add("unknown flag", ["train", "--widht", "4"])
    add("train --preset bogus", ["train", "--preset", "bogus"])
    add("train --out a file", ["train", *TINY, "--out", "TEXT"])
    add("train --out under a file", ["train", *TINY, "--out", "UNDER_FILE"])
    add("train --out 300 characters", ["train", *TINY, "--out", "LONG"])
    add("train over a finished run", ["train", *TINY, "--out", "RUN"])
    add("train --resume, nothing there", ["train", *TINY, "--out", "OUT", "--resume"])
    add("train --resume, no checkpoint", ["train", *TINY, "--out", "NOCKPT", "--resume"])
    for name in ("GARBLEDCKPT", "DIRHIST", "DIRFINAL", "DIRTMP", "DIRCKPT"):
        add(f"train --resume {name}", ["train", *TINY, "--epochs", "2", "--out", name,
                                       "--resume"])
    add("train --resume, other config", ["train", *TINY, "--width", "4", "--out", "RUN",
                                         "--resume"])
    add("train --resume, fewer epochs", ["train", *TINY, "--epochs", "0", "--out", "RUN",
                                         "--resume"])
    add("train --npz text", ["train", "--preset", "smoke", "--quiet", "--npz", "TEXT",
                             "--out", "OUT"])
    for name in ("ZIP", "NOX", "HWC", "FLOATX", "FEWY", "NEGY", "BIGY", "FLOATY", "ZERO",
                 "PICKLED", "BIN", "MISSING"):
        add(f"train --npz {name}", ["train", "--preset", "smoke", "--quiet", "--npz", name,
                                    "--out", "OUT"])
    add("train cifar10 offline", ["train", *TINY, "--dataset", "cifar10", "--out", "OUT"])
    add("train cifar100 offline", ["train", *TINY, "--dataset", "cifar100", "--out", "OUT"])
    add("train kd without teacher", ["train", *TINY, "--method", "kd", "--out", "OUT"])
    add("train kd teacher missing", ["train", *TINY, "--method", "kd", "--teacher", "MISSING",
                                     "--out", "OUT"])
    add("train kd teacher a file", ["train", *TINY, "--method", "kd", "--teacher", "TEXT",
                                    "--out", "OUT"])
    add("train kd teacher empty dir", ["train", *TINY, "--method", "kd", "--teacher",
                                       "EMPTY_DIR", "--out", "OUT"])
    add("train kd teacher garbled", ["train", *TINY, "--method", "kd", "--teacher",
                                     "GARBLEDCKPT", "--out", "OUT"])
    add("train lr 30 (diverges)", ["train", *TINY, "--lr", "30", "--out", "OUT"])
    add("train lr 1000 (diverges)", ["train", *TINY, "--lr", "1000", "--out", "OUT"])
    add("train batch larger than data", ["train", *TINY, "--batch-size", "100000",
                                         "--out", "OUT"])
    add("train WORLD_SIZE=two", ["train", *TINY, "--out", "OUT"], {"WORLD_SIZE": "two"})
    add("train RANK=-1", ["train", *TINY, "--out", "OUT"], {"RANK": "-1"})
    add("train LOCAL_RANK=x", ["train", *TINY, "--out", "OUT"], {"LOCAL_RANK": "x"})
    add("train cuda without GPU", ["train", *TINY, "--device", "cuda", "--out", "OUT"])
    add("train width 1000000", ["train", *TINY, "--width", "1000000", "--out", "OUT"])
    add("train branches 2 okddip", ["train", *TINY, "--branches", "2", "--out", "OUT"])
    add("train branches 10", ["train", *TINY, "--branches", "10", "--out", "OUT"])
    add("train baseline --temperature", ["train", *TINY, "--method", "baseline",
                                         "--temperature", "2", "--out", "OUT"])
    add("train cosine --milestones", ["train", *TINY, "--milestones", "1", "--out", "OUT"])
    add("train multistep --milestones 100", ["train", *TINY, "--schedule", "multistep",
                                             "--milestones", "100", "--out", "OUT"])
    add("train --layout single okddip", ["train", *TINY, "--layout", "single", "--out", "OUT"])
    add("train one --layout network", ["train", *TINY, "--method", "one", "--layout",
                                       "network", "--out", "OUT"])
    add("train gate --layout network", ["train", *TINY, "--aggregation", "gate", "--layout",
                                        "network", "--out", "OUT"])
    add("train --dropout resnet", ["train", *TINY, "--dropout", "0.5", "--out", "OUT"])
    add("train --val-size 5", ["train", "--preset", "smoke", "--quiet", "--val-size", "5",
                               "--out", "OUT"])
    add("train --val-size 6000", ["train", "--preset", "smoke", "--quiet", "--val-size",
                                  "6000", "--out", "OUT"])
    # evaluate
    for run in ("MISSING", "TEXT", "EMPTY_DIR", "NOCKPT", "GARBLEDCKPT", "DIRCKPT"):
        add(f"evaluate run {run}", ["evaluate", run, "--data", "synthetic", "--device", "cpu"])
    add("evaluate edited config", ["evaluate", "BADCONFIG", "--data", "synthetic", "--device",
                                   "cpu"])
    for data in ("bogus", "", "MISSING", "TEXT", "ZIP", "NOX", "HWC", "FLOATX", "FEWY", "NEGY",
                 "BIGY", "FLOATY", "ZERO", "PICKLED", "BIN", "EMPTY_DIR", "cifar10",
                 "cifar100"):
        add(f"evaluate --data {data or 'empty'}", ["evaluate", "RUN", "--data", data,
                                                    "--device", "cpu"])
    for bs in ("0", "-1", "abc", ""):
        add(f"evaluate --batch-size {bs}", ["evaluate", "RUN", "--data", "synthetic",
                                            "--batch-size", bs])
    add("evaluate --device tpu", ["evaluate", "RUN", "--data", "synthetic", "--device", "tpu"])
    add("evaluate cuda without GPU", ["evaluate", "RUN", "--data", "synthetic", "--device",
                                      "cuda"])
    add("evaluate without --data", ["evaluate", "RUN"])
    # ablate
    ab = ["ablate", "detach", "--preset", "smoke", "--dataset", "synthetic", "--quiet",
          "--dry-run", "--out", "OUT"]
    add("ablate bogus suite", ["ablate", "bogus", "--dry-run", "--out", "OUT"])
    add("ablate no suite", ["ablate"])
    for flag, values in {"--seeds": ["0", "-1", "abc", ""], "--epochs": ["0", "-1", "abc"],
                         "--variants": ["bogus", ",", "", "detach,bogus", " "],
                         "--preset": ["bogus"], "--dataset": ["bogus", ""],
                         "--arch": ["bogus", ""], "--device": ["tpu", ""],
                         "--executor": ["bogus"], "--gpus-per-run": ["-1", "nan", "abc"],
                         "--cpus-per-run": ["0", "-1", "nan", "inf"],
                         "--retries": ["-1", "-5", "abc"], "--out": ["TEXT", "UNDER_FILE",
                                                                     "LONG"],
                         "--npz": ["MISSING"]}.items():
        for v in values:
            add(f"ablate {flag} {v!r}", [*ab, flag, v])
    # report
    for name in ("MISSING", "TEXT", "EMPTY_DIR", "T_EMPTYFILE", "T_HEADER", "T_BINARY",
                 "T_RAGGED", "T_NANACC", "T_ZEROSEED"):
        add(f"report {name}", ["report", name])
    add("report --out a file", ["report", "T_GARBAGE", "--out", "TEXT"])
    add("report no dir", ["report"])
    # data
    add("data bogus", ["data", "bogus"])
    add("data cifar10 offline", ["data", "cifar10"])
    add("data cifar100 offline", ["data", "cifar100"])
    for name in ("MISSING", "TEXT", "ZIP", "NOX", "HWC", "PICKLED", "BIN", "EMPTY_DIR",
                 "ZERO"):
        add(f"data --npz {name}", ["data", "--npz", name])
    add("data --root a file", ["data", "cifar10", "--root", "TEXT"])
    add("data --root under a file", ["data", "cifar10", "--root", "UNDER_FILE"])
    # bench
    bench = ["bench", "--device", "cpu", "--out", "OUT", "--arch", "resnet8", "--width", "2",
             "--steps", "1", "--warmup", "0", "--images", "64", "--batch-size", "32",
             "--workers", "0", "--matmul-size", "8", "--threads", "1"]
    for flag, values in {"--width": ["1", "0", "abc"], "--batch-size": ["0", "-1"],
                         "--steps": ["0", "-1"], "--warmup": ["-1"], "--repeats": ["0"],
                         "--images": ["0", "-5"], "--workers": ["-1"], "--threads": ["0"],
                         "--branches": ["0", "1", "100"], "--arch": ["bogus"],
                         "--method": ["bogus"], "--device": ["tpu"],
                         "--optimizer": ["bogus"], "--matmul-size": ["0", "-1"],
                         "--sweep-batch-sizes": ["0", "abc"], "--sweep-branches": ["0", "1"],
                         "--seed": ["-1"], "--name": ["../../x", ""]}.items():
        for v in values:
            add(f"bench {flag} {v!r}", [*bench, flag, v])
    return c


def run_case(argv: list[str], env: dict, places: dict[str, str], work: Path) -> tuple[str, str]:
    from okddip_edu.cli import main

    argv = [places.get(a, a) for a in argv]
    saved = dict(os.environ)
    os.environ.update({k: places.get(v, v) for k, v in env.items()})
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(work)
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            warnings.simplefilter("always")
            try:
                rc = main(argv)
            except BaseException:  # noqa: BLE001 - the point is to see what escapes
                return "traceback", traceback.format_exc().strip().splitlines()[-1]
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(saved)
    text = err.getvalue().strip()
    lines = [line for line in text.splitlines() if line.strip()]
    shown = [f"{w.category.__name__}: {w.message}" for w in caught
             if "okddip" in str(w.filename) or "okddip" in str(w.message)]
    if "Traceback" in text:
        return "traceback", lines[-1] if lines else ""
    if rc == 0:
        return "accepted", (out.getvalue().strip().splitlines() or [""])[-1][:120]
    if len(lines) == 1 and lines[0].startswith("okddip-edu") and not shown:
        return "clean", lines[0]
    return "unclear", " / ".join(lines[-3:] + shown)[:300]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help="only cases whose name holds this word")
    p.add_argument("--limit", type=int, help="stop after this many cases")
    p.add_argument("--verbose", action="store_true", help="print every case, not only the "
                   "ones that are not clean")
    args = p.parse_args()
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bad-inputs-"))
    os.environ["OKDDIP_OFFLINE"] = "1"  # never download: refused cleanly instead
    os.environ["OKDDIP_DATA"] = str(tmp / "data")
    os.environ.setdefault("OKDDIP_CIFAR10_5K", str(ROOT / "data/cifar10_train_prefix.npz"))
    from okddip_edu.cli import main as cli_main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli_main(["train", *TINY, "--out", str(tmp / "run")]) == 0
    cases = config_flag_cases() + other_cases()
    if args.only:
        cases = [c for c in cases if args.only in c[0]]
    cases = cases[:args.limit] if args.limit else cases
    counts = {k: 0 for k in ("clean", "traceback", "accepted", "unclear")}
    odd, slow = [], []
    for i, (name, argv, env) in enumerate(cases):
        work = tmp / f"case{i}"
        work.mkdir()
        places = make_files(work, tmp / "run")
        t = time.perf_counter()
        kind, said = run_case(argv, env, places, work)
        slow.append((time.perf_counter() - t, name))
        if (i + 1) % 50 == 0:
            print(f"{i + 1} of {len(cases)} cases, {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)
        counts[kind] += 1
        if kind != "clean" or args.verbose:
            odd.append(f"{kind:9s} {name}: {said}")
        shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(odd))
    print("slowest: " + ", ".join(f"{name} ({s:.1f} s)" for s, name in sorted(slow)[-5:]))
    print(json.dumps({"tried": len(cases), **counts,
                      "seconds": round(time.perf_counter() - t0)}))
    return 0 if counts["traceback"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
