"""The ``okddip-edu`` command's entry point: Ctrl-C while the library is still loading
(importing torch takes seconds) ends with one line and exit code 130, like Ctrl-C later."""

from __future__ import annotations

import sys

from .constants import STARTING  # shared with cli.py, which must not import this module


def main() -> int:
    try:
        from .cli import main as cli_main
        return cli_main()
    except KeyboardInterrupt:  # the command itself catches its own, with its own line
        print(STARTING, file=sys.stderr)
        return 130
