"""SIGTERM ends a command as Ctrl-C does: one line, the last finished epoch kept, exit 143.

A job scheduler, ``kill`` or a closing terminal sends SIGTERM; Python's default is to die at
once, silently. :func:`terminate_as_interrupt` turns it into :class:`Terminated`, a
``KeyboardInterrupt``, so the same handlers that report Ctrl-C (exit 130) report it, with
exit status 128 + 15 = 143, the shell's convention for a process ended by SIGTERM.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (raised by the handler :func:`terminate_as_interrupt` installs)."""


def _raise(signum, frame) -> None:
    raise Terminated()


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises :class:`Terminated`; the previous handler comes back
    after it. Outside the main thread (where handlers cannot be set) nothing changes."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def exit_status(err: BaseException) -> int:
    """130 for Ctrl-C (SIGINT), 143 for SIGTERM."""
    return 143 if isinstance(err, Terminated) else 130


def what(err: BaseException) -> str:
    return "terminated (SIGTERM)" if isinstance(err, Terminated) else "interrupted"
