"""Candidate scoring (shared-prompt KV cache vs full forwards), answer matching, bias and the report."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from components.common.tiny import build_model, build_tokenizer
from components.evaluate.bias import bias_metrics
from components.recsys.comparison import random_ranking, render_comparison
from components.recsys.generative import TitleMatcher, generate_answers, generative_metrics, normalise_title
from components.recsys.scoring import score_full, score_shared_prompt

TITLES = ["Toy Story (1995)", "Matrix, The (1999)", "Amélie (2001)", "Heat (1995)", "Up", "Heat (1986)"]


@pytest.fixture(scope="module")
def tiny() -> tuple:
    tokenizer = build_tokenizer(TITLES * 20, vocab_size=400)
    model = build_model("tiny", len(tokenizer), seed=0, tokenizer=tokenizer).eval()
    return model, tokenizer


def test_shared_prompt_scores_equal_full_forwards(tiny: tuple) -> None:
    model, tokenizer = tiny
    prompts = ["The user watched Toy Story (1995), Up. Answer:", "Heat (1995). Candidates: Up, Heat (1986). Answer:"]
    candidates = [[" Up", " Matrix, The (1999)", " Amélie (2001)"], [" Heat (1986)", " Toy Story (1995)", " Up"]]
    shared = score_shared_prompt(model, tokenizer, prompts, candidates, batch_users=2)
    full = score_full(model, tokenizer, prompts, candidates, batch_sequences=4)
    assert shared.shape == (2, 3)
    assert np.allclose(shared, full, atol=1e-5)
    # by hand for one candidate: mean log-probability of its tokens and the end-of-sequence token
    ids = tokenizer(prompts[0], add_special_tokens=False).input_ids
    cand = [*tokenizer(" Up", add_special_tokens=False).input_ids, tokenizer.eos_token_id]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids + cand])).logits[0], -1)
    expected = np.mean([logp[len(ids) - 1 + j, t].item() for j, t in enumerate(cand)])
    assert shared[0, 0] == pytest.approx(expected, abs=1e-5)
    # batching does not change scores
    assert np.allclose(score_shared_prompt(model, tokenizer, prompts, candidates, batch_users=1), shared, atol=1e-5)


def test_generation_returns_text_in_prompt_order(tiny: tuple) -> None:
    model, tokenizer = tiny
    prompts = ["Heat (1995). Candidates: Up, Heat (1986). Answer:", "Answer:", "Up. Answer:"]
    answers = generate_answers(model, tokenizer, prompts, max_new_tokens=4, batch_size=2)  # batched by length
    one_by_one = [generate_answers(model, tokenizer, [p], max_new_tokens=4)[0] for p in prompts]
    assert len(answers) == 3 and all(isinstance(a, str) for a in answers)
    assert answers == one_by_one


def test_title_matching() -> None:
    assert normalise_title("Matrix, The (1999)") == "the matrix"
    assert normalise_title("  AMÉLIE (2001) ") == "amelie"
    matcher = TitleMatcher(TITLES)
    assert matcher.match("Heat (1995)", [5, 3]) == 3  # exact among candidates
    assert matcher.match("heat", [5, 0]) == 5  # normalised, the candidate wins over the catalogue
    assert matcher.match("The Matrix", [0, 4]) == 1  # in the catalogue, not a candidate
    assert matcher.match("Finding Nemo", [0, 1]) == -1  # hallucinated
    assert matcher.match("", [0]) == -1
    metrics = generative_metrics(
        np.array([3, 1, -1, 0]), np.array([3, 2, 2, 4]), np.array([[3, 4], [2, 0], [2, 5], [4, 0]])
    )
    assert metrics == {"gen_hr_1": 0.25, "valid_ratio": 0.5, "hallucination_rate": 0.25}


def test_bias_metrics_by_hand() -> None:
    counts = np.array([10, 5, 1, 0, 4, 8])  # train interaction counts of 6 items, 20 training users
    top1 = np.array([0, 0, 5])
    targets = np.array([2, 0, 4])  # target popularity: low (1), high (10), mid (4)
    ranks = np.array([11, 1, 3])
    out = bias_metrics(top1, targets, ranks, counts, n_train_users=20)
    assert out["avg_pop"] == pytest.approx((0.5 + 0.5 + 0.4) / 3)
    assert (out["hr_10_pop_low"], out["hr_10_pop_mid"], out["hr_10_pop_high"]) == (0.0, 1.0, 1.0)


def test_random_reference_and_report() -> None:
    ref = random_ranking(20)
    assert ref["hr_10"] == 0.5 and ref["hr_1"] == 0.05
    assert ref["ndcg_10"] == pytest.approx(sum(1 / math.log2(r + 1) for r in range(1, 11)) / 20)
    assert ref["mrr"] == pytest.approx(sum(1 / r for r in range(1, 21)) / 20)
    result = {"users": 3, "candidates": 20, "metrics": {"hr_10": 0.75, "valid_ratio": 1.0}}
    text = render_comparison([("popularity", result)], title="T")
    assert "| popularity | 0.7500 | 1.0000 |" in text and "| random (expected) | 0.5000 |  |" in text
