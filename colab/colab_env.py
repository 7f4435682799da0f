"""The Colab run of `make test`: Colab's own package versions, the package installed over them
as the notebooks' install cell installs it, every notebook run there.

    python3 colab/colab_env.py base --env .colab/env                # once (stamped)
    .venv/bin/python colab/colab_env.py reuse --env .colab/env --reused .colab/reused  # once
    .colab/env/bin/python colab/colab_env.py run --env .colab/env --reused .colab/reused

``base``, by the Python that makes .venv (so it can run while .venv is being installed), makes
.colab/env/ and installs every version of colab/pins.txt except torch and torchvision.
``reuse``, by .venv's python, links .venv's torch and torchvision (with the CUDA libraries
they load) into .colab/reused/, which a .pth file puts on the environment's path: PyPI has no
CPU build of Colab's torch 2.11, and the CUDA one does not fit CI's time (colab/pins.txt says
more). The link folder lies outside the environment's prefix, so pip never uninstalls
anything through it.

``run``, by the Colab environment's python, in a fresh folder outside the repository:

1. installs the package from a copy of the working tree as the install cell does,
   ``pip install "okddip-edu @ <source>"`` with pip's defaults (isolated build, dependencies
   resolved, nothing upgraded that already satisfies);
2. fails if any version of colab/pins.txt moved (torch and torchvision: .venv's);
3. runs every notebooks/*.ipynb under nbval (``--nbval-lax``: any error fails its cell; the
   kernel is this environment's) and the widget and figure tests, which check ipywidgets 7.7.
   nbval talks to the kernel through jupyter_client, not nbclient, so it does not wait forever
   on a missed reply after an Output widget (jupyter/nbclient issue 312); each cell has a
   time limit too, and the whole run another.

Only the standard library is used, so any Python can run it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "colab" / "pins.txt"
REUSED = ("torch", "torchvision")  # taken from .venv, not installed
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "okddip_edu")
WIDGET_TESTS = ("tests/test_widgets.py", "tests/test_plots_curves.py",
                "tests/test_plots_softmax_attention.py")
TEST_TOOLS = ("nbval==0.11.0",)  # not in Colab's list; installed under the pins' constraint
CELL_TIMEOUT_S = 300  # one notebook cell (smoke profile: seconds; under 30 s on 2 busy cores)
RUN_TIMEOUT_S = 900  # the whole test run (it takes under 3 minutes)


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path = PINS) -> dict[str, tuple[str, str]]:
    """canonical name -> (name as written, version)."""
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#")[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if not m:
            raise SystemExit(f"{path}: not an exact pin: {raw!r}")
        pins[canon(m.group(1))] = (m.group(1), m.group(2))
    return pins


def sh(cmd: list[str], **kw) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    t0 = time.monotonic()
    try:
        subprocess.run(cmd, check=True, **kw)
    finally:
        print(f"  ({time.monotonic() - t0:.0f} s)", flush=True)


def env_python(env: Path) -> Path:
    return env / "bin" / "python"


def site_packages(env: Path) -> Path:
    (site,) = (env / "lib").glob("python3*/site-packages")
    return site


# --- build ----------------------------------------------------------------------------------
def _installed(site: Path) -> set[str]:
    names = set()
    for info in site.glob("*.dist-info"):
        names.add(canon(info.name[: -len(".dist-info")].rsplit("-", 1)[0]))
    return names


def _closure(roots: tuple[str, ...], skip: set[str]):
    """The distributions of *this* interpreter that roots need, leaving out those in skip."""
    from importlib import metadata

    from packaging.requirements import Requirement  # .venv has it (pytest needs it)

    todo: list[tuple[str, frozenset[str]]] = [(r, frozenset()) for r in roots]
    done: set[tuple[str, frozenset[str]]] = set()
    seen: dict[str, metadata.Distribution] = {}
    while todo:
        name, extras = todo.pop()
        if canon(name) in skip or (canon(name), extras) in done:
            continue
        done.add((canon(name), extras))
        dist = seen[canon(name)] = metadata.distribution(name)
        envs = [{"extra": e} for e in sorted(extras)] or [{"extra": ""}]
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or any(req.marker.evaluate(e) for e in envs):
                todo.append((req.name, frozenset(req.extras)))
    return seen


def reuse_torch(env: Path, reused: Path) -> list[str]:
    """Link this interpreter's torch and torchvision, and what they need that the Colab
    environment lacks, into `reused`; put that folder on the environment's path."""
    site = site_packages(env)
    # pip uninstalls only inside the environment's prefix (a string prefix test): a link
    # folder there could let it delete .venv's files through the links.
    assert not str(reused.resolve()).startswith(str(env.resolve())), (
        f"{reused} must lie outside {env}")
    dists = _closure(REUSED, skip=_installed(site))
    if reused.exists():
        shutil.rmtree(reused)
    reused.mkdir(parents=True)
    linked = []
    for name, dist in sorted(dists.items()):
        base = Path(dist.locate_file("")).resolve()
        tops = {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in sorted(tops - {"__pycache__"}):
            src, dst = base / top, reused / top
            if (src.exists() or src.is_symlink()) and not dst.exists():
                dst.symlink_to(src)
        linked.append(f"{dist.metadata['Name']}=={dist.version}")
    (reused / "REUSED.txt").write_text("".join(f"{line}\n" for line in linked))
    (site / "okddip-colab-reused.pth").write_text(f"{reused.resolve()}\n")
    return linked


def _python313() -> str | None:
    """A working python3.13 on this machine (on PATH, or one of pyenv's), if any."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for cand in (shutil.which("python3.13"), *sorted(pyenv.glob("versions/3.13*/bin/python3.13"))):
        if cand and subprocess.run([str(cand), "-c", ""], capture_output=True).returncode == 0:
            return str(cand)
    return None


def _python_note() -> str:
    """Which Python the environment gets, and why not Colab's 3.13 where one is here."""
    own = f"Python {sys.version.split()[0]} ({sys.executable})"
    py313 = _python313()
    why = ("Colab's 3.13 is at " + py313 + " but unused" if py313 else "no python3.13 here")
    return f"{own}, the one that made .venv, whose torch is reused; {why}: torch for it " \
           "would be PyPI's CUDA build"


def _pip(env: Path) -> list[str]:
    # Twice quiet: errors only (not the machine's pip settings' warnings about its mirrors).
    return [str(env_python(env)), "-m", "pip", "install", "--quiet", "--quiet",
            "--disable-pip-version-check"]


def _installable(env: Path) -> Path:
    return env.parent / "pins-installed.txt"  # the pins less torch and torchvision


def base(env: Path) -> None:
    """The environment with every pin but torch and torchvision, and nbval. Run by the
    Python that makes .venv; needs nothing of .venv, so it can be built beside it."""
    t0 = time.monotonic()
    pins = read_pins()
    print(f"== building the Colab environment with {_python_note()}", flush=True)
    if env.exists():  # 60,000 files: moved aside at once, removed in the background
        old = env.with_name(f"{env.name}.old-{os.getpid()}")
        env.rename(old)
        subprocess.Popen(["rm", "-rf", str(old)], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sh([sys.executable, "-m", "venv", str(env)])
    installable = _installable(env)
    installable.write_text("".join(f"{n}=={v}\n" for k, (n, v) in pins.items()
                                   if k not in REUSED))
    steps = [[f"pip=={pins['pip'][1]}"], ["-r", str(installable)],
             ["-c", str(installable), *TEST_TOOLS]]
    # From a wheel folder kept outside the repository, without asking an index: a fresh clone
    # on the same machine (CI) rebuilds in seconds, however slow the network is that day.
    # Where a wheel is missing, the folder is filled once from the index, then the install
    # is done again from it.
    wheels = _wheelhouse()
    wheels.mkdir(parents=True, exist_ok=True)
    offline = ["--no-index", "--find-links", str(wheels)]
    try:
        for step in steps:
            sh(_pip(env) + offline + step, stderr=subprocess.DEVNULL)
    except subprocess.CalledProcessError:
        print(f"== filling {wheels} from the index (once)", flush=True)
        sh([str(env_python(env)), "-m", "pip", "wheel", "--quiet", "--quiet",
            "--disable-pip-version-check", "--wheel-dir", str(wheels),
            "-c", str(installable), "-r", str(installable), f"pip=={pins['pip'][1]}",
            *TEST_TOOLS])
        for step in steps:
            sh(_pip(env) + offline + step)
    print(f"== Colab's versions installed in {time.monotonic() - t0:.0f} s: {env}")


def _wheelhouse() -> Path:
    """$OKDDIP_COLAB_WHEELS, else okddip-edu/colab-wheels in the user's cache folder."""
    given = os.environ.get("OKDDIP_COLAB_WHEELS")
    if given:
        return Path(given)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "okddip-edu" / "colab-wheels"


def _venv_version(env: Path) -> str:
    cfg = (env / "pyvenv.cfg").read_text()
    m = re.search(r"^version(?:_info)?\s*=\s*(\d+\.\d+)", cfg, re.M)
    return m.group(1) if m else "?"


def reuse(env: Path, reused: Path) -> None:
    """Run by .venv's python: link its torch and torchvision in, then let pip add what they
    need beyond Colab's list (a newer setuptools) under the pins, failing rather than moving
    one of them; then check every pin."""
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if _venv_version(env) != here:
        raise SystemExit(f"{env} has Python {_venv_version(env)}, .venv has {here}: its torch "
                         f"cannot be reused; remove {env.parent} and run make again")
    linked = reuse_torch(env, reused)
    print(f"== reused from {sys.prefix}: {', '.join(linked)}")
    sh(_pip(env) + ["-c", str(_installable(env))]
       + [line for line in linked if canon(line.split("==")[0]) in REUSED])
    sh([str(env_python(env)), str(Path(__file__).resolve()), "check", "--reused", str(reused)])


# --- check ----------------------------------------------------------------------------------
def check(reused: Path) -> int:
    """Every pinned version is the installed one (torch and torchvision: the reused ones)."""
    from importlib import metadata

    pins = read_pins()
    expect = {k: v for k, (_, v) in pins.items()}
    for line in (reused / "REUSED.txt").read_text().split():
        name, version = line.split("==")
        if canon(name) in REUSED:
            expect[canon(name)] = version
    moved = []
    for key, want in sorted(expect.items()):
        try:
            have = metadata.version(pins[key][0])
        except metadata.PackageNotFoundError:
            have = None
        if have != want:
            moved.append(f"  {pins[key][0]}: {want} pinned, {have or 'not installed'} installed")
    if moved:
        print(f"== {len(moved)} pinned package(s) of colab/pins.txt moved:", *moved, sep="\n")
        return 1
    print(f"== all {len(expect)} pinned versions in place (torch {expect['torch']} and "
          f"torchvision {expect['torchvision']} reused from .venv)")
    return 0


# --- run ------------------------------------------------------------------------------------
def _copy_sources(dst: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "_assets", "*.egg-info")
    dst.mkdir(parents=True)
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=ignore)
        else:
            shutil.copy2(src, dst / name)
    for pattern in ("results*", "pretrained"):  # what setup.py ships (its SHIPPED)
        for folder in sorted((ROOT / "assets").glob(pattern)):
            shutil.copytree(folder, dst / "assets" / folder.name, ignore=ignore)


def _run_guarded(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> int:
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"== no end after {timeout:.0f} s: stopping the run (and its kernels)", flush=True)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        return 124


def run(env_dir: Path, reused: Path) -> int:
    t0 = time.monotonic()
    py = sys.executable
    print(f"== Colab environment: {_python_note()}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="okddip-colab-"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    src = work / "src"
    _copy_sources(src)
    subprocess.run([py, "-m", "pip", "uninstall", "--yes", "--quiet", "okddip-edu"],
                   env=env, check=False, capture_output=True)
    # The install cell: %pip install -q "okddip-edu @ git+https://...@vX.Y.Z", pip's defaults.
    log = work / "pip-install.log"
    with log.open("w") as fh:
        done = subprocess.run([py, "-m", "pip", "install", f"okddip-edu @ {src.as_uri()}"],
                              cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT)
    lines = log.read_text().splitlines()
    if done.returncode:
        print(*lines[-30:], sep="\n")
        print(f"== the install failed (log: {log})")
        return done.returncode
    print(*(ln for ln in lines if ln.startswith("Successfully installed")), sep="\n")
    if check(reused):
        print(f"== the install moved Colab's packages (log: {log})")
        return 1

    # Notebooks and widget tests, from the temporary folder: the package is the installed one.
    nb = work / "notebooks"
    nb.mkdir()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copy2(path, nb / path.name)
    shutil.copy2(ROOT / "conftest.py", work / "conftest.py")  # what nbval leaves uncompared
    (work / "tests").mkdir()
    for name in ("tests/conftest.py", *WIDGET_TESTS):
        shutil.copy2(ROOT / name, work / name)
    env["OKDDIP_EXPECT_IPYWIDGETS"] = "7.7"  # tests/test_widgets.py checks it is 7.7 indeed
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # ipykernel 6.17's debugger: a note per kernel
    cmd = [py, "-m", "pytest", "-p", "no:cacheprovider", "-ra", "--nbval-lax",
           "--nbval-current-env", f"--nbval-cell-timeout={CELL_TIMEOUT_S}",
           "notebooks", *WIDGET_TESTS]
    rc = _run_guarded(cmd, work, env, RUN_TIMEOUT_S)
    if rc == 0:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"== left for a look: {work}")
    print(f"== Colab run {'passed' if rc == 0 else 'FAILED'} in {time.monotonic() - t0:.0f} s "
          f"(Python {sys.version.split()[0]})")
    return rc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("base", "reuse", "check", "run"))
    parser.add_argument("--env", type=Path, default=ROOT / ".colab" / "env")
    parser.add_argument("--reused", type=Path, default=ROOT / ".colab" / "reused")
    args = parser.parse_args(argv)
    if args.command == "base":
        base(args.env.absolute())
        return 0
    if args.command == "reuse":
        reuse(args.env.absolute(), args.reused.absolute())
        return 0
    if args.command == "check":
        return check(args.reused)
    return run(args.env, args.reused)


if __name__ == "__main__":
    sys.exit(main())
