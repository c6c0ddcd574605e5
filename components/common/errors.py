"""User-facing errors of recforge: one line saying what is wrong, where, and what was expected.

Every bad input (a malformed file, a missing column, an invalid parameter) raises one of these. The CLI
prints the message on one line and exits with code 2; pipeline steps forward it to the CLI
(`components.common.step`).
"""

from __future__ import annotations

from pathlib import Path


class RecforgeError(Exception):
    """An error the user can fix; its message is one complete line. `transient` errors (an unreachable server)
    may pass on their own, so a cluster retries them; every other one would fail the same way again."""

    transient = False

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(RecforgeError):
    """An invalid parameter: `where` names the setting (e.g. ``prepare_data.num_negatives``)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


class DataError(RecforgeError):
    """Bad input data, located by file and, where known, line (1-based, text files) or row (0-based, Parquet)
    and column."""

    def __init__(
        self,
        path: str | Path,
        problem: str,
        *,
        line: int | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        where = Path(path).name if path else "<data>"
        if line is not None:
            where += f" line {line}"
        if row is not None:
            where += f" row {row}"
        if column is not None:
            where += f", column '{column}'"
        self.path = str(path)
        self.line = line
        self.column = column
        super().__init__(f"{where}: {problem}")


class TrackingUnavailable(RecforgeError):
    """The MLflow tracking server cannot be reached or answers with a server error; may pass on its own."""

    transient = True

    def __init__(self, uri: str, problem: str) -> None:
        super().__init__(f"MLflow tracking server {uri}: {problem}")
