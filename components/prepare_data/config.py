"""Settings of the prepare step (one frozen dataclass, standard library only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from components.common.config import StepConfig, parse_time, scheduled_time, setting

DATASET_NAMES = (
    "movielens-latest-small",
    "movielens-100k",
    "movielens-1m",
    "lastfm-hetrec-2k",
    "amazon-reviews",
)
SPLITS = ("leave-one-out", "time")
DUPLICATES = ("last", "first", "error")
UNKNOWN_ITEMS = ("error", "drop")
MAX_NEGATIVES = 100_000


@dataclass(frozen=True)
class PrepareConfig(StepConfig):
    """How raw interactions become dense tables, chronological splits and candidate sets."""

    section: ClassVar[str] = "prepare_data"

    dataset: str = setting("movielens-latest-small", f"raw dataset: {', '.join(DATASET_NAMES)}")
    data_dir: str = setting(
        "", "folder holding the raw files; empty: $RECFORGE_DATA_DIR/<folder>, ~/.cache/recforge, download"
    )
    split: str = setting(
        "leave-one-out",
        "leave-one-out (last item test, second-last valid) or time (global cutoff; first item after it is test)",
    )
    time_cutoff: int = setting(0, "time split: test starts at this Unix time; 0 uses time_fraction")
    time_fraction: float = setting(0.9, "time split: share of interactions (by time) before the cutoff")
    num_negatives: int = setting(19, "negatives per candidate set, drawn from items the user never touched")
    seed: int = setting(42, "seed of negative sampling and candidate order")
    min_rating: float = setting(0.0, "implicit feedback: keep interactions rated >= this; 0 keeps every one")
    kcore: int = setting(0, "k-core filtering: keep users and items with >= k interactions; 0 is off")
    duplicates: str = setting("last", "a user-item pair seen twice: keep the last, the first, or error")
    unknown_items: str = setting("error", "interactions with an item missing from the catalogue: error or drop")
    data_until: str = setting(
        "",
        "keep interactions up to this time (ISO-8601 or Unix seconds); empty: all, or a recurring run's schedule time",
    )

    def __post_init__(self) -> None:
        self.check_types()
        self.check_choice("dataset", DATASET_NAMES)
        self.check_choice("split", SPLITS)
        self.check_choice("duplicates", DUPLICATES)
        self.check_choice("unknown_items", UNKNOWN_ITEMS)
        self.check_range("time_cutoff", 0)
        self.check_range("time_fraction", 0.0, 1.0, low_open=True, high_open=True)
        self.check_range("num_negatives", 1, MAX_NEGATIVES)  # and by the catalogue: components/recsys/candidates.py
        self.check_range("seed", 0)
        self.check_range("min_rating", 0.0)
        self.check_range("kcore", 0)
        parse_time(self.data_until, self._where("data_until"))

    @property
    def until_seconds(self) -> int:
        """`data_until` as Unix seconds (0: no limit)."""
        return parse_time(self.data_until, self._where("data_until"))


def effective_until(data_until: str, schedule_time: str) -> str:
    """The end of the data window: `data_until` when given, else the schedule time of a recurring run, else ''."""
    return data_until or scheduled_time(schedule_time)
