"""The ``okddip-edu`` command's entry point: Ctrl-C while the library is still loading
(importing torch takes seconds) ends with one line and exit code 130, like Ctrl-C later."""

from __future__ import annotations

import sys

from .constants import STARTING  # shared with cli.py, which must not import this module


def main() -> int:
    from .signals import exit_status, terminate_as_interrupt

    with terminate_as_interrupt():  # SIGTERM while starting: the same line, exit 143
        try:
            from .cli import main as cli_main
            return cli_main()
        except KeyboardInterrupt as err:  # the command itself catches its own
            print(STARTING, file=sys.stderr)
            return exit_status(err)
