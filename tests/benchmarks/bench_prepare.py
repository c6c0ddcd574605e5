"""Benchmark: recforge's leave-one-out + candidate sampling against the same in vectorised pandas.

Both sides start from the same interaction arrays (user, item, timestamp) and produce, for every user, the
train/valid/test rows (history oldest first, target, target + 19 unseen negatives); the run checks that users,
targets and histories are equal row for row and that every candidate set is valid, then times both with the
same number of repetitions. (The first version compared against a per-user Python loop under groupby/apply, a
baseline we could have made much faster.) Run on demand:

    python tests/benchmarks/bench_prepare.py [--sizes small,1M,5M] [--repeat 3]

Prints a table and writes JSON to tests/benchmarks/results/prepare.json. Timings are not asserted anywhere.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from components.prepare_data.config import PrepareConfig
from components.prepare_data.encode import encode
from components.prepare_data.readers import read_movielens_latest
from components.prepare_data.splits import SPLIT_NAMES, Sequences, histories, split_rows
from components.recsys.candidates import candidate_sets, seen_keys

NEGATIVES = 19


def recforge_loo(user: np.ndarray, item: np.ndarray, ts: np.ndarray, n_users: int, n_items: int) -> dict:
    order = np.lexsort((np.arange(len(user)), ts, user))
    seq = Sequences.from_sorted(user[order], item[order], np.ones(len(user), np.float32), ts[order], n_users)
    seen = seen_keys(seq.user, seq.item, n_items)
    out = {}
    for stream, (name, part) in enumerate(split_rows(seq, "leave-one-out", None).items()):
        offsets, values = histories(seq, part.users, part.targets)
        targets = seq.item[part.targets]
        cands = candidate_sets(targets, part.users, seen, n_items, NEGATIVES, 42, stream)
        out[name] = (part.users, offsets, values, targets, cands)
    return out


def pandas_loo(user: np.ndarray, item: np.ndarray, ts: np.ndarray, n_items: int) -> dict:
    """The same rows with vectorised pandas: one stable sort, groupby cumcount/size for positions, histories as
    slices of the sorted item column (offsets, values), negatives by batched rejection sampling (a draw of 2x the
    needed candidates per row, seen pairs removed with isin on user*n_items+item keys, duplicates dropped,
    the first 19 kept; rows still short are drawn again)."""
    df = pd.DataFrame({"user": user, "item": item, "ts": ts, "row": np.arange(len(user))})
    df = df.sort_values(["user", "ts", "row"], kind="stable", ignore_index=True)
    groups = df.groupby("user", sort=False)
    pos = groups.cumcount().to_numpy()
    back = groups["item"].transform("size").to_numpy() - pos  # 1 = the user's last interaction
    items = df["item"].to_numpy()
    users_sorted = df["user"].to_numpy()
    seen = np.unique(users_sorted.astype(np.int64) * n_items + items)
    rng = np.random.default_rng(42)
    out = {}
    for last, name in ((1, "test"), (2, "valid"), (3, "train")):
        rows = np.flatnonzero((back == last) & (pos >= 1))
        users, targets = users_sorted[rows], items[rows]
        starts, lengths = rows - pos[rows], pos[rows]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        values = items[np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])]
        negatives = np.full((len(rows), NEGATIVES), -1, dtype=np.int64)
        todo = np.arange(len(rows))
        while len(todo):
            draw = pd.DataFrame(
                {"slot": np.repeat(todo, 2 * NEGATIVES), "item": rng.integers(0, n_items, len(todo) * 2 * NEGATIVES)}
            )
            keys = pd.Series(users[draw["slot"].to_numpy()].astype(np.int64) * n_items + draw["item"].to_numpy())
            draw = draw[~keys.isin(seen).to_numpy()]
            draw = draw.drop_duplicates(["slot", "item"])
            draw = draw[draw.groupby("slot").cumcount() < NEGATIVES]
            counts = draw.groupby("slot").size().reindex(todo, fill_value=0).to_numpy()
            full = todo[counts == NEGATIVES]
            kept = draw[draw["slot"].isin(full)]
            negatives[kept["slot"].to_numpy(), kept.groupby("slot").cumcount().to_numpy()] = kept["item"].to_numpy()
            todo = todo[counts < NEGATIVES]
        cands = np.concatenate([targets[:, None], negatives], axis=1)
        cands = np.take_along_axis(cands, rng.permuted(np.tile(np.arange(NEGATIVES + 1), (len(rows), 1)), axis=1), 1)
        out[name] = (users, offsets, values, targets, cands)
    return out


def check_same_content(ours: dict, theirs: dict, user: np.ndarray, item: np.ndarray, n_items: int) -> None:
    """Users, targets and histories equal row for row; candidates valid on both sides (the target, 19 distinct
    items the user never touched): the negatives themselves come from different random streams."""
    seen = set((user.astype(np.int64) * n_items + item).tolist())
    for name in SPLIT_NAMES:
        for side in (ours[name], theirs[name]):
            users, _, _, targets, cands = side
            assert cands.shape == (len(users), NEGATIVES + 1) and np.all((cands == targets[:, None]).sum(1) == 1)
            assert all(len(set(row)) == NEGATIVES + 1 for row in cands.tolist())
            keys = users[:, None].astype(np.int64) * n_items + cands
            assert sum(k in seen for k in keys.ravel().tolist()) == len(users)  # only the targets were seen
        a, b = ours[name], theirs[name]
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[3], b[3]), f"{name}: users or targets differ"
        assert np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2]), f"{name}: histories differ"


def synthetic(n_interactions: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Users with ~100 interactions each, Zipf-like item popularity, random timestamps, no repeated pairs."""
    rng = np.random.default_rng(seed)
    n_users = n_interactions // 100
    n_items = max(20_000, n_interactions // 50)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    draw = int(n_interactions * 1.3)
    user = rng.integers(0, n_users, draw)
    item = rng.choice(n_items, draw, p=popularity / popularity.sum())
    keys = np.unique(user.astype(np.int64) * n_items + item)
    keys = rng.choice(keys, n_interactions, replace=False)  # exactly n distinct user-item pairs
    user, item = (keys // n_items).astype(np.int64), (keys % n_items).astype(np.int64)
    ts = rng.integers(1_000_000_000, 1_600_000_000, len(user))
    return user, item, ts, n_users, n_items


def movielens() -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    data_dir = Path(os.environ.get("RECFORGE_DATA_DIR", "../shared/data")) / "ml-latest-small"
    enc = encode(read_movielens_latest(data_dir), PrepareConfig())
    inter = enc.interactions
    return (
        inter["user_id"].to_numpy().astype(np.int64),
        inter["item_id"].to_numpy().astype(np.int64),
        inter["timestamp"].to_numpy(),
        enc.users.num_rows,
        enc.items.num_rows,
    )


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,1M,5M")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    datasets = {"small": ("ml-latest-small", movielens), "1M": ("synthetic 1M", lambda: synthetic(1_000_000)),
                "5M": ("synthetic 5M", lambda: synthetic(5_000_000))}  # fmt: skip
    results = []
    for key in args.sizes.split(","):
        label, load = datasets[key]
        user, item, ts, n_users, n_items = load()
        ours = recforge_loo(user, item, ts, n_users, n_items)
        theirs = pandas_loo(user, item, ts, n_items)
        check_same_content(ours, theirs, user, item, n_items)
        t_ours = best_of(functools.partial(recforge_loo, user, item, ts, n_users, n_items), args.repeat)
        t_pandas = best_of(functools.partial(pandas_loo, user, item, ts, n_items), args.repeat)
        results.append(
            {"data": label, "interactions": len(user), "users": n_users, "items": n_items,
             "recforge_s": round(t_ours, 3), "pandas_s": round(t_pandas, 3), "speedup": round(t_pandas / t_ours, 1)}
        )  # fmt: skip
        print(f"{label:>16}: recforge {t_ours:7.3f}s  pandas {t_pandas:8.3f}s  ratio {t_pandas / t_ours:6.1f}x")
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }
    print("\n| data | interactions | recforge (s) | vectorised pandas (s) | speed-up |\n|---|---|---|---|---|")
    for r in results:
        print(f"| {r['data']} | {r['interactions']:,} | {r['recforge_s']} | {r['pandas_s']} | {r['speedup']}x |")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "prepare.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2))


if __name__ == "__main__":
    main()
