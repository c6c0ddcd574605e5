"""The held-out evaluator of Pigeon's generations: it learns genres from real rendered posters, round-trips
through its folder, and the diversity measure matches a hand computation."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from components.common.errors import DataError
from components.train_diffusion.encoder import embed_images
from components.train_diffusion.heldout import (
    genre_distribution,
    load_evaluator,
    pairwise_diversity,
    save_evaluator,
    train_evaluator,
)
from components.train_diffusion.posters import render_catalogue


def _posters(shared_data: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` MovieLens titles rendered as 32 px posters, with their multi-hot genres."""
    with (shared_data / "ml-latest-small" / "movies.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:count]
    genres = [r["genres"].split("|") for r in rows]
    names = sorted({g for gs in genres for g in gs if not g.startswith("(")})
    multi_hot = np.array([[g in gs for g in names] for gs in genres], dtype=np.uint8)
    return render_catalogue([r["title"] for r in rows], genres, 32), multi_hot


def test_pairwise_diversity_is_the_mean_distance_between_different_users() -> None:
    a, b, c = [1.0, 0.0], [0.6, 0.8], [0.0, 1.0]
    emb = torch.tensor([a, b, c])
    # users 0, 0, 1: the pairs (a, c) and (b, c) in both orders; 1 - cos = 1 - 0 and 1 - 0.8
    assert pairwise_diversity(emb, np.array([0, 0, 1])) == pytest.approx((1.0 + 0.2) / 2)
    # one poster for everyone has no diversity at all
    same = torch.tensor([a, a, a])
    assert pairwise_diversity(same, np.array([0, 1, 2])) == pytest.approx(0.0, abs=1e-7)
    assert np.isnan(pairwise_diversity(emb, np.array([4, 4, 4])))


def test_genre_distribution_rows_sum_to_one() -> None:
    dist = genre_distribution(np.array([[1, 0, 1, 0], [0, 0, 0, 0]], dtype=np.uint8))
    assert torch.allclose(dist, torch.tensor([[0.5, 0, 0.5, 0], [0.25, 0.25, 0.25, 0.25]]))


def test_evaluator_learns_genres_of_real_posters_and_round_trips(shared_data: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    images, genres = _posters(shared_data, 800)
    model, record = train_evaluator(images, genres, epochs=3, seed=31)
    losses = record["evaluator_losses"]
    assert len(losses) == 3 and losses[-1] < 0.85 * losses[0]
    # the top predicted genre of unseen posters is one of theirs far more often than the commonest genre is
    assert record["evaluator_test_images"] == 80
    assert record["evaluator_accuracy"] > record["evaluator_majority_accuracy"] + 0.2
    save_evaluator(model, record, tmp_path / "evaluator")
    again = load_evaluator(tmp_path / "evaluator")
    first, second = embed_images(model, images[:16]), embed_images(again, images[:16])
    assert first.shape == (16, 32) and torch.allclose(first, second)
    assert torch.allclose(first.norm(dim=-1), torch.ones(16), atol=1e-5)


def test_evaluator_errors_name_the_place(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"image-data: 3 images; the held-out evaluator needs at least 10"):
        train_evaluator(np.zeros((3, 32, 32, 3), np.uint8), np.ones((3, 2), np.uint8), 1, 0)
    with pytest.raises(DataError, match=r"evaluator.json: file not found; expected the output of the train-evaluator"):
        load_evaluator(tmp_path)
