"""Reading a ranking out of an LLM's free-text answer (RPP, Mao et al., TOIS 2025: the frozen ranker is asked for
the candidates' order numbers, one per line).

Small and chat models answer loosely: "3, 1, 7", "1. 4\\n2. 9", titles instead of numbers, a list cut short,
numbers repeated or out of range, or prose. The parser reads each line after its enumerator ("1.", "2)", "-"),
falling back to the whole line when what follows names no candidate, keeps the first mention of each valid
candidate (a number 0 to n-1, or a title) in order of appearance, and ranks the candidates the answer never named
after them in candidate order. An
answer naming no candidate at all is a parse failure: it ranks as the candidate order, and the caller counts it
(`parse_failure_rate`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_NUMBER = re.compile(r"(?<![\d.])\d+(?![\d])")
_ENUMERATOR = re.compile(r"^\s*(?:\d+\s*[.):]|[-*•])\s*")  # a list's own "1." / "2)" / "-" before the content


@dataclass(frozen=True)
class Parsed:
    """An order over n candidates (a permutation of 0..n-1), how many the answer itself named, and whether it named
    any."""

    order: tuple[int, ...]
    named: int

    @property
    def failed(self) -> bool:
        return self.named == 0


def parse_order(answer: str, n: int, titles: Sequence[str] = ()) -> Parsed:
    """The ranking `answer` gives over `n` candidates numbered 0..n-1 (`titles`, when given, are matched too, for
    answers that name items instead of numbers)."""
    lines = [line for line in answer.splitlines() if line.strip()] or [answer]
    picked: list[int] = []
    seen: set[int] = set()
    lowered = [t.lower() for t in titles]
    for line in lines:
        # "1. 4" or "2) Heat": the list's own enumerator, then the candidate; "3" or "3. Heat" without titles to
        # match: the number is the candidate
        found = _mentions(_ENUMERATOR.sub("", line, count=1), n, lowered) or _mentions(line, n, lowered)
        for index in found:
            if index not in seen:
                seen.add(index)
                picked.append(index)
    named = len(picked)
    rest = [i for i in range(n) if i not in seen]
    return Parsed(tuple(picked + rest), named)


def _mentions(text: str, n: int, titles: Sequence[str]) -> list[int]:
    """Candidate indices `text` names, in order of appearance: numbers in range, then titles it contains."""
    hits: list[tuple[int, int]] = []  # (position, index)
    for match in _NUMBER.finditer(text):
        value = int(match.group())
        if 0 <= value < n:
            hits.append((match.start(), value))
    low = text.lower()
    for index, title in enumerate(titles):
        position = low.find(title) if title else -1
        if position >= 0:
            hits.append((position, index))
    return [index for _, index in sorted(hits)]


def rank_of(order: Sequence[int], target: int) -> int:
    """1-based rank of candidate `target` in `order`."""
    return list(order).index(target) + 1
