"""Build hook: the wheel carries the committed results and the shipped runs, so a notebook
finds them anywhere.

Everything else about the package is in pyproject.toml. Setuptools packages only files
under ``okddip_edu/``, so ``build_py`` here copies every folder matching ``SHIPPED``
(``assets/results/``, any later ``assets/results-*/``, and ``assets/pretrained/``, the
trained runs the notebooks load) to ``okddip_edu/_assets/`` in the build tree. :mod:`okddip_edu.resources` finds them there when there is no repository
checkout, for instance on Colab after ``pip install "okddip-edu @ git+..."``. MANIFEST.in
puts the same folders in the sdist, so a wheel built from it has them too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("assets/results*", "assets/pretrained")  # copied as okddip_edu/_assets/<name>/


def shipped_folders(root: Path = ROOT) -> list[Path]:
    return sorted(p for pattern in SHIPPED for p in root.glob(pattern) if p.is_dir())


class BuildPyWithAssets(build_py):
    """build_py, then a copy of each shipped folder under okddip_edu/_assets/."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads assets/ itself
            return
        for folder in shipped_folders():
            target = Path(self.build_lib) / "okddip_edu" / "_assets" / folder.name
            for src in sorted(folder.rglob("*")):
                if src.is_file():
                    dst = target / src.relative_to(folder)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dst)


setup(cmdclass={"build_py": BuildPyWithAssets})
