"""Where the course is published: the one place that names its repository and release.

``tools/build_notebooks.py`` writes every notebook's *Open in Colab* badge and its install
cell from these two values, so a notebook opened on Colab installs the very release it was
written for, not whatever the default branch holds that day::

    %pip install -q "okddip-edu @ git+https://github.com/OWNER/NAME@v0.1.0"

When publishing (README, "Publishing the course"): set ``URL`` to the public repository,
push the tag ``REF`` names (``git tag v0.1.0 && git push --tags``), and rebuild the
notebooks so their badges and install cells follow.
"""

from __future__ import annotations

from . import __version__

URL = "https://github.com/okddip-edu/okddip_edu"  # the public repository (https, no .git)
REF = f"v{__version__}"  # the tag (or commit) the notebooks install and open: a release


def install_requirement() -> str:
    """The pip requirement of this release, pinned to ``REF``."""
    return f"okddip-edu @ git+{URL}@{REF}"


def colab_url(notebook: str) -> str:
    """The Colab address of ``notebooks/<notebook>`` at ``REF``."""
    prefix = "https://github.com/"
    if not URL.startswith(prefix):
        raise ValueError(f"URL={URL!r} is not valid; Colab opens notebooks from "
                         f"{prefix}OWNER/NAME only")
    repo = URL.removeprefix(prefix).rstrip("/")
    return f"https://colab.research.google.com/github/{repo}/blob/{REF}/notebooks/{notebook}"
