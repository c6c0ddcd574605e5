"""Which facts a model already knows: the test that admits a fact to an edit set for a pretrained LLM.

A fact is known when the model's greedy continuation of its edit prompt (the relation's first template) spells
exactly the true object. Greedy decoding writes the target iff at every target position the argmax of the
next-token logits, given the prompt and the target's earlier tokens, is the target's own token, so one
teacher-forced forward per batch decides it (no generation loop).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.edit_knowledge.facts import Fact, Templates


def known(model: Any, tokenizer: Any, facts: Sequence[Fact], templates: Templates, batch_size: int = 64) -> list[bool]:
    """For each fact: would greedy decoding after its edit prompt write exactly its true object?"""
    from components.edit_knowledge.probes import greedy_matches

    prompts = [templates[f.relation][0].format(f.subject) for f in facts]
    return greedy_matches(model, tokenizer, prompts, [f.target for f in facts], batch_size).tolist()


def keep_known(
    model: Any, tokenizer: Any, facts: Sequence[Fact], templates: Templates, batch_size: int = 64
) -> tuple[list[Fact], dict[str, dict[str, int]]]:
    """The facts the model knows, and per relation {"facts": how many were asked, "known": how many it knows}."""
    flags = known(model, tokenizer, facts, templates, batch_size)
    counts: dict[str, dict[str, int]] = {}
    for fact, flag in zip(facts, flags, strict=True):
        entry = counts.setdefault(fact.relation, {"facts": 0, "known": 0})
        entry["facts"] += 1
        entry["known"] += int(flag)
    return [f for f, flag in zip(facts, flags, strict=True) if flag], counts
