"""Reading a knowledge-graph folder for the `kg-embedding` pipeline (NFE, Xiao et al., AAAI 2023): `train.txt`,
`valid.txt`, `test.txt`, one `head<TAB>relation<TAB>tail` triple per line (names or ids), checked line by line and
indexed densely, with reciprocal triples added to every split.

Entities and relations are indexed over the training file. What happens to a valid or test triple naming one the
training file never mentions is `unseen`: `error` (a located one-line error), `drop` (left out and counted in the
stats, as PyKEEN does; WN18RR has 210 such triples in valid and 210 in test) or `keep` (indexed after the training
ones, as the NFE reference does: they keep their random initial embeddings and count in the evaluation).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from components.common.errors import DataError
from components.train_kge.graph import SPLITS, KGraph, with_reciprocals

FOLDER = "WN18RR"  # the default folder under $RECFORGE_DATA_DIR


def default_folder() -> Path:
    """`$RECFORGE_DATA_DIR/WN18RR`."""
    root = os.environ.get("RECFORGE_DATA_DIR")
    if not root:
        raise DataError(
            FOLDER,
            "RECFORGE_DATA_DIR is not set; expected it to name a folder holding WN18RR/, or kg_data_dir to name"
            " a folder with train.txt, valid.txt and test.txt",
        )
    return Path(root).expanduser() / FOLDER


def read_triples(path: Path) -> list[tuple[str, str, str]]:
    """The (head, relation, tail) names of one file; a bad line is a DataError naming the file and line."""
    if not path.is_file():
        raise DataError(path, "file not found; expected train.txt, valid.txt and test.txt in the KG folder")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(path, "file is empty; expected one head<TAB>relation<TAB>tail triple per line")
    rows: list[tuple[str, str, str]] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            problem = f"undecodable bytes at byte {exc.start + 1}; expected UTF-8 text"
            raise DataError(path, problem, line=number) from None
        fields = text.split("\t")
        if len(fields) != 3:
            raise DataError(path, f"{len(fields)} tab-separated fields; expected 3 (head, relation, tail)", line=number)
        head, relation, tail = (f.strip() for f in fields)
        if not head or not relation or not tail:
            raise DataError(path, "an empty field; expected head, relation and tail to be non-empty", line=number)
        rows.append((head, relation, tail))
    return rows


@dataclass(frozen=True)
class Prepared:
    graph: KGraph
    stats: dict


def prepare(folder: str | Path, unseen: str = "drop") -> Prepared:
    """Read, check and index the KG in `folder`; reciprocal triples are added to every split."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(folder, "KG folder not found; expected a folder holding train.txt, valid.txt and test.txt")
    files = {split: read_triples(folder / f"{split}.txt") for split in SPLITS}
    entities = sorted({h for h, _, _ in files["train"]} | {t for _, _, t in files["train"]})
    relations = sorted({r for _, r, _ in files["train"]})
    dropped = {}
    if unseen == "keep":
        extra = {x for split in ("valid", "test") for h, _, t in files[split] for x in (h, t)} - set(entities)
        entities += sorted(extra)
    entity_id = {name: i for i, name in enumerate(entities)}
    relation_id = {name: i for i, name in enumerate(relations)}
    arrays = {}
    for split in SPLITS:
        ids, lost = [], 0
        for number, (h, r, t) in enumerate(files[split], start=1):
            missing = [name for name in (h, t) if name not in entity_id]
            if r not in relation_id:
                missing.append(f"relation {r}")
            if missing:
                if unseen == "error":
                    raise DataError(
                        folder / f"{split}.txt",
                        f"{', '.join(repr(m) for m in missing)} never occurs in train.txt; expected every entity and"
                        " relation of valid and test to be in train (or kg_unseen=drop / keep)",
                        line=number,
                    )
                lost += 1
                continue
            ids.append((entity_id[h], relation_id[r], entity_id[t]))
        if not ids:
            raise DataError(folder / f"{split}.txt", "no triple left after removing unseen entities; expected some")
        arrays[split] = with_reciprocals(np.asarray(ids, dtype=np.int64), len(relations))
        dropped[split] = lost
    graph = KGraph(entities, relations, arrays)
    stats = {
        "source": folder.name,
        "n_entities": graph.n_entities,
        "n_relations": len(relations),
        "unseen": unseen,
        **{f"{s}_triples": len(files[s]) for s in SPLITS},
        **{f"{s}_rows_with_reciprocals": len(arrays[s]) for s in SPLITS},
        **{f"{s}_unseen_dropped": dropped[s] for s in ("valid", "test")},
    }
    return Prepared(graph, stats)
