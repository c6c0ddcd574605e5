"""Interrupts of local runs: SIGINT and SIGTERM become an `Interrupted` exception in the main thread (so the CLI and
each step clean up and mark their MLflow runs KILLED), and a step process stops when the CLI that started it
is gone (a watchdog thread) instead of living on as an orphan that writes outputs after the cleanup.
Standard library only.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

CLI_PID_ENV = "RECFORGE_CLI_PID"  # the local CLI's pid, handed to its steps


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal; `exit_code` is the shell's 128 + signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextmanager
def signals_raise(
    signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM), before: Callable[[], object] | None = None
) -> Iterator[None]:
    """Inside the block (main thread only; elsewhere a no-op) the signals raise `Interrupted`, after `before()`
    (the CLI stops its step processes there, while it still reads their output: a step writing into a pipe the
    CLI had closed would fail with EPIPE instead of stopping cleanly)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        for other in signums:  # one cleanup, however many signals arrive during it
            signal.signal(other, signal.SIG_IGN)
        if before is not None:
            before()
        raise Interrupted(signum)

    saved: dict[int, Callable | int | None] = {s: signal.signal(s, handler) for s in signums}
    try:
        yield
    finally:
        for signum, previous in saved.items():
            signal.signal(signum, previous)


def follow_parent(poll_seconds: float = 1.0) -> None:
    """In a step started by the local CLI: a daemon thread checks every `poll_seconds` that the CLI is alive and,
    once it is gone (killed with SIGKILL, say), sends this process SIGTERM, so the step stops and marks its run
    KILLED instead of living on as an orphan. Elsewhere (a cluster pod) nothing."""
    expected = os.environ.get(CLI_PID_ENV, "")
    if not expected.isdigit():
        return
    cli = int(expected)

    def watch() -> None:
        while _alive(cli):
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)

    if not _alive(cli):
        raise Interrupted(signal.SIGTERM)
    threading.Thread(target=watch, name="recforge-follow-cli", daemon=True).start()


def parent_gone() -> bool:
    """Whether this process is a step of a local CLI that no longer exists (its output pipe is then closed too, so
    the step's failure is the CLI's death, not its own)."""
    expected = os.environ.get(CLI_PID_ENV, "")
    return expected.isdigit() and not _alive(int(expected))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (dead, not yet reaped) counts as gone
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
