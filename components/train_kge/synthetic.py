"""A synthetic knowledge graph with planted logical rules, to check what a KGE model can learn (NFE, Xiao et al.,
AAAI 2023, prove their models can learn symmetry, inversion and composition; TransE cannot learn symmetry).

Relations: `sym` (r(a, b) => r(b, a)), `inv` and its inverse `inv-of` (r(a, b) => r'(b, a)), `first` and `second`
with their composition `path` (first(a, b) and second(b, c) => path(a, c)). For each rule the training graph holds
the premises and most conclusions; the held-out conclusions form the test split of that rule, so a model ranks them
well only by applying the rule.
"""

from __future__ import annotations

import numpy as np

from components.train_kge.graph import KGraph, with_reciprocals

RELATIONS = ("sym", "inv", "inv-of", "first", "second", "path")
RULES = ("sym", "inv-of", "path")  # the relations whose held-out triples test a rule


def rule_graph(n_entities: int = 120, pairs: int = 60, held_out: float = 0.25, seed: int = 0) -> tuple[KGraph, dict]:
    """The graph (train / valid / test, reciprocals added) and, per rule relation, its held-out test triples
    (n, 3) without reciprocals."""
    rng = np.random.default_rng(seed)
    rel = {name: i for i, name in enumerate(RELATIONS)}
    train: list[tuple[int, int, int]] = []
    tests: dict[str, list[tuple[int, int, int]]] = {name: [] for name in RULES}

    def distinct_pairs(count: int) -> np.ndarray:
        drawn = rng.permutation(n_entities)[: 2 * count].reshape(count, 2)  # each entity used once per relation
        return drawn

    def conclude(rule: str, triple: tuple[int, int, int]) -> None:
        (tests[rule] if rng.random() < held_out else train).append(triple)

    for a, b in distinct_pairs(pairs // 2):
        train.append((a, rel["sym"], b))
        conclude("sym", (b, rel["sym"], a))
    for a, b in distinct_pairs(pairs // 2):
        train.append((a, rel["inv"], b))
        conclude("inv-of", (b, rel["inv-of"], a))
    middles = distinct_pairs(pairs // 2)
    ends = rng.permutation(n_entities)[: pairs // 2]
    for (a, b), c in zip(middles, ends, strict=True):
        train += [(a, rel["first"], b), (b, rel["second"], c)]
        conclude("path", (a, rel["path"], c))
    names = [str(i) for i in range(n_entities)]
    held = {rule: np.asarray(rows, dtype=np.int64).reshape(-1, 3) for rule, rows in tests.items()}
    every_test = np.concatenate(list(held.values()))
    splits = {
        "train": with_reciprocals(np.asarray(train, dtype=np.int64), len(RELATIONS)),
        "valid": with_reciprocals(every_test, len(RELATIONS)),  # a selection split: the rules' own conclusions
        "test": with_reciprocals(every_test, len(RELATIONS)),
    }
    return KGraph(names, list(RELATIONS), splits), held
