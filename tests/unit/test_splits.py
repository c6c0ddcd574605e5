"""Split protocols: leave-one-out and global time split, checked by hand and against a plain reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from components.common.errors import ConfigError
from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import build_splits
from components.prepare_data.encode import encode
from components.prepare_data.readers import read_lastfm, read_movielens_latest
from components.prepare_data.splits import Sequences, histories, split_rows, time_cutoff

#   user 0: items 10, 11, 12, 13, 14 at t = 1..5;  user 1: items 20, 21 at t = 2, 9;  user 2: item 30 at t = 3
USER = np.array([0, 0, 0, 0, 0, 1, 1, 2])
ITEM = np.array([10, 11, 12, 13, 14, 20, 21, 30])
TIME = np.array([1, 2, 3, 4, 5, 2, 9, 3])


def _seq() -> Sequences:
    return Sequences.from_sorted(USER, ITEM, np.ones(8, np.float32), TIME, 3)


def _rows(split: str, cutoff: int | None = None) -> dict[str, list[tuple[int, list[int], int]]]:
    seq = _seq()
    out = {}
    for name, part in split_rows(seq, split, cutoff).items():
        offsets, values = histories(seq, part.users, part.targets)
        out[name] = [
            (int(u), values[offsets[r] : offsets[r + 1]].tolist(), int(seq.item[t]))
            for r, (u, t) in enumerate(zip(part.users, part.targets, strict=True))
        ]
    return out


def test_leave_one_out_by_hand() -> None:
    rows = _rows("leave-one-out")
    assert rows["test"] == [(0, [10, 11, 12, 13], 14), (1, [20], 21)]
    assert rows["valid"] == [(0, [10, 11, 12], 13)]
    assert rows["train"] == [(0, [10, 11], 12)]
    parts = split_rows(_seq(), "leave-one-out", None)
    assert (parts["test"].left_out, parts["valid"].left_out, parts["train"].left_out) == (1, 2, 2)


def test_time_split_by_hand() -> None:
    rows = _rows("time", cutoff=4)  # before 4: user 0 has 10,11,12; user 1 has 20; user 2 has 30
    assert rows["test"] == [(0, [10, 11, 12], 13), (1, [20], 21)]
    assert rows["valid"] == [(0, [10, 11], 12)]
    assert rows["train"] == [(0, [10], 11)]
    parts = split_rows(_seq(), "time", 4)
    assert parts["test"].left_out == 1  # user 2 has nothing after the cutoff


def test_time_cutoff_from_fraction() -> None:
    assert time_cutoff(np.arange(100), 0, 0.9, "x") == 90
    assert time_cutoff(np.arange(100), 55, 0.9, "x") == 55
    with pytest.raises(ConfigError, match="lastfm-hetrec-2k has no timestamps; expected split=leave-one-out"):
        time_cutoff(None, 0, 0.9, "lastfm-hetrec-2k")


def test_leave_one_out_matches_reference_on_real_data(shared_data: Path) -> None:
    raw = read_movielens_latest(shared_data / "ml-latest-small")
    enc = encode(raw, PrepareConfig())
    tables, stats = build_splits(enc, PrepareConfig())
    # reference: per user, sort (timestamp, file row) and take the last items
    inter = raw.interactions.to_pydict()
    per_user: dict[int, list[tuple[int, int, int]]] = {}
    for row, (u, i, t) in enumerate(zip(inter["user"], inter["item"], inter["timestamp"], strict=True)):
        per_user.setdefault(u, []).append((t, row, i))
    source_of_item = dict(zip(enc.items["source_id"].to_pylist(), enc.items["item_id"].to_pylist(), strict=True))
    test = {r["user_id"]: r for r in tables["test"].to_pylist()}
    users = enc.users["source_id"].to_pylist()
    assert len(test) == 610 and stats["test"]["rows"] == 610
    for dense, source in enumerate(users):
        seq = [source_of_item[str(i)] for _, _, i in sorted(per_user[int(source)])]
        assert test[dense]["target"] == seq[-1]
        assert test[dense]["history"] == seq[:-1]
    valid = tables["valid"].to_pylist()[0]
    first_seq = [source_of_item[str(i)] for _, _, i in sorted(per_user[int(users[0])])]
    assert valid["target"] == first_seq[-2] and valid["history"] == first_seq[:-2]


def test_lastfm_keeps_file_order_and_counts_left_out_users(shared_data: Path) -> None:
    raw = read_lastfm(shared_data / "hetrec2011-lastfm-2k")
    enc = encode(raw, PrepareConfig(dataset="lastfm-hetrec-2k"))
    tables, stats = build_splits(enc, PrepareConfig(dataset="lastfm-hetrec-2k"))
    per_user = np.bincount(enc.interactions["user_id"].to_numpy())
    assert stats["test"]["users_left_out"] == int((per_user < 2).sum())
    assert stats["train"]["users_left_out"] == int((per_user < 4).sum())
    assert stats["test"]["rows"] + stats["test"]["users_left_out"] == 1892
    first = tables["test"].to_pylist()[0]  # user "2" listens in file order 51, 52, ... ; the last listed is the target
    artists = enc.items["source_id"].to_pylist()
    assert [artists[i] for i in first["history"][:3]] == ["51", "52", "53"]
    assert tables["test"]["timestamp"].null_count == tables["test"].num_rows
    with pytest.raises(ConfigError, match="no timestamps"):
        build_splits(enc, PrepareConfig(dataset="lastfm-hetrec-2k", split="time"))
