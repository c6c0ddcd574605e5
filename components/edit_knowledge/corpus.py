"""The preserved-knowledge corpus whose keys give C0 (AlphaEdit, Fang et al., ICLR 2025; MEMIT, Meng et al., 2023).

The reference accumulates C0 over Wikipedia text. Here: WikiText-2 (Wikipedia articles, CC BY-SA; its valid and
test splits as shipped in `$RECFORGE_DATA_DIR/wikitext-2/`), any UTF-8 text file (one text per line), or the
fact set's own unedited sentences (what a preset trained on those facts knows).
WikiText-2 paragraphs are kept whole (section headings ` = Title = ` and empty lines dropped) and its
tokenisation is undone (` @-@ ` -> `-`, ` , ` -> `, `, ` 's` -> `'s`, ...), so the model reads ordinary prose.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from components.common.errors import DataError
from components.edit_knowledge.config import EditConfig

WIKITEXT_FILES = ("valid.txt", "test.txt")
_HEADING = re.compile(r"^=+ .* =+$")
# WikiText's tokenisation undone, in this order (the usual WikiText detokenisation, abridged)
_JOINED = (
    (" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."), (" , ", ", "), (" ; ", "; "), (" : ", ": "), (" 's", "'s"),
    ("( ", "("), (" )", ")"), (" . ", ". "), (" ! ", "! "), (" ? ", "? "),
)  # fmt: skip


def read_corpus(path: str | Path, max_texts: int = 0) -> list[str]:
    """Preserved texts, one per non-empty line of a UTF-8 file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found; expected preserved texts, one per line")
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not UTF-8 (byte {exc.start}); expected UTF-8 text, one text per line") from None
    texts = [line for line in lines if line]
    if not texts:
        raise DataError(path, "no texts; expected at least one preserved text")
    return texts[:max_texts] if max_texts else texts


def wikitext_folder() -> Path:
    """`$RECFORGE_DATA_DIR/wikitext-2`, which must hold valid.txt and test.txt."""
    root = os.environ.get("RECFORGE_DATA_DIR")
    if not root:
        raise DataError(
            "wikitext-2",
            "RECFORGE_DATA_DIR is not set; expected it to name a folder holding wikitext-2/ (valid.txt, test.txt),"
            " or preserved_corpus to name a text file",
        )
    folder = Path(root).expanduser() / "wikitext-2"
    for name in WIKITEXT_FILES:
        if not (folder / name).is_file():
            raise DataError(folder, f"{name} not found; expected the wikitext-2 folder to hold valid.txt and test.txt")
    return folder


def wikitext_paragraphs(folder: str | Path, max_texts: int = 0) -> list[str]:
    """The paragraphs of WikiText-2's valid and test splits, artefacts joined, headings dropped."""
    texts: list[str] = []
    for name in WIKITEXT_FILES:
        for line in read_corpus(Path(folder) / name):
            if _HEADING.match(line):
                continue
            for marker, joined in _JOINED:
                line = line.replace(marker, joined)
            texts.append(line.removesuffix(" .") + "." if line.endswith(" .") else line)
    return texts[:max_texts] if max_texts else texts


def fact_set_of(facts_dir: str | Path) -> str:
    """'world' or 'catalogue', as the fact step recorded it ('catalogue' for a folder written before it did)."""
    path = Path(facts_dir) / "fact_set.json"
    if not path.is_file():
        return "catalogue"
    return str(json.loads(path.read_text(encoding="utf-8")).get("fact_set", "catalogue"))


def preserved_texts(config: EditConfig, facts_dir: str | Path) -> tuple[list[str], str]:
    """(texts, corpus name) of `preserved_corpus`: auto is wikitext-2 for world facts, the unedited facts else."""
    corpus = config.preserved_corpus.strip()
    if corpus == "auto":
        corpus = "wikitext-2" if fact_set_of(facts_dir) == "world" else "facts"
    if corpus == "facts":
        return read_corpus(Path(facts_dir) / "preserved.txt", config.stats_max_texts), "facts"
    if corpus == "wikitext-2":
        return wikitext_paragraphs(wikitext_folder(), config.stats_max_texts), "wikitext-2"
    path = Path(corpus).expanduser()
    return read_corpus(path, config.stats_max_texts), path.name
