"""NFE and the KGE baselines (components/train_kge): scores against their closed forms and Monte-Carlo estimates,
filtered ranking by hand and against PyKEEN's evaluator, reciprocal triples, rule learning on a planted graph, and
every bad-input case of the KG reader."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from components.common.errors import ConfigError, DataError
from components.train_kge import core, graph, pykeen_side, ranking, raw
from components.train_kge.config import OUR_MODELS, PYKEEN_MODELS, KGDataConfig, KGEConfig
from components.train_kge.models import MODELS, KGEModel
from components.train_kge.synthetic import rule_graph
from components.train_kge.train import TrainSettings, known_index, scorer_of, train
from pipelines.checks import check_kge_models


def _model(name: str, seed: int = 0, positive: bool = True) -> KGEModel:
    torch.manual_seed(seed)
    model = KGEModel(name, n_entities=5, n_relations=4, dim=3)
    with torch.no_grad():
        model.entity.weight.uniform_(-1, 1)
        model.relation.weight.uniform_(-1, 1)
        if positive:  # scales > 0: the composed flow g_r(f_h) is then exactly the distribution the formulas assume
            d = model.dim
            model.entity.weight[:, d:] = model.entity.weight[:, d:].abs() + 0.2
            model.relation.weight[:, d:] = model.relation.weight[:, d:].abs() + 0.2
    return model


def _sorted_quantile_w2(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Monte-Carlo W2^2 of two product distributions from samples (S, d): per dimension, the mean squared
    difference of the sorted samples (the 1-D optimal coupling), summed."""
    return (x.sort(dim=0).values - y.sort(dim=0).values).pow(2).mean(dim=0).sum()


def _head_and_tail_samples(name: str, model: KGEModel, h: int, r: int, t: int, n: int = 400_000):
    generator = torch.Generator().manual_seed(1)
    d = model.dim
    eh = torch.randn(n, d, generator=generator, dtype=torch.float64)
    et = torch.randn(n, d, generator=generator, dtype=torch.float64)
    head = model.entity.weight[h].double().detach()
    tail = model.entity.weight[t].double().detach()
    r_mu, r_sigma = model.relation.weight[r].double().detach().chunk(2)
    if name == "nfe-1":  # f_e(eps) = mu + sigma eps, then g_r(x) = sigma_r x + mu_r
        h_mu, h_sigma = head.chunk(2)
        t_mu, t_sigma = tail.chunk(2)
        return r_sigma * (h_mu + h_sigma * eh) + r_mu, t_mu + t_sigma * et
    # nfe-2: f_e(eps) = mu + sigma- eps (eps < 0), mu + sigma+ eps (eps >= 0)
    h_mu, h_lo, h_hi = head.chunk(3)
    t_mu, t_lo, t_hi = tail.chunk(3)
    flow_h = h_mu + torch.where(eh < 0, h_lo * eh, h_hi * eh)
    flow_t = t_mu + torch.where(et < 0, t_lo * et, t_hi * et)
    return r_sigma * flow_h + r_mu, flow_t


@pytest.mark.parametrize("name", ["nfe-1", "nfe-2"])
def test_nfe_1_and_2_scores_are_gamma_minus_a_monte_carlo_w2(name: str) -> None:
    model = _model(name)
    if name == "nfe-2":  # three parts per entity: keep both slopes positive
        with torch.no_grad():
            model.entity.weight[:, 3:] = model.entity.weight[:, 3:].abs() + 0.2
    scores = model.score_all(torch.tensor([0, 2, 4]), torch.tensor([1, 3, 0])).detach()  # (3, 5)
    for row, (h, r) in enumerate([(0, 1), (2, 3), (4, 0)]):
        for t in range(5):
            x, y = _head_and_tail_samples(name, model, h, r, t)
            estimate = _sorted_quantile_w2(x, y).item()
            assert model.gamma - scores[row, t].item() == pytest.approx(estimate, rel=0.01, abs=2e-3)


def test_nfe_3_is_gamma_minus_the_summed_kl_divergence() -> None:
    model = _model("nfe-3", positive=False)
    heads, relations = torch.tensor([0, 1, 3]), torch.tensor([2, 0, 1])
    scores = model.score_all(heads, relations).detach().double()  # (3, 5)
    e, rel = model.entity.weight.detach().double(), model.relation.weight.detach().double()
    for row in range(3):
        h_mu, h_sigma = e[heads[row]].chunk(2)
        r_mu, r_sigma = rel[relations[row]].chunk(2)
        first = torch.distributions.Normal(r_sigma * h_mu + r_mu, F.softplus(r_sigma) * F.softplus(h_sigma))
        for t in range(5):
            t_mu, t_sigma = e[t].chunk(2)
            kl = torch.distributions.kl_divergence(first, torch.distributions.Normal(t_mu, F.softplus(t_sigma))).sum()
            assert scores[row, t].item() == pytest.approx(14.0 - kl.item(), abs=1e-4)


def test_point_models_and_ablations_equal_their_direct_formulas() -> None:
    for name, direct in {
        "transe": lambda h, r, t, g: g - (h + r - t).pow(2).sum(),
        "distmult": lambda h, r, t, g: (h * r * t).sum(),
        "nfe-no-uncertainty": lambda h, r, t, g: g - (r[3:] * h[:3] + r[:3] - t[:3]).pow(2).sum(),
        "nfe-sigma": lambda h, r, t, g: g - ((r[3:] * h[3:]).abs() - t[3:].abs()).pow(2).sum(),
    }.items():
        model = _model(name, positive=False)
        scores = model.score_all(torch.tensor([1]), torch.tensor([2])).detach()[0]  # (5,)
        e, r = model.entity.weight.detach(), model.relation.weight[2].detach()
        for t in range(5):
            assert scores[t].item() == pytest.approx(direct(e[1], r, e[t], model.gamma).item(), abs=1e-5), name


def test_every_model_scores_by_one_matrix_product_with_shapes() -> None:
    for name in MODELS:
        model = KGEModel(name, n_entities=7, n_relations=4, dim=5)
        assert model.score_all(torch.tensor([0, 1, 6]), torch.tensor([0, 3, 2])).shape == (3, 7)
    assert set(OUR_MODELS) == set(MODELS) and set(PYKEEN_MODELS) == set(pykeen_side.PYKEEN_MODELS)


def test_filtered_rank_on_a_hand_made_graph() -> None:
    # Entities 0..5, one relation (its reciprocal is 1). Known tails of (0, 0): {1, 2}; of (3, 0): {4}.
    triples = np.array([[0, 0, 1], [0, 0, 2], [3, 0, 4]])
    known = graph.QueryIndex.build(graph.with_reciprocals(triples, 1), 2)
    table = {
        (0, 0): [0.1, 0.5, 0.9, 0.5, 0.7, 0.2],
        (3, 0): [0.3, 0.3, 0.3, 0.3, 0.3, 0.3],  # all tie: every other entity counts against the gold
    }

    def scorer(heads: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        return torch.tensor([table[(h, r)] for h, r in zip(heads.tolist(), relations.tolist(), strict=True)])

    ranks = ranking.rank_triples(scorer, triples, known, 2, batch_size=2)
    # gold 1 (0.5): entity 2 (0.9) is another true tail, filtered; 4 (0.7) beats it and 3 (0.5) ties: rank 3
    # (unfiltered it would be 4). gold 2 (0.9): entity 1 filtered, nothing reaches 0.9: rank 1. gold 4: rank 6.
    assert ranks.tolist() == [3, 1, 6]
    assert ranking.metrics(ranks) == pytest.approx(
        {"mrr": (1 / 3 + 1 + 1 / 6) / 3, "mr": 10 / 3, "hits_1": 1 / 3, "hits_3": 2 / 3, "hits_10": 1.0}
    )


def test_reciprocal_triples_double_every_split(tmp_path: Path) -> None:
    folder = _kg_folder(tmp_path, train=["a\tr\tb", "b\ts\tc", "c\tr\ta"], valid=["a\ts\tc"], test=["b\tr\tc"])
    prepared = raw.prepare(folder)
    g = prepared.graph
    assert g.entities == ["a", "b", "c"] and g.relations == ["r", "s"] and g.n_relations == 4
    for split, n in {"train": 3, "valid": 1, "test": 1}.items():
        rows = g.splits[split]
        assert len(rows) == 2 * n == prepared.stats[f"{split}_rows_with_reciprocals"]
        forward, back = rows[:n], rows[n:]
        assert (back[:, 0] == forward[:, 2]).all() and (back[:, 2] == forward[:, 0]).all()
        assert (back[:, 1] == forward[:, 1] + 2).all()
    out = tmp_path / "kg"
    core.prepare_kg(KGDataConfig(kg_data_dir=str(folder)), out)
    back_in = graph.read(out)
    assert back_in.entities == g.entities and all((back_in.splits[s] == g.splits[s]).all() for s in graph.SPLITS)


def _kg_folder(tmp_path: Path, train: list[str], valid: list[str], test: list[str], name: str = "kg") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for split, lines in {"train": train, "valid": valid, "test": test}.items():
        (folder / f"{split}.txt").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return folder


GOOD = {"train": ["a\tr\tb", "b\tr\tc"], "valid": ["a\tr\tc"], "test": ["c\tr\ta"]}


@pytest.mark.parametrize(
    ("split", "lines", "unseen", "message"),
    [
        ("train", ["a\tr\tb", "a\tr"], "drop", "train.txt line 2: 2 tab-separated fields; expected 3"),
        ("valid", ["a\tr\tb\tc"], "drop", "valid.txt line 1: 4 tab-separated fields; expected 3"),
        ("test", ["a\t\tb"], "drop", "test.txt line 1: an empty field"),
        ("test", [], "drop", "test.txt: file is empty"),
        ("valid", ["a\tr\tc", "a\tr\tzz"], "error", "valid.txt line 2: 'zz' never occurs in train.txt"),
        ("test", ["a\tq\tc"], "error", "test.txt line 1: 'relation q' never occurs in train.txt"),
        ("test", ["zz\tr\tyy"], "drop", "test.txt: no triple left after removing unseen entities"),
    ],
)
def test_bad_kg_files_are_one_line_errors_and_leave_no_output(
    tmp_path: Path, split: str, lines: list[str], unseen: str, message: str
) -> None:
    folder = _kg_folder(tmp_path, **{**GOOD, split: lines})
    out = tmp_path / "out"
    with pytest.raises(DataError) as error:
        core.prepare_kg(KGDataConfig(kg_data_dir=str(folder), kg_unseen=unseen), out)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_undecodable_bytes_and_missing_files(tmp_path: Path) -> None:
    folder = _kg_folder(tmp_path, **GOOD)
    (folder / "train.txt").write_bytes(b"a\tr\tb\n\xff\xfe\tr\tc\n")
    with pytest.raises(DataError, match=r"train.txt line 2: undecodable bytes at byte 1; expected UTF-8"):
        raw.prepare(folder)
    (folder / "valid.txt").unlink()
    (folder / "train.txt").write_text("a\tr\tb\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"valid.txt: file not found"):
        raw.prepare(folder)
    with pytest.raises(DataError, match=r"KG folder not found"):
        raw.prepare(tmp_path / "nowhere")


def test_unseen_policies_drop_count_and_keep_index(tmp_path: Path) -> None:
    folder = _kg_folder(tmp_path, **{**GOOD, "test": ["c\tr\ta", "a\tr\tnew"]})
    dropped = raw.prepare(folder, "drop")
    assert dropped.stats["test_unseen_dropped"] == 1 and len(dropped.graph.forward("test")) == 1
    kept = raw.prepare(folder, "keep")
    assert kept.graph.entities == ["a", "b", "c", "new"] and len(kept.graph.forward("test")) == 2


def test_invalid_settings_and_model_names() -> None:
    with pytest.raises(ConfigError, match=r"kge.kge_loss: got 'mse'; expected one of ce, bce"):
        KGEConfig(kge_loss="mse")
    with pytest.raises(ConfigError, match=r"kge.kge_gamma: got 'abc'; expected a number or empty"):
        KGEConfig(kge_gamma="abc")
    with pytest.raises(ConfigError, match=r"kg.kg_unseen: got 'skip'"):
        KGDataConfig(kg_unseen="skip")
    with pytest.raises(ConfigError, match=r"models: unknown model 'complex'"):
        check_kge_models({"models": ["nfe-1", "complex"]})
    assert KGEConfig(kge_gamma="2.5").gamma == 2.5 and KGEConfig().gamma is None


def test_training_lowers_the_loss_and_keeps_the_best_validation_epoch() -> None:
    g, _ = rule_graph(n_entities=60, pairs=30)
    seen = []
    model, history = train(
        "nfe-1", g, TrainSettings(dim=8, epochs=6, batch_size=16, lr=1e-2), lambda e, v: seen.append(e)
    )
    assert seen == [1, 2, 3, 4, 5, 6]
    assert history.loss[-1] < history.loss[0]
    assert history.best_valid_mrr == max(history.valid_mrr) == history.valid_mrr[history.best_epoch - 1]
    again = ranking.evaluate(scorer_of(model), g.splits["valid"], known_index(g), g.n_relations)["mrr"]
    assert again == pytest.approx(history.best_valid_mrr)  # the returned model is the best epoch's


def test_the_bce_loss_is_the_reference_per_triple_sum() -> None:
    from components.train_kge.train import batch_loss

    model = _model("distmult", positive=False)
    triples = np.array([[0, 1, 2], [0, 1, 3], [4, 0, 1], [4, 0, 1]])  # a query with two tails, a duplicate triple
    index = graph.QueryIndex.build(triples, 4)
    scores = model.score_all(torch.from_numpy(triples[:, 0]), torch.from_numpy(triples[:, 1]))  # (4, 5)
    labels = F.one_hot(torch.from_numpy(triples[:, 2]), 5).double()
    for loss, reference in {
        "bce": F.binary_cross_entropy_with_logits(scores.double(), labels, reduction="sum"),
        "ce": F.cross_entropy(scores.double(), torch.from_numpy(triples[:, 2]), reduction="sum"),
    }.items():
        value, covered = batch_loss(model, index, np.arange(len(index.queries)), loss)
        assert covered == 4 and value.item() == pytest.approx(reference.item(), rel=1e-5)


def test_nfe_learns_planted_symmetry_and_inversion_where_transe_fails_symmetry() -> None:
    g, held = rule_graph(n_entities=300, pairs=150, seed=0)
    known = known_index(g)
    settings = TrainSettings(dim=16, epochs=60, batch_size=64, lr=1e-2, decay=1.0)
    mrr = {}
    for name in ("nfe-1", "transe"):
        model, _ = train(name, g, settings)
        mrr[name] = {
            rule: ranking.metrics(ranking.rank_triples(scorer_of(model), rows, known, g.n_relations))["mrr"]
            for rule, rows in held.items()
        }
    # Random order over 300 entities would give an MRR near 0.02.
    assert mrr["nfe-1"]["sym"] > 0.9 and mrr["nfe-1"]["inv-of"] > 0.9
    assert mrr["nfe-1"]["path"] > 0.2
    # TransE's r(a, b) and r(b, a) force r = 0 and a = b: the head itself then scores as well as the gold.
    assert mrr["transe"]["sym"] <= 0.5


def test_our_evaluator_equals_pykeens_on_the_same_model_with_ties() -> None:
    g, _ = rule_graph(n_entities=40, pairs=20, seed=3)
    model, _, _ = pykeen_side.train("pykeen-distmult", g, TrainSettings(dim=4, epochs=1, batch_size=32), negatives=2)
    with torch.no_grad():  # exact ties: entities 5..9 copy entity 0's embedding
        weights = model.entity_representations[0]._embeddings.weight
        weights[5:10] = weights[0]
    known = known_index(g)
    ours = ranking.evaluate(pykeen_side.scorer_of(model, len(g.relations)), g.splits["test"], known, g.n_relations)
    theirs = pykeen_side.evaluate_test(model, g)
    for key in ("mrr", "mr", "hits_1", "hits_3", "hits_10"):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-6), key
    assert theirs["realistic_mrr"] >= theirs["mrr"]  # PyKEEN's default counts ties at their mean rank


def test_a_trained_model_round_trips_and_evaluates(tmp_path: Path) -> None:
    folder = _kg_folder(
        tmp_path, train=["a\tr\tb", "b\tr\tc", "c\ts\ta", "a\ts\tc"], valid=["a\tr\tc"], test=["b\ts\ta"]
    )
    kg_dir = tmp_path / "prepared"
    core.prepare_kg(KGDataConfig(kg_data_dir=str(folder)), kg_dir)
    config = KGEConfig(kge_dim=4, kge_epochs=2, kge_batch_size=2)
    record = core.train_model("nfe-2", config, kg_dir, tmp_path / "model")
    assert record["best_epoch"] in (1, 2) and len(record["valid_mrr"]) == 2
    result = core.evaluate_model(config, kg_dir, tmp_path / "model")
    assert (
        result["model"] == "nfe-2"
        and 1 <= result["mr"] <= 3
        and math.isclose(result["best_valid_mrr"], record["best_valid_mrr"])
    )
    with pytest.raises(ConfigError, match="unknown model 'nfe-4'"):
        core.train_model("nfe-4", config, kg_dir, tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_the_reference_parameter_set_is_valid_and_the_readme_shows_it() -> None:
    from pipelines.kg_embedding import REFERENCE

    KGEConfig.from_params({k: v for k, v in REFERENCE.items() if k.startswith("kge_")})
    KGDataConfig.from_params({k: v for k, v in REFERENCE.items() if k.startswith("kg_")})
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8").split())
    for key, value in REFERENCE.items():
        assert f"--set {key}={value}" in readme, key
