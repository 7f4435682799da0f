"""Run locks: which worker trains a run, made in one step and told apart from stale ones.

``run_dir/.lock`` holds its owner as JSON, ``{"host", "pid", "start"}``, ``start`` being the
process's start time. It is **created with its owner in one step**: the owner is written to
a temporary file, which is then hard-linked to ``.lock`` (the link fails if a lock exists),
so no worker ever reads an empty or half-written lock, and two workers never both hold one.

Whether a lock's owner still trains the run, from this host:

| the lock says | verdict |
|---|---|
| this host, a pid whose start time is the recorded one | alive: pass the run by |
| this host, no such pid | gone: taken over |
| this host, a pid started at another time (pid reused after a reboot) | gone: taken over |
| an older lock without a start time (or a bare pid) | alive only if that process runs okddip-edu |
| empty or unreadable, and older than :data:`GRACE_S` | gone: taken over |
| another host | trusted (cannot be checked from here); the line says which host |

A takeover is one line. It renames the stale lock away first and checks that what it moved
is what it judged, so a fresh lock that another worker made meanwhile is put back, never
deleted.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Callable

GRACE_S = 10.0  # an unreadable lock younger than this may be an older version's, being made
START_TOLERANCE_S = 1.0  # start times are read in clock ticks (1/100 s on Linux)


class RunLock:
    """``run_dir/.lock`` (see the module docstring); ``log`` receives the takeover lines."""

    def __init__(self, run_dir: Path, log: Callable[[str], None] | None = None):
        self.path = Path(run_dir) / ".lock"
        self.held = False
        self.log = log or (lambda line: None)

    def acquire(self) -> bool:
        """Take the lock; False while a live owner (or another host's) holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".lock.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(json.dumps(_me()))
        try:
            for _ in range(3):
                if _link(tmp, self.path):
                    self.held = True
                    return True
                text = _read(self.path)
                if text is None:  # released meanwhile: try again
                    continue
                why = self.stale_because(text)
                if why is None or not self._take_away(text):
                    return False
                self.log(f"    {self.path.parent.name}: took over its lock, {why}")
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def owner(self) -> dict | None:
        """The lock's owner, or None when the lock is gone or unreadable."""
        text = _read(self.path)
        return _parse(text) if text is not None else None

    def owner_alive(self) -> bool:
        text = _read(self.path)
        return text is not None and self.stale_because(text) is None

    def describe(self) -> str:
        owner = self.owner()
        if owner is None:
            return "an unreadable lock"
        host = "" if owner.get("host") == socket.gethostname() else \
            f" on host {owner.get('host')} (cannot be checked from here: delete {self.path} " \
            "if that worker is dead)"
        return f"pid {owner.get('pid')}{host}"

    def stale_because(self, text: str) -> str | None:
        """Why the lock with content ``text`` is stale, or None when its owner may be alive."""
        owner = _parse(text)
        if owner is None:
            age = _age(self.path)
            if age is not None and age < GRACE_S:
                return None
            return "it was empty or unreadable"
        if owner.get("host") != socket.gethostname():
            return None
        pid = owner["pid"]
        if pid == os.getpid():
            return "it names this very process (left by an earlier call)"
        started = process_start(pid)
        if started is None:
            return f"its owner (pid {pid}) is gone"
        if owner.get("start") is None:
            if runs_okddip(pid):
                return None
            return f"its pid {pid} is a live process that is not an okddip-edu worker"
        if abs(started - owner["start"]) >= START_TOLERANCE_S:
            return f"its pid {pid} now belongs to another process (started at another time)"
        return None

    def _take_away(self, judged: str) -> bool:
        """Move the stale lock aside; if what moved is not what was judged, put it back."""
        aside = self.path.with_name(f".lock.stale.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return True  # another worker removed it already
        try:
            if _read(aside) != judged:  # a fresh lock made meanwhile: give it back
                _link(aside, self.path)
                return False
            return True
        finally:
            aside.unlink(missing_ok=True)

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def _link(src: Path, dst: Path) -> bool:
    """Make ``dst`` name ``src``'s content in one step; False if ``dst`` exists."""
    try:
        os.link(src, dst)
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: exclusive create, then write
        try:
            fd = os.open(dst, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(src.read_text())
        return True


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, IsADirectoryError):
        return None
    except (OSError, UnicodeDecodeError):
        return ""


def _age(path: Path) -> float | None:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return None


def _parse(text: str) -> dict | None:
    try:
        owner = json.loads(text.strip())
    except ValueError:
        return None
    if isinstance(owner, int) and not isinstance(owner, bool):  # an older lock: the pid alone
        return {"host": socket.gethostname(), "pid": owner, "start": None}
    if not isinstance(owner, dict) or not isinstance(owner.get("pid"), int) \
            or isinstance(owner.get("pid"), bool):
        return None
    if not isinstance(owner.get("start"), (int, float, type(None))):
        return None
    return owner


def process_start(pid: int) -> float | None:
    """Start time of process ``pid`` (seconds since boot on Linux, else epoch seconds via
    psutil), or None when no such process exists."""
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    except FileNotFoundError:
        return None
    except OSError:
        pass
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except ImportError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return 0.0
    except Exception:  # psutil.NoSuchProcess
        return None


def runs_okddip(pid: int) -> bool:
    """Whether process ``pid``'s command line names okddip (True when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return b"okddip" in cmdline


def _me() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": process_start(os.getpid())}
