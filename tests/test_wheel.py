"""The sdist and the wheel carry the committed results, and an installed wheel finds them.

The package is built from a copy of the sources (``python -m build --no-isolation``: the
sdist first, then the wheel from the sdist, as pip does with a published sdist), so the
test needs no network and leaves no build folders in the repository.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "okddip_edu", "assets")

pytestmark = pytest.mark.skipif(importlib.util.find_spec("build") is None,
                                reason="the 'build' package is not installed (pip install -e '.[test]')")


def _shipped() -> list[Path]:
    """Every file of every assets/results* folder, relative to assets/."""
    assets = ROOT / "assets"
    return sorted(f.relative_to(assets) for d in assets.glob("results*") if d.is_dir()
                  for f in d.rglob("*") if f.is_file())


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "_assets")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                    str(src)], check=True, capture_output=True, text=True, timeout=300)
    return out


def test_results_folders_exist():
    assert Path("results") in {p.parents[-2] for p in _shipped()}


def test_sdist_carries_the_results(dist):
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {Path(*Path(n).parts[1:]) for n in tar.getnames()}
    missing = [str(p) for p in _shipped() if Path("assets") / p not in names]
    assert not missing, f"not in the sdist: {missing}"


def test_wheel_carries_the_results_as_package_data(dist):
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [str(p) for p in _shipped() if f"okddip_edu/_assets/{p.as_posix()}" not in names]
    assert not missing, f"not in the wheel: {missing}"
    assert not any(n.startswith("assets/") for n in names), "assets/ leaked to the top level"


def test_installed_wheel_finds_its_results(dist, tmp_path):
    """Unpacked alone (no clone around), the package reads its own copy of the results."""
    (wheel,) = dist.glob("*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("from okddip_edu import report, resources; "
            "print(resources.asset_dir('results', 'results.csv')); print(report.find_results())")
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout.split()
    expected = str(site / "okddip_edu" / "_assets" / "results")
    assert out == [expected, expected]
