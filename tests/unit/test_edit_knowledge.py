"""Knowledge editing on real catalogue facts and a tiny model: fact sets, layers, k*/v*, a single edit, the C0
cache, and the bad-input errors."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import pytest
import torch

from components.common.errors import ConfigError, DataError
from components.edit_knowledge import facts as F
from components.edit_knowledge.alphaedit import null_space_projector, rule_for
from components.edit_knowledge.core import read_requests
from components.edit_knowledge.corpus import read_corpus
from components.edit_knowledge.evaluation import efficacy
from components.edit_knowledge.fact_model import train_on_sentences
from components.edit_knowledge.layers import mlp_out, resolve_layers, weight_matrix
from components.edit_knowledge.probes import subject_last_index
from components.edit_knowledge.sequence import EditState, edit_batch, run_sequence
from components.edit_knowledge.stats import cached_second_moments, second_moments
from components.edit_knowledge.targets import TargetSettings, keys_for, target_value


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The items of ml-latest-small as the prepare step writes them."""
    import pyarrow.parquet as pq

    from components.prepare_data.config import PrepareConfig
    from components.prepare_data.core import prepare

    root = tmp_path_factory.mktemp("edit-data")
    prepare(PrepareConfig(), root / "data")
    return pq.read_table(root / "data" / "items.parquet").to_pylist()


@pytest.fixture(scope="module")
def fact_world(catalogue: list[dict]) -> dict:
    """A tiny model trained until it knows the genre and year facts of 30 real items."""
    from components.common.tiny import build_model, build_tokenizer

    facts = F.choose_subjects(F.item_facts(catalogue), 30, seed=0)
    requests = F.edit_requests(facts, 6, 3, seed=0)
    texts = F.sentences(facts)
    tokenizer = build_tokenizer(texts, vocab_size=1024)
    model = build_model("tiny", len(tokenizer), 0, tokenizer)
    curve = train_on_sentences(model, tokenizer, texts, epochs=60, lr=3e-3, batch_size=32, seed=0)
    preserved = F.preserved_sentences(facts, requests)
    return {"facts": facts, "requests": requests, "model": model, "tokenizer": tokenizer, "curve": curve,
            "preserved": preserved}  # fmt: skip


def test_facts_from_the_real_catalogue(catalogue: list[dict]) -> None:
    facts = F.item_facts(catalogue)
    toy = [f for f in facts if f.subject == "Toy Story"]
    assert {(f.relation, f.target) for f in toy} == {("genre", " Adventure"), ("year", " 1995")}
    assert not any(re.search(r"\(\d{4}\)$", f.subject) for f in facts)  # the "(year)" suffix is gone
    subjects = [f.subject for f in facts if f.relation == "year"]
    assert len(subjects) == len(set(subjects))  # one answer per subject
    assert F.subject_of("Seven (a.k.a. Se7en) (1995)") == "Seven (a.k.a. Se7en)"


def test_edit_requests_are_counterfactual_with_unedited_neighbours(catalogue: list[dict]) -> None:
    facts = F.choose_subjects(F.item_facts(catalogue), 200, seed=1)
    requests = F.edit_requests(facts, 40, 4, seed=1)
    assert requests == F.edit_requests(facts, 40, 4, seed=1)  # seeded
    truth = {(f.subject, f.relation): f.target for f in facts}
    edited = {r.subject for r in requests}
    assert len(edited) == 40
    for r in requests:
        assert truth[(r.subject, r.relation)] == r.target_true != r.target_new
        assert r.text() == F.RELATIONS[r.relation][0].format(r.subject)
        assert len(r.paraphrases) == 2 and all(r.subject in p for p in r.paraphrases)
        for prompt in r.neighbours:
            other = next(s for s in truth if prompt == F.RELATIONS[r.relation][0].format(s[0]))[0]
            assert other not in edited and truth[(other, r.relation)] == r.target_true


def test_the_tiny_model_learns_the_facts(fact_world: dict) -> None:
    curve = fact_world["curve"]
    assert curve[-1] < 0.5 * curve[0]
    # before editing the model prefers every true object to its counterfactual
    assert efficacy(fact_world["model"], fact_world["tokenizer"], fact_world["requests"]) <= 0.2


def test_layers_resolve_per_architecture(fact_world: dict) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    model = fact_world["model"]
    assert resolve_layers(model, None) == [0]  # 2 layers: the last one cannot move a fact to the prompt's end
    assert mlp_out(model, 0) is model.model.layers[0].mlp.down_proj
    with pytest.raises(ConfigError, match=r"layer 5 is outside the model; expected indices 0\.\.1"):
        resolve_layers(model, [0, 5])
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=4, n_embd=32, n_head=2, vocab_size=50, n_positions=64))
    assert mlp_out(gpt2, 1) is gpt2.transformer.h[1].mlp.c_proj
    assert tuple(weight_matrix(gpt2, 1).shape) == (32, 128)  # (d_model, d_ff), Conv1D stores the transpose
    assert resolve_layers(gpt2, None) == [0, 1, 2]


def test_subject_position_and_keys(fact_world: dict) -> None:
    tokenizer, request = fact_world["tokenizer"], fact_world["requests"][0]
    index = subject_last_index(tokenizer, request.prompt, request.subject)
    ids = tokenizer(request.text(), add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids[: index + 1]) == request.subject
    keys = keys_for(fact_world["model"], tokenizer, fact_world["requests"][:3], 0, ["{}", "The end. {}"])
    assert tuple(keys.shape) == (176, 3)  # (d_ff, u)
    # the average over templates lies between the two templates' keys
    single = keys_for(fact_world["model"], tokenizer, fact_world["requests"][:1], 0, ["{}"])
    assert not torch.allclose(single[:, 0], keys[:, 0])


@pytest.mark.parametrize("method", ["alphaedit", "memit"])
def test_a_single_fact_is_edited(fact_world: dict, method: str) -> None:
    import copy

    model = copy.deepcopy(fact_world["model"])
    tokenizer = fact_world["tokenizer"]
    # requests[0] ("Distinguished Gentleman, The": genre) stays at NLL 1.5 after 40 v* steps at layer 0 of this
    # 2-layer model even without the KL term; requests[1] is an ordinary one
    request = fact_world["requests"][1]
    moments = second_moments(model, tokenizer, fact_world["preserved"], [0])
    cov = moments[0][0] / moments[0][1]
    value, record = target_value(model, tokenizer, request, 0, ["{}"], TargetSettings(steps=40, clamp=4.0))
    # v* makes the model say the new target: p(target) > 1/2, so it is the most likely answer (NLL was below 0.5
    # with the hand-written warm-up schedule, 0.516 with transformers' one, whose first step has learning rate 0)
    assert tuple(value.shape) == (64,) and record["nll"] < math.log(2)
    state = EditState([0], rule_for(method, l2=0.01, mom2_weight=10.0), projectors={0: null_space_projector(cov)},
                      covs={0: cov})  # fmt: skip
    assert efficacy(model, tokenizer, [request]) == 0.0
    edit_batch(model, tokenizer, [request], state, ["{}"], TargetSettings(steps=40, clamp=4.0))
    assert efficacy(model, tokenizer, [request]) == 1.0
    assert state.edits == 1 and (0 in state.previous) == (method == "alphaedit")


def test_covariance_cache_is_reused(fact_world: dict, tmp_path: Path) -> None:
    model, tokenizer, texts = fact_world["model"], fact_world["tokenizer"], fact_world["preserved"]
    first, record = cached_second_moments(model, tokenizer, texts, [0, 1], tmp_path)
    assert record["cached_layers"] == [] and record["tokens"] > 176
    again, record = cached_second_moments(model, tokenizer, texts, [0, 1], tmp_path)
    assert record["cached_layers"] == [0, 1]
    assert torch.equal(first[0][0], again[0][0]) and first[1][1] == again[1][1]
    _, record = cached_second_moments(model, tokenizer, texts[:-1], [0], tmp_path)
    assert record["cached_layers"] == []  # another corpus, another key


def test_a_corpus_too_small_for_a_full_rank_c0_warns(
    fact_world: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        _, record = cached_second_moments(fact_world["model"], fact_world["tokenizer"], ["Heat is a"], [0], tmp_path)
    assert "fewer than the key size 176" in record["warning"]
    assert "C0 cannot be full-rank" in caplog.text


def test_bad_edit_input_is_refused(fact_world: dict, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="subject 'Heat' does not occur in its prompt 'Casino is a'"):
        F.request_from_text("Heat", "Casino is a", " Drama")
    assert F.request_from_text("Heat", "In 1995 Heat is a", " Drama").prompt == "In 1995 {} is a"
    state = EditState([0], rule_for("memit"), covs={})
    settings = TargetSettings()
    model, tokenizer = fact_world["model"], fact_world["tokenizer"]
    with pytest.raises(ConfigError, match="the edit set is empty"):
        run_sequence(model, tokenizer, [], state, ["{}"], settings, 5, lambda *a: None)
    with pytest.raises(ConfigError, match="expected at least one edit"):
        F.edit_requests(fact_world["facts"], 0, 1, seed=0)
    bad = F.EditRequest("Heat", "genre", "Heat is a", " Drama", " Action")
    with pytest.raises(ConfigError, match=r"edit request 0: prompt 'Heat is a' has no single '\{\}' slot"):
        edit_batch(model, tokenizer, [bad], state, ["{}"], settings)
    (tmp_path / "requests.json").write_text("[]")
    with pytest.raises(ConfigError, match="holds no edits"):
        read_requests(tmp_path)
    (tmp_path / "requests.json").write_text('[{"subject": "Heat"}]')
    with pytest.raises(DataError, match=r"requests.json: not a list of edit requests"):
        read_requests(tmp_path)
    (tmp_path / "corpus.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(DataError, match=r"corpus.txt: not UTF-8 \(byte 3\)"):
        read_corpus(tmp_path / "corpus.txt")
    with pytest.raises(ConfigError, match="expected 'auto' or comma-separated layer indices"):
        from components.edit_knowledge.config import EditConfig

        EditConfig(edit_layers="0,x")
