"""SASRec: causal attention, learning, the preference oracle, representations and save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from components.common.prepared import Prepared
from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare
from components.recsys.metrics import hit_ratio_at_k, ranks_from_scores
from components.recsys.popularity import train_popularity
from components.recsys.sasrec import (
    SASRec,
    load_sasrec,
    pad_histories,
    preference_probabilities,
    preference_probability,
    representations,
    save_sasrec,
    score_split,
)
from components.train_baseline.config import SASRecConfig
from components.train_baseline.sasrec import train_sasrec


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    out = tmp_path_factory.mktemp("ml") / "prepared"
    prepare(PrepareConfig(), out)
    return Prepared(out)


@pytest.fixture(scope="module")
def trained(data: Prepared) -> tuple[SASRec, dict]:
    return train_sasrec(data, SASRecConfig(sasrec_epochs=30, sasrec_eval_every=10), progress=False)


def test_attention_is_causal_and_padding_is_ignored() -> None:
    torch.manual_seed(0)
    model = SASRec(n_items=50, max_len=8, hidden=16, blocks=2, heads=2, dropout=0.0).eval()
    seq = pad_histories([np.array([3, 4, 5, 6])], 8)  # (1, 8): four pads then items
    assert seq.tolist() == [[0, 0, 0, 0, 4, 5, 6, 7]]
    changed = seq.clone()
    changed[0, -1] = 20  # change the most recent item
    with torch.no_grad():
        a, b = model(seq), model(changed)
    assert torch.allclose(a[0, :-1], b[0, :-1], atol=1e-6)  # earlier positions never see later items
    assert not torch.allclose(a[0, -1], b[0, -1])
    assert torch.all(a[0, :4] == 0)  # padding positions carry nothing
    longer = pad_histories([np.array([9, 3, 4, 5, 6])], 8)  # one more, older, item changes the state
    with torch.no_grad():
        assert not torch.allclose(model.represent(longer), model.represent(seq))


def test_sasrec_learns_and_beats_random(data: Prepared, trained: tuple[SASRec, dict]) -> None:
    model, record = trained
    assert record["loss"][-1] < record["loss"][0] * 0.8
    assert record["best_valid_hr_10"] >= record["valid_hr_10"][0][1]
    test = data.split("test")
    hr10 = hit_ratio_at_k(ranks_from_scores(score_split(model, test), test.target_index()), 10)
    assert hr10 > 0.65  # random ranking over 20 candidates: 0.5


def test_preference_oracle(data: Prepared, trained: tuple[SASRec, dict]) -> None:
    model, _ = trained
    test = data.split("test")
    history = test.history(0)
    a, b = int(test.candidates[0, 0]), int(test.candidates[0, 1])
    p_ab, p_ba = preference_probability(model, history, a, b), preference_probability(model, history, b, a)
    assert 0.0 < p_ab < 1.0 and p_ab + p_ba == pytest.approx(1.0, abs=1e-6)
    with torch.no_grad():
        scores = model.score(pad_histories([history], model.max_len), torch.tensor([[a, b]]))[0]
    assert p_ab == pytest.approx(float(torch.sigmoid(scores[0] - scores[1])), abs=1e-6)
    # the true next item is preferred to a random negative for most users
    rows = np.arange(len(test))
    negatives = np.where(test.candidates[:, 0] == test.targets, test.candidates[:, 1], test.candidates[:, 0])
    probs = preference_probabilities(model, [test.history(r) for r in rows], test.targets, negatives)
    assert probs.shape == (len(test),) and (probs > 0.5).mean() > 0.58  # chance: 0.5 (about 4 standard errors)


def test_save_load_and_representations(data: Prepared, trained: tuple[SASRec, dict], tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    model, record = trained
    save_sasrec(model, record, data, tmp_path / "m")
    again = load_sasrec(tmp_path / "m")
    test = data.split("test")
    assert np.allclose(score_split(again, test), score_split(model, test), atol=1e-5)
    embeddings = np.load(tmp_path / "m" / "item_embeddings.npy")
    assert embeddings.shape == (data.n_items, 64)
    reps = pq.read_table(tmp_path / "m" / "user_repr.parquet")
    test_reps = reps.filter(reps["split"].to_numpy(zero_copy_only=False) == "test")
    assert test_reps.num_rows == len(test)
    assert np.allclose(
        np.stack(test_reps["representation"].to_numpy(zero_copy_only=False)), representations(model, test), atol=1e-5
    )


def test_popularity_counts_only_training_interactions(data: Prepared) -> None:
    counts = train_popularity(data)
    train = data.split("train")
    assert counts.sum() == len(train.values) + len(train.targets)
    assert counts.sum() == 100836 - 2 * 610  # every interaction but each user's valid and test targets


def _cyclic_movielens(folder: Path, n_items: int = 120, n_users: int = 300, length: int = 24) -> Path:
    """ratings.csv / movies.csv where every user walks the items in order (i -> i + 1 mod n) from a random
    start: the next item is fully determined by the last one, and every item is about equally popular."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    rows = ["userId,movieId,rating,timestamp"]
    for user in range(1, n_users + 1):
        start = int(rng.integers(n_items))
        for step in range(length):
            rows.append(f"{user},{(start + step) % n_items + 1},4.0,{1_000_000 + 100 * step}")
    (folder / "ratings.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    movies = ["movieId,title,genres"] + [f"{i},Item {i} (2000),Drama" for i in range(1, n_items + 1)]
    (folder / "movies.csv").write_text("\n".join(movies) + "\n", encoding="utf-8")
    return folder


def test_sasrec_learns_a_sequential_rule_that_popularity_cannot_see(tmp_path: Path) -> None:
    prepare(PrepareConfig(data_dir=str(_cyclic_movielens(tmp_path / "raw"))), tmp_path / "prepared")
    data = Prepared(tmp_path / "prepared")
    test = data.split("test")
    target = test.target_index()
    popularity = train_popularity(data)[test.candidates]  # (rows, 20)
    pop_hr1 = hit_ratio_at_k(ranks_from_scores(popularity.astype(float), target), 1)
    pop_hr10 = hit_ratio_at_k(ranks_from_scores(popularity.astype(float), target), 10)
    config = SASRecConfig(
        sasrec_epochs=150, sasrec_eval_every=50, sasrec_max_len=20, sasrec_dropout=0.0, sasrec_lr=5e-3
    )
    model, _ = train_sasrec(data, config, progress=False)
    sasrec_hr1 = hit_ratio_at_k(ranks_from_scores(score_split(model, test), target), 1)
    assert pop_hr10 < 0.65 and pop_hr1 < 0.15  # popularity is at chance here (0.5 and 0.05)
    assert sasrec_hr1 > 0.8, sasrec_hr1  # SASRec reads the last item and names the next
