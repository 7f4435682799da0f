"""What `make lab` and `make test` hand to the programs they start.

Each test runs the real Makefile with ``VENV`` (and ``COLAB_DIR``, the Colab environment's
folder) pointing at stand-in environments whose ``python`` and ``jupyter`` only write down
their arguments and environment. Their install stamps are newer than what they are made
from, so nothing is installed and nothing is started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_ONLY = ("OKDDIP_PROFILE", "MPLBACKEND")  # what make test sets for the notebooks


pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _stand_in_venv(venv: Path, record: Path, stamped: bool = True) -> None:
    (venv / "bin").mkdir(parents=True)
    script = f'#!/bin/sh\n{{ echo "ARGS $*"; echo "STAND_IN=$0"; env; }} >> "{record}"\n'
    for name in ("python", "jupyter"):
        exe = venv / "bin" / name
        exe.write_text(script)
        exe.chmod(0o755)
    if stamped:
        (venv / ".installed").touch()  # newer than what it is made from


def _user_env(**extra: str) -> dict[str, str]:
    """A user's shell: this test run's environment without what make test added."""
    env = {k: v for k, v in os.environ.items()
           if k not in TEST_ONLY and not k.startswith(("MAKE", "MFLAGS"))}
    env.update(extra)
    return env


def _runs(target: str, tmp_path: Path, env: dict[str, str], colab_built: bool = True
          ) -> list[tuple[list[str], dict[str, str]]]:
    """(arguments, environment) of every program the target started, in order; the
    environment's STAND_IN names the program (.../venv/bin/python, .../colab/env/bin/python)."""
    venv, colab, record = tmp_path / "venv", tmp_path / "colab", tmp_path / "record.txt"
    _stand_in_venv(venv, record)
    _stand_in_venv(tmp_path / "system", record, stamped=False)  # the machine's python3
    _stand_in_venv(colab / "env", record, stamped=False)
    if colab_built:
        (colab / "env" / ".colab-versions").touch()
        (colab / "env" / ".installed").touch()
    subprocess.run(["make", "-s", "-C", str(ROOT), target, *_make_vars(tmp_path)],
                   env=env, check=True, capture_output=True, text=True, timeout=60)
    runs = []
    for block in record.read_text().split("ARGS ")[1:]:
        lines = block.splitlines()
        runs.append((lines[0].split(), dict(ln.split("=", 1) for ln in lines[1:] if "=" in ln)))
    return runs


def _make_vars(tmp_path: Path) -> list[str]:
    return [f"VENV={tmp_path / 'venv'}", f"COLAB_DIR={tmp_path / 'colab'}",
            f"PYTHON={tmp_path / 'system' / 'bin' / 'python'}"]


def _run(target: str, tmp_path: Path, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    return _runs(target, tmp_path, env)[0]


def test_make_lab_gives_jupyterlab_the_users_environment(tmp_path):
    argv, env = _run("lab", tmp_path, _user_env())
    assert argv[0] == "lab" and f"--ServerApp.root_dir={ROOT}/notebooks" in argv
    leaked = {k: env[k] for k in TEST_ONLY if k in env}
    assert not leaked, f"make lab passes test-only settings to JupyterLab: {leaked}"


def test_make_lab_keeps_the_users_own_choices(tmp_path):
    _, env = _run("lab", tmp_path, _user_env(OKDDIP_PROFILE="full", MPLBACKEND="svg"))
    assert env["OKDDIP_PROFILE"] == "full" and env["MPLBACKEND"] == "svg"


def test_notebooks_under_make_lab_pick_the_cpu_profile(tmp_path):
    from okddip_edu import course

    _, env = _run("lab", tmp_path, _user_env())
    expected = "full" if _cuda() else "quick"
    old = os.environ.pop(course.ENV_PROFILE, None)
    try:
        os.environ.update({k: v for k, v in env.items() if k == course.ENV_PROFILE})
        assert course.default_profile() == expected
    finally:
        os.environ.pop(course.ENV_PROFILE, None)
        if old is not None:
            os.environ[course.ENV_PROFILE] = old


def test_make_test_runs_the_smoke_profile_off_screen(tmp_path):
    argv, env = _run("test", tmp_path, _user_env(OKDDIP_PROFILE="full", MPLBACKEND="svg"))
    assert argv[:3] == ["-m", "pytest", "tests"]
    assert env["OKDDIP_PROFILE"] == "smoke" and env["MPLBACKEND"] == "Agg"


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_make_test_also_runs_the_colab_environment(tmp_path):
    """After the suite, the Colab run: by the Colab environment's python, test settings."""
    (main, main_env), (second, env) = _runs("test", tmp_path, _user_env(OKDDIP_PROFILE="full"))
    assert main[:3] == ["-m", "pytest", "tests"]
    assert main_env["STAND_IN"] == str(tmp_path / "venv" / "bin" / "python")
    assert env["STAND_IN"] == str(tmp_path / "colab" / "env" / "bin" / "python")
    assert second[:2] == [str(ROOT / "colab" / "colab_env.py"), "run"]
    assert second[second.index("--env") + 1] == str(tmp_path / "colab" / "env")
    assert second[second.index("--reused") + 1] == str(tmp_path / "colab" / "reused")
    assert env["OKDDIP_PROFILE"] == "smoke" and env["MPLBACKEND"] == "Agg"


def test_make_test_colab_builds_its_environment_once(tmp_path):
    """No stamp: the machine's python (the one that makes .venv) installs Colab's versions,
    .venv's python links its torch in, then the run; stamped, the next call only runs."""
    script = str(ROOT / "colab" / "colab_env.py")
    (base, base_env), (reuse, reuse_env), (run, run_env) = _runs(
        "test-colab", tmp_path, _user_env(), colab_built=False)
    assert base[:2] == [script, "base"] and base_env["STAND_IN"].startswith(str(tmp_path / "system"))
    assert reuse[:2] == [script, "reuse"] and reuse_env["STAND_IN"].startswith(str(tmp_path / "venv"))
    assert run[:2] == [script, "run"] and run_env["STAND_IN"].startswith(str(tmp_path / "colab"))
    (tmp_path / "record.txt").unlink()
    subprocess.run(["make", "-s", "-C", str(ROOT), "test-colab", *_make_vars(tmp_path)],
                   env=_user_env(), check=True, capture_output=True, timeout=60)
    assert (tmp_path / "record.txt").read_text().count("ARGS ") == 1


def test_ci_sets_both_environments_up_side_by_side(tmp_path):
    """`make -j2 test-setup` (.ci/run) builds .venv and Colab's versions, then the link."""
    colab = tmp_path / "colab"
    _stand_in_venv(tmp_path / "venv", tmp_path / "record.txt", stamped=False)
    _stand_in_venv(tmp_path / "system", tmp_path / "record.txt", stamped=False)
    _stand_in_venv(colab / "env", tmp_path / "record.txt", stamped=False)
    subprocess.run(["make", "-s", "-j2", "-C", str(ROOT), "test-setup", *_make_vars(tmp_path)],
                   env=_user_env(), check=True, capture_output=True, timeout=60)
    calls = [b.split("\n", 1)[0] for b in (tmp_path / "record.txt").read_text().split("ARGS ")[1:]]
    assert any(c.startswith("-m pip install -c constraints.txt -e") for c in calls)
    assert any(" base " in f" {c} " for c in calls) and any(" reuse " in f" {c} " for c in calls)
    assert (colab / "env" / ".installed").is_file() and (tmp_path / "venv" / ".installed").is_file()

