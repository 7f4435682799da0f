"""The sdist and the wheel carry the committed results, and an installed wheel finds them.

The package is built from a copy of the sources (``python -m build --no-isolation``: the
sdist first, then the wheel from the sdist, as pip does with a published sdist), so the
test needs no network and leaves no build folders in the repository.
"""

from __future__ import annotations

import importlib.util
import os
import re
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
    """Every file of every assets/results* folder and of assets/pretrained (the shipped
    runs), relative to assets/."""
    assets = ROOT / "assets"
    folders = [*assets.glob("results*"), assets / "pretrained"]
    return sorted(f.relative_to(assets) for d in folders if d.is_dir()
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
    # Every warning shown (once per place), so the build log holds each deprecation notice.
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                           str(src)], check=True, capture_output=True, text=True, timeout=300,
                          env=env)
    (out / "build.log").write_text(done.stdout + done.stderr)
    return out


# What setuptools, pip and Python print when something will stop working: the
# SetuptoolsDeprecationWarning banner ("... is deprecated", "By 2027-Feb-18, you need to
# update your project ..."), DeprecationWarning and PendingDeprecationWarning.
DEPRECATION = re.compile(r"deprecat|you need to update your project|no longer be supported",
                         re.IGNORECASE)


def test_build_shows_no_deprecation_warning(dist):
    """A deprecation today is a build that fails on a known date: a packaging setting to change."""
    log = (dist / "build.log").read_text()
    hits = [line.strip() for line in log.splitlines() if DEPRECATION.search(line)]
    assert not hits, "the sdist/wheel build warns of a deprecation:\n" + "\n".join(hits)


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
    assert any(n.startswith("okddip_edu/_assets/pretrained/") for n in names)
    assert wheel.stat().st_size < 15 * 2**20, f"the wheel is {wheel.stat().st_size / 2**20:.1f} MiB"


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
