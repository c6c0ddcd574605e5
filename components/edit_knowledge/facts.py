"""Fact sets about catalogue items for knowledge editing, in the CounterFact layout (Meng et al., 2022).

Each item gives two facts: its genre ("<title> is a" -> " Comedy") and its release year ("<title> was released
in" -> " 1995"), each under a main template and paraphrases. An edit request swaps the true object for a
counterfactual one of the same relation; its neighbourhood prompts ask the same relation about other items
whose true answer is the edited item's old answer (those must not change). The subject is the title without
its "(year)" suffix, and only titles that name one item are used, so every subject has one answer.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from components.common.errors import ConfigError

RELATIONS: dict[str, tuple[str, ...]] = {
    # relation -> templates; the first is the edit prompt, the others are its paraphrases.
    "genre": ("{} is a", "{}, a film of the genre", "People describe {} as a"),
    "year": ("{} was released in", "{} came out in the year", "People first saw {} in"),
}
_YEAR_SUFFIX = re.compile(r"\s*\(\d{4}(?:[-–]\d{0,4})?\)\s*$")


@dataclass(frozen=True)
class Fact:
    subject: str
    relation: str
    target: str  # the true object, with its leading space: " Comedy"


@dataclass(frozen=True)
class EditRequest:
    """Rewrite (subject, relation) from `target_true` to `target_new`; prompts hold "{}" for the subject."""

    subject: str
    relation: str
    prompt: str
    target_new: str
    target_true: str
    paraphrases: tuple[str, ...] = ()
    neighbours: tuple[str, ...] = field(default=())  # full prompts about other subjects, answer target_true

    def text(self) -> str:
        return self.prompt.format(self.subject)


def subject_of(title: str) -> str:
    """'Toy Story (1995)' -> 'Toy Story'."""
    return _YEAR_SUFFIX.sub("", title).strip()


def item_facts(items: Iterable[Mapping]) -> list[Fact]:
    """Genre (first listed) and year facts of every item whose subject is unique in the catalogue."""
    rows = [row for row in items if row.get("title")]
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[subject_of(row["title"])] += 1
    facts: list[Fact] = []
    for row in rows:
        subject = subject_of(row["title"])
        if counts[subject] != 1 or not subject or "{" in subject or "}" in subject:
            continue
        genres = [g for g in row.get("genres") or [] if g and not g.startswith("(")]
        if genres:
            facts.append(Fact(subject, "genre", " " + genres[0]))
        if row.get("year"):
            facts.append(Fact(subject, "year", f" {int(row['year'])}"))
    return facts


def choose_subjects(facts: Sequence[Fact], n_items: int, seed: int) -> list[Fact]:
    """The facts of `n_items` subjects drawn at random (seeded) among those with both relations."""
    by_subject: dict[str, list[Fact]] = defaultdict(list)
    for fact in facts:
        by_subject[fact.subject].append(fact)
    complete = sorted(s for s, fs in by_subject.items() if {f.relation for f in fs} == set(RELATIONS))
    if len(complete) < n_items:
        raise ConfigError(
            "facts.fact_items", f"got {n_items}; the catalogue has {len(complete)} items with a genre and a year"
        )
    chosen = random.Random(seed).sample(complete, n_items)
    return [fact for subject in chosen for fact in by_subject[subject]]


Templates = Mapping[str, tuple[str, ...]]  # relation -> templates; the first is the edit prompt


def sentences(facts: Iterable[Fact], templates: Templates = RELATIONS) -> list[str]:
    """Every fact under every template of its relation, as one training sentence each."""
    return [template.format(f.subject) + f.target for f in facts for template in templates[f.relation]]


def edit_requests(
    facts: Sequence[Fact], n_edits: int, n_neighbours: int, seed: int, templates: Templates = RELATIONS
) -> list[EditRequest]:
    """`n_edits` counterfactual requests over distinct subjects, each with paraphrases and `n_neighbours`
    neighbourhood prompts.

    Facts are visited in a seeded random order. A fact becomes an edit when its subject is neither edited nor
    anybody's neighbour and its group (the subjects sharing its relation and true object) still has
    `n_neighbours` unedited subjects besides it. Each group's neighbours are drawn once and shared by all of the
    group's edits (as CounterFact's neighbourhoods overlap), and a neighbour is never edited, so specificity
    always asks about untouched subjects. The new target is another object of the same relation, drawn
    uniformly. ConfigError when fewer than `n_edits` facts qualify.
    """
    if n_edits < 1:
        raise ConfigError("facts.fact_edits", f"got {n_edits}; expected at least one edit")
    rng = random.Random(seed)
    objects: dict[str, set[str]] = defaultdict(set)
    holders: dict[tuple[str, str], list[str]] = defaultdict(list)
    for fact in facts:
        objects[fact.relation].add(fact.target)
        holders[(fact.relation, fact.target)].append(fact.subject)
    order = sorted(facts, key=lambda f: (f.subject, f.relation))
    rng.shuffle(order)
    edited: set[str] = set()
    reserved: dict[tuple[str, str], list[str]] = {}  # group -> its neighbours
    neighbour_subjects: set[str] = set()
    requests = []
    for fact in order:
        group = (fact.relation, fact.target)
        choices = sorted(objects[fact.relation] - {fact.target})
        if fact.subject in edited or fact.subject in neighbour_subjects or not choices:
            continue
        if group not in reserved:
            pool = sorted({s for s in holders[group] if s != fact.subject and s not in edited})
            if len(pool) < n_neighbours:
                continue
            reserved[group] = rng.sample(pool, n_neighbours)
            neighbour_subjects.update(reserved[group])
        relation_templates = templates[fact.relation]
        requests.append(
            EditRequest(
                subject=fact.subject,
                relation=fact.relation,
                prompt=relation_templates[0],
                target_new=rng.choice(choices),
                target_true=fact.target,
                paraphrases=tuple(t.format(fact.subject) for t in relation_templates[1:]),
                neighbours=tuple(relation_templates[0].format(s) for s in reserved[group]),
            )
        )
        edited.add(fact.subject)
        if len(requests) == n_edits:
            return requests
    raise ConfigError(
        "facts.fact_edits",
        f"got {n_edits}; only {len(requests)} facts have {n_neighbours} unedited subjects with the same relation"
        " and object; expected fewer edits, fewer neighbours or more facts",
    )


def preserved_sentences(
    facts: Iterable[Fact], requests: Iterable[EditRequest], templates: Templates = RELATIONS
) -> list[str]:
    """The knowledge to keep: every sentence about subjects that are not edited."""
    edited = {r.subject for r in requests}
    return sentences((f for f in facts if f.subject not in edited), templates)


def check_request(request: EditRequest, where: str) -> None:
    """ConfigError unless the prompt places the subject (a '{}' slot) and both targets are non-empty."""
    if request.prompt.count("{}") != 1:
        raise ConfigError(where, f"prompt {request.prompt!r} has no single '{{}}' slot for the subject")
    if not request.subject.strip():
        raise ConfigError(where, "empty subject; expected the entity whose fact is edited")
    if not request.target_new.strip() or not request.target_true.strip():
        raise ConfigError(where, "empty target; expected the new and the true object")


def request_from_text(subject: str, prompt: str, target_new: str, target_true: str = "") -> EditRequest:
    """A request from a full prompt that contains the subject ("Toy Story is a"); the subject becomes '{}'."""
    if subject not in prompt:
        raise ConfigError("edit request", f"subject {subject!r} does not occur in its prompt {prompt!r}")
    start = prompt.index(subject)

    def escape(text: str) -> str:
        return text.replace("{", "{{").replace("}", "}}")

    template = escape(prompt[:start]) + "{}" + escape(prompt[start + len(subject) :])
    return EditRequest(subject, "custom", template, target_new, target_true)


def to_json(requests: Sequence[EditRequest]) -> list[dict]:
    return [asdict(r) for r in requests]


def from_json(rows: Sequence[Mapping]) -> list[EditRequest]:
    return [
        EditRequest(**{**row, "paraphrases": tuple(row["paraphrases"]), "neighbours": tuple(row["neighbours"])})
        for row in rows
    ]
