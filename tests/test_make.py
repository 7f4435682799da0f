"""What `make lab` and `make test` hand to the programs they start.

Each test runs the real Makefile with ``VENV`` pointing at a stand-in environment whose
``python`` and ``jupyter`` only write down their arguments and environment. Its install
stamp is newer than pyproject.toml, so nothing is installed and nothing is started.
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


def _stand_in_venv(tmp_path: Path) -> tuple[Path, Path]:
    venv, record = tmp_path / "venv", tmp_path / "record.txt"
    (venv / "bin").mkdir(parents=True)
    script = f'#!/bin/sh\n{{ echo "ARGS $*"; env; }} >> "{record}"\n'
    for name in ("python", "jupyter"):
        exe = venv / "bin" / name
        exe.write_text(script)
        exe.chmod(0o755)
    (venv / ".installed").touch()  # newer than pyproject.toml and constraints.txt
    return venv, record


def _user_env(**extra: str) -> dict[str, str]:
    """A user's shell: this test run's environment without what make test added."""
    env = {k: v for k, v in os.environ.items()
           if k not in TEST_ONLY and not k.startswith(("MAKE", "MFLAGS"))}
    env.update(extra)
    return env


def _runs(target: str, tmp_path: Path, env: dict[str, str]
          ) -> list[tuple[list[str], dict[str, str]]]:
    """(arguments, environment) of every program the target started, in order."""
    venv, record = _stand_in_venv(tmp_path)
    ipyw7 = tmp_path / "ipywidgets7"
    ipyw7.mkdir()
    (ipyw7 / ".installed").touch()
    subprocess.run(["make", "-s", "-C", str(ROOT), target, f"VENV={venv}",
                    f"IPYW7_DIR={ipyw7}"], env=env, check=True, capture_output=True,
                   text=True, timeout=60)
    runs = []
    for block in record.read_text().split("ARGS ")[1:]:
        lines = block.splitlines()
        runs.append((lines[0].split(), dict(ln.split("=", 1) for ln in lines[1:] if "=" in ln)))
    return runs


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


def test_make_test_also_runs_the_widget_tests_on_ipywidgets_7(tmp_path):
    (main, _), (second, env) = _runs("test", tmp_path, _user_env())
    assert main[:3] == ["-m", "pytest", "tests"]
    assert "tests/test_widgets.py" in second
    assert env["OKDDIP_EXPECT_IPYWIDGETS"] == "7.7"
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(tmp_path / "ipywidgets7")

