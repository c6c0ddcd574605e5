"""Reading a prepared Dataset directory (written by the prepare step) with the checks later steps rely on.

Every split is returned as NumPy arrays; item ids are checked against the catalogue and candidate lists
must be non-empty, of one length, and contain the target, so a hand-edited or foreign file fails with the
file, row and column at fault.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from components.common.errors import DataError


@dataclass
class SplitArrays:
    """One split: row r is user users[r], history values[offsets[r]:offsets[r+1]] (oldest first), target."""

    users: np.ndarray  # (rows,) int64
    offsets: np.ndarray  # (rows+1,) int64
    values: np.ndarray  # (total,) int64
    targets: np.ndarray  # (rows,) int64
    candidates: np.ndarray  # (rows, n_candidates) int64
    ratings: np.ndarray  # (rows,) float32

    def __len__(self) -> int:
        return len(self.users)

    def history(self, row: int) -> np.ndarray:
        return self.values[self.offsets[row] : self.offsets[row + 1]]

    def target_index(self) -> np.ndarray:
        """(rows,) position of the target inside each candidate list."""
        return np.argmax(self.candidates == self.targets[:, None], axis=1)

    def take(self, rows: np.ndarray) -> SplitArrays:
        lengths = np.diff(self.offsets)[rows]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        values = np.concatenate([self.history(int(r)) for r in rows]) if len(rows) else self.values[:0]
        return SplitArrays(
            self.users[rows], offsets, values, self.targets[rows], self.candidates[rows], self.ratings[rows]
        )


class Prepared:
    """A prepared Dataset directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / "stats.json").is_file():
            raise DataError(self.path / "stats.json", "file not found; expected a Dataset from the prepare step")

    @cached_property
    def stats(self) -> dict:
        return json.loads((self.path / "stats.json").read_text(encoding="utf-8"))

    @cached_property
    def titles(self) -> list[str]:
        return pq.read_table(self.path / "items.parquet", columns=["title"])["title"].to_pylist()

    @property
    def n_items(self) -> int:
        return len(self.titles)

    @property
    def n_users(self) -> int:
        return int(self.stats["users"])

    @cached_property
    def interactions(self) -> tuple[np.ndarray, np.ndarray]:
        """(user_id, item_id) int64 arrays of every interaction, sorted by user then time."""
        table = pq.read_table(self.path / "interactions.parquet", columns=["user_id", "item_id"])
        return table["user_id"].to_numpy().astype(np.int64), table["item_id"].to_numpy().astype(np.int64)

    def split(self, name: str) -> SplitArrays:
        path = self.path / f"{name}.parquet"
        if not path.is_file():
            raise DataError(path, "file not found; expected a split written by the prepare step")
        table = pq.read_table(path)
        for column in ("user_id", "history", "target", "candidates"):
            if column not in table.column_names:
                raise DataError(path, f"missing column '{column}'; expected user_id, history, target, candidates")
        history = table["history"].combine_chunks()
        cands = table["candidates"].combine_chunks()
        lengths = np.diff(cands.offsets.to_numpy())
        if len(lengths) and lengths.min() == 0:
            row = int(np.argmin(lengths))
            raise DataError(
                path, "empty candidate list; expected the target plus negatives", row=row, column="candidates"
            )
        if len(lengths) and lengths.max() != lengths.min():
            row = int(np.flatnonzero(lengths != lengths[0])[0])
            raise DataError(
                path, f"{lengths[row]} candidates; expected {lengths[0]} like row 0", row=row, column="candidates"
            )
        width = int(lengths[0]) if len(lengths) else 0
        arrays = SplitArrays(
            users=table["user_id"].to_numpy().astype(np.int64),
            offsets=history.offsets.to_numpy().astype(np.int64) - int(history.offsets[0].as_py()),
            values=history.flatten().to_numpy().astype(np.int64),
            targets=table["target"].to_numpy().astype(np.int64),
            candidates=cands.flatten().to_numpy().astype(np.int64).reshape(-1, width),
            ratings=table["rating"].to_numpy().astype(np.float32)
            if "rating" in table.column_names
            else np.ones(table.num_rows, np.float32),
        )
        for column, values, rows in (
            ("target", arrays.targets, np.arange(len(arrays))),
            ("candidates", arrays.candidates.ravel(), np.repeat(np.arange(len(arrays)), width)),
            ("history", arrays.values, np.repeat(np.arange(len(arrays)), np.diff(arrays.offsets))),
        ):
            bad = (values < 0) | (values >= self.n_items)
            if bad.any():
                at = int(np.flatnonzero(bad)[0])
                raise DataError(
                    path,
                    f"item id {int(values[at])} is not in items.parquet ({self.n_items} items)",
                    row=int(rows[at]),
                    column=column,
                )
        missing = ~(arrays.candidates == arrays.targets[:, None]).any(axis=1)
        if missing.any():
            raise DataError(path, "the target is not among the candidates", row=int(np.flatnonzero(missing)[0]))
        return arrays
