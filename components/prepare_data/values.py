"""Plausibility of the values a reader returns: finite ratings inside each dataset's scale, timestamps that are
neither negative nor in the future. A value outside them is a DataError naming the file and line, before anything
is encoded or written (a NaN rating once reached stats.json, which JSON cannot hold).
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow.compute as pc

from components.common.errors import DataError
from components.prepare_data.readers import RawData

# (lowest, highest) rating per dataset; None: unbounded on that side.
RATING_SCALES: dict[str, tuple[float | None, float | None]] = {
    "movielens-latest-small": (0.5, 5.0),  # half stars
    "movielens-100k": (1.0, 5.0),
    "movielens-1m": (1.0, 5.0),
    "lastfm-hetrec-2k": (0.0, None),  # listening counts
    "amazon-reviews": (1.0, 5.0),
}
FUTURE_SLACK = 86_400  # seconds past now a timestamp may lie (clock skew between machines)


def check_values(raw: RawData, dataset: str, now: float | None = None) -> None:
    """Raise a DataError at the first implausible rating or timestamp of `raw.interactions`."""
    low, high = RATING_SCALES[dataset]
    rating = raw.interactions["rating"].to_numpy()  # (rows,) float64
    bad = ~np.isfinite(rating)
    if low is not None:
        bad |= rating < low
    if high is not None:
        bad |= rating > high
    if bad.any():
        row = int(np.argmax(bad))
        scale = f"between {low} and {high}" if high is not None else f">= {low}"
        _fail(raw, row, "rating", f"got {rating[row]}; expected a finite rating {scale} for {dataset}")
    stamps = raw.interactions["timestamp"]
    if stamps.null_count == len(stamps):
        return
    latest = int((time.time() if now is None else now) + FUTURE_SLACK)
    values = pc.fill_null(stamps, 0).to_numpy()  # (rows,) int64 seconds
    bad = (values < 0) | (values > latest)
    if bad.any():
        row = int(np.argmax(bad))
        _fail(
            raw,
            row,
            "timestamp",
            f"got {values[row]}; expected Unix seconds between 0 and now ({latest - FUTURE_SLACK})",
        )


def _fail(raw: RawData, row: int, column: str, problem: str) -> None:
    raise DataError(raw.interactions_file, problem, line=raw.first_line + row, column=column)
