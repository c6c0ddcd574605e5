"""What a local run prints: kfp.local's output reduced to one line per step plus the steps' own progress lines.

kfp.local writes task banners, each step's executor input as JSON, the streamed step output and every output
artifact to stdout, coloured with ANSI codes. `StepConsole` stands in for stdout during a run: it reads those lines,
keeps track of each task (started, finished, failed, or reused from KFP's cache: the cache key of a hit is kept so
the reused outputs can be found), and writes `  ok      prepare-dataset   2.6s` per step, with the lines the
steps log through `logging` (progress) indented under their step. `verbose` passes everything through. ANSI codes
are removed whenever the destination is not a terminal.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

ANSI = re.compile(r"\x1b\[[0-9;]*m")
STARTED = re.compile(r" - INFO - Executing task '([^']+)'")
FINISHED = re.compile(r" - (?:INFO|ERROR) - Task '([^']+)' finished with status (\w+)")
CACHE_HIT = re.compile(r" - INFO - Task (\S+) cache hit \(key=([0-9a-f]+)\)")
PROGRESS = re.compile(
    r"^\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (INFO|WARNING|ERROR) (?:components|pipelines)\.\S*: (.*)$"
)
OWN_ERROR = re.compile(r"^\s*(recforge: .*)$")


@dataclass
class TaskEvents:
    """What the console saw of a run's tasks."""

    finished: dict[str, str] = field(default_factory=dict)  # task -> SUCCESS / FAILURE
    seconds: dict[str, float] = field(default_factory=dict)
    reused: dict[str, str] = field(default_factory=dict)  # task -> cache key prefix of the hit


class StepConsole(io.TextIOBase):
    """A write-only text stream that filters kfp.local's output into `out` (see the module docstring)."""

    def __init__(self, out: TextIO, verbose: bool = False, color: bool | None = None) -> None:
        super().__init__()
        self.out, self.verbose = out, verbose
        self.color = bool(getattr(out, "isatty", lambda: False)()) if color is None else color
        self.events = TaskEvents()
        self._pending = ""
        self._started: dict[str, float] = {}
        self._current = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._line(line)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._line(self._pending)
            self._pending = ""
        self.out.flush()

    def _emit(self, text: str) -> None:
        self.out.write(text + "\n")

    def _line(self, raw: str) -> None:
        plain = ANSI.sub("", raw)
        if self.verbose:
            self._emit(raw if self.color else plain)
        if match := STARTED.search(plain):
            self._current = match.group(1)
            self._started[self._current] = time.perf_counter()
        elif match := FINISHED.search(plain):
            name, status = match.groups()
            seconds = time.perf_counter() - self._started.get(name, time.perf_counter())
            self.events.finished[name], self.events.seconds[name] = status, seconds
            if not self.verbose:
                word = "ok" if status == "SUCCESS" else "FAILED"
                self._emit(f"  {word:<7} {name:<28} {seconds:7.1f}s")
        elif match := CACHE_HIT.search(plain):
            name, key = match.groups()
            self.events.reused[name] = key
            if not self.verbose:
                self._emit(f"  {'reused':<7} {name:<28}  cached output of an earlier run")
        elif not self.verbose and (match := PROGRESS.match(plain)):
            level, message = match.groups()
            shown = message if level == "INFO" else f"{level}: {message}"
            self._emit(f"          {self._current}: {shown}")
        elif not self.verbose and (match := OWN_ERROR.match(plain)):
            self._emit(f"  {match.group(1)}")


@contextlib.contextmanager
def captured(console: StepConsole) -> Iterator[StepConsole]:
    """stdout and the root logger's INFO records (kfp.local logs cache hits outside its own logging context) go
    through `console` inside the block."""
    root = logging.getLogger()
    handler = logging.StreamHandler(console)
    handler.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(message)s"))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        with contextlib.redirect_stdout(console):
            yield console
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        console.flush()
