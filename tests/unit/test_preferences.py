"""RosePO preference construction: strategies, the oracle smoothing factor, the mix, and bad settings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from components.build_preferences.config import PreferenceConfig, parse_mix
from components.build_preferences.core import choose_rejected, near_duplicate
from components.common.errors import ConfigError
from components.common.prepared import Prepared
from components.recsys.prompts import Examples
from components.recsys.sasrec import load_sasrec, preference_probabilities


def test_pairs_have_every_strategy_and_valid_epsilon(preference_world: dict[str, Path]) -> None:
    pairs = pq.read_table(preference_world["prefs"] / "pairs.parquet").to_pylist()
    stats = json.loads((preference_world["prefs"] / "stats.json").read_text())
    assert len(pairs) == 60 and stats["pairs"] == 60 and stats["eval_pairs"] == 20
    assert {p["strategy"] for p in pairs} == {"self_hard", "popularity", "hallucination", "random"}
    assert sum(stats["train"][s]["pairs"] for s in ("self_hard", "popularity", "hallucination", "random")) == 60
    titles = Prepared(preference_world["data"]).titles
    catalogue = set(titles)
    for pair in pairs:
        assert 0.0 <= pair["epsilon"] <= 0.5
        assert pair["chosen"] == " " + titles[pair["chosen_item"]] and pair["chosen"] != pair["rejected"]
        if pair["strategy"] == "hallucination":
            assert pair["rejected_item"] == -1 and pair["rejected"].strip() not in catalogue and pair["epsilon"] == 0
        else:
            assert pair["rejected"] == " " + titles[pair["rejected_item"]]
            assert f"{titles[pair['rejected_item']]}" in pair["prompt"]  # a candidate the prompt lists


def test_epsilon_is_the_clipped_oracle_probability(preference_world: dict[str, Path]) -> None:
    pairs = pq.read_table(preference_world["prefs"] / "pairs.parquet").to_pandas()
    known = pairs[pairs.rejected_item >= 0].head(10)
    data = Prepared(preference_world["data"])
    oracle = load_sasrec(preference_world["sasrec"])
    train = data.split("train")
    # rebuild each pair's history from its prompt's user: the prompt's titles are the last items before the target
    for _, row in known.iterrows():
        user = int(row.user_id)
        r = int(np.flatnonzero(train.users == user)[0])
        sequence = np.append(train.history(r), train.targets[r])
        position = int(np.flatnonzero(sequence == row.chosen_item)[0])
        history = sequence[max(0, position - 10) : position]
        p = preference_probabilities(oracle, [history], np.array([row.rejected_item]), np.array([row.chosen_item]))[0]
        assert row.epsilon == pytest.approx(min(p, 0.5), abs=1e-5)


def test_strategies_by_hand() -> None:
    titles = ["A (1990)", "B (1991)", "C", "D (2000)", "E"]
    rng = np.random.default_rng(0)
    examples = Examples(
        ["p0", "p1", "p2", "p3"], [" A (1990)"] * 4, np.zeros(4, int), np.zeros(4, int),
        np.array([[0, 1, 2, 3]] * 4), [np.array([4])] * 4,
    )  # fmt: skip
    counts = np.array([1, 50, 7, 3, 0])
    scores = np.array([[9.0, 1.0, 5.0, 2.0]] * 4)  # the target scores highest; the best wrong one is C
    strategy = np.array(["self_hard", "popularity", "random", "hallucination"])
    texts, items = choose_rejected(strategy, examples, titles, counts, scores, {3: "Z (1999)"}, rng)
    assert items[0] == 2 and texts[0] == " C"  # self-hard: highest-scoring wrong candidate
    assert items[1] == 1 and texts[1] == " B (1991)"  # popularity: most popular wrong candidate
    assert items[2] in (1, 2, 3)
    assert items[3] == -1 and texts[3] == " Z (1999)"  # the model's non-catalogue generation
    texts, items = choose_rejected(np.array(["hallucination"]), examples, titles, counts, None, {}, rng)
    assert items[0] == -1 and texts[0].strip() not in titles  # a near-duplicate of a wrong candidate
    # with the chosen item's nearest neighbour given (D), the fallback is a near-duplicate of D's title
    texts, items = choose_rejected(
        np.array(["hallucination"]), examples, titles, counts, None, {}, rng, neighbours=np.array([3])
    )
    assert items[0] == -1 and re.fullmatch(r" D \((1997|1998|1999|2001|2002|2003)\)", texts[0])
    assert near_duplicate("D (2000)", set(titles), np.random.default_rng(1)) in {
        f"D ({y})" for y in (1997, 1998, 1999, 2001, 2002, 2003)
    }
    assert near_duplicate("E", set(titles), np.random.default_rng(1)).startswith("E ")


def test_mix_and_bad_settings() -> None:
    assert parse_mix("self_hard:2,random:2") == {"self_hard": 0.5, "random": 0.5}
    with pytest.raises(ConfigError, match=r"^preferences.pref_mix: got 'semantic:1'; expected strategy:weight"):
        PreferenceConfig(pref_mix="semantic:1")
    with pytest.raises(ConfigError, match="weights sum to 0"):
        PreferenceConfig(pref_mix="random:0")
    with pytest.raises(ConfigError, match=r"pref_epsilon_max: got 1.5; expected a value >= 0.0 and <= 1.0"):
        PreferenceConfig(pref_epsilon_max=1.5)


def test_nearest_items_by_sasrec_embedding(preference_world: dict[str, Path]) -> None:
    import torch

    from components.build_preferences.core import nearest_items
    from components.recsys.sasrec import load_sasrec

    items = np.array([0, 5, 17, 300])
    found = nearest_items(preference_world["sasrec"], items)
    table = load_sasrec(preference_world["sasrec"]).item_emb.weight.detach()[1:].double()
    for item, other in zip(items, found, strict=True):
        cosine = torch.nn.functional.cosine_similarity(table[item][None], table, dim=-1)
        cosine[item] = -2
        assert other != item and other == int(cosine.argmax())
