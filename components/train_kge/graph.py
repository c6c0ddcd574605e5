"""The prepared knowledge graph of the `kg-embedding` pipeline: its Arrow tables, documented field by field, and the
query indexes that training and filtered evaluation read from them (NFE, Xiao et al., AAAI 2023, trains and ranks
tails only: every triple (h, r, t) also appears as its reciprocal (t, r + R, h), so head prediction is tail
prediction of the reciprocal relation).

A prepared KG folder holds `entities.parquet`, `relations.parquet`, `train.parquet`, `valid.parquet`,
`test.parquet` and `stats.json`. Ids are dense and 0-based; entity and relation ids follow the sorted names of the
training file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from components.common.errors import DataError

SPLITS = ("train", "valid", "test")


def _field(name: str, kind: pa.DataType, doc: str) -> pa.Field:
    return pa.field(name, kind, nullable=False, metadata={"doc": doc})


ENTITIES = pa.schema(
    [
        _field("entity_id", pa.int32(), "dense entity id, 0..n_entities-1, in sorted-name order"),
        _field("name", pa.string(), "the entity as written in the raw files (a name or an id)"),
    ]
)
RELATIONS = pa.schema(
    [
        _field("relation_id", pa.int32(), "dense relation id; r + n_relations is r's reciprocal"),
        _field("name", pa.string(), "the relation as written in the raw files; reciprocals end in '^-1'"),
        _field("reciprocal", pa.bool_(), "whether this relation is the reciprocal of relation_id - n_relations"),
    ]
)
TRIPLES = pa.schema(
    [
        _field("head", pa.int32(), "entity id of the head"),
        _field("relation", pa.int32(), "relation id (reciprocal ids for reciprocal triples)"),
        _field("tail", pa.int32(), "entity id of the tail"),
        _field("reciprocal", pa.bool_(), "whether the row is the reciprocal (t, r + R, h) of a file's (h, r, t)"),
    ]
)
TABLES: dict[str, pa.Schema] = {"entities": ENTITIES, "relations": RELATIONS, **{s: TRIPLES for s in SPLITS}}


@dataclass(frozen=True)
class KGraph:
    """A prepared KG in memory: names and, per split, (n, 3) int64 arrays of (head, relation, tail), reciprocals
    included (the file's triples first, then their reciprocals in the same order)."""

    entities: list[str]
    relations: list[str]  # the file's relations, without reciprocals
    splits: dict[str, np.ndarray]  # split -> (n, 3) int64

    @property
    def n_entities(self) -> int:
        return len(self.entities)

    @property
    def n_relations(self) -> int:
        """Relations including reciprocals: 2 R."""
        return 2 * len(self.relations)

    def forward(self, split: str) -> np.ndarray:
        """The file's own triples of `split` (no reciprocals): (n/2, 3)."""
        rows = self.splits[split]
        return rows[: len(rows) // 2]


def with_reciprocals(triples: np.ndarray, n_relations: int) -> np.ndarray:
    """(n, 3) -> (2n, 3): the triples, then (t, r + n_relations, h) for each."""
    back = np.stack([triples[:, 2], triples[:, 1] + n_relations, triples[:, 0]], axis=1)
    return np.concatenate([triples, back]).astype(np.int64)


def write(graph: KGraph, folder: Path, stats: dict) -> None:
    """Write the tables and stats.json of `graph` into `folder` (callers make the folder atomic)."""
    n = graph.n_entities
    tables = {
        "entities": pa.table([pa.array(np.arange(n, dtype=np.int32)), pa.array(graph.entities)], schema=ENTITIES),
        "relations": pa.table(
            [
                pa.array(np.arange(graph.n_relations, dtype=np.int32)),
                pa.array(graph.relations + [f"{name}^-1" for name in graph.relations]),
                pa.array([False] * len(graph.relations) + [True] * len(graph.relations)),
            ],
            schema=RELATIONS,
        ),
    }
    for split in SPLITS:
        rows = graph.splits[split]
        columns = [pa.array(rows[:, i].astype(np.int32)) for i in range(3)]
        flags = np.zeros(len(rows), dtype=bool)
        flags[len(rows) // 2 :] = True
        tables[split] = pa.table([*columns, pa.array(flags)], schema=TRIPLES)
    for name, table in tables.items():
        pq.write_table(table, folder / f"{name}.parquet")
    (folder / "stats.json").write_text(json.dumps(stats, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def read(folder: str | Path) -> KGraph:
    """Read a prepared KG folder back, checking each table's columns."""
    folder = Path(folder)
    tables = {}
    for name, schema in TABLES.items():
        path = folder / f"{name}.parquet"
        if not path.is_file():
            raise DataError(path, "not found; expected a KG folder written by the prepare-kg step")
        table = pq.read_table(path)
        missing = [f.name for f in schema if f.name not in table.column_names]
        if missing:
            raise DataError(path, f"missing column {', '.join(missing)}; expected {', '.join(schema.names)}")
        tables[name] = table
    splits = {
        s: np.stack([tables[s][c].to_numpy().astype(np.int64) for c in ("head", "relation", "tail")], axis=1)
        for s in SPLITS
    }
    relations = tables["relations"]
    flags = relations["reciprocal"].to_pylist()
    names = [n for n, back in zip(relations["name"].to_pylist(), flags, strict=True) if not back]
    return KGraph(tables["entities"]["name"].to_pylist(), names, splits)


def stats_of(folder: str | Path) -> dict:
    return json.loads((Path(folder) / "stats.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class QueryIndex:
    """Queries (head, relation) with the tails each one has, in CSR form: `queries` (Q, 2), `tails` grouped by
    query between `indptr[q]` and `indptr[q + 1]`."""

    queries: np.ndarray  # (Q, 2) int64
    indptr: np.ndarray  # (Q + 1,) int64
    tails: np.ndarray  # (nnz,) int64

    @classmethod
    def build(cls, triples: np.ndarray, n_relations: int) -> QueryIndex:
        """Group (n, 3) triples by (head, relation); duplicate triples count once per occurrence."""
        keys = triples[:, 0] * n_relations + triples[:, 1]  # (n,)
        order = np.lexsort((triples[:, 2], keys))
        keys, tails = keys[order], triples[order, 2]
        unique, starts = np.unique(keys, return_index=True)
        indptr = np.append(starts, len(keys)).astype(np.int64)
        queries = np.stack([unique // n_relations, unique % n_relations], axis=1)
        return cls(queries.astype(np.int64), indptr, tails.astype(np.int64))

    def counts(self) -> np.ndarray:
        """(Q,) tails per query."""
        return np.diff(self.indptr)

    def positions(self, heads: np.ndarray, relations: np.ndarray, n_relations: int) -> np.ndarray:
        """Row of each (head, relation) in `queries`; -1 where the index does not hold it."""
        keys = self.queries[:, 0] * n_relations + self.queries[:, 1]  # sorted, as built
        wanted = heads * n_relations + relations
        if not len(keys):
            return np.full(len(wanted), -1)
        at = np.searchsorted(keys, wanted).clip(max=len(keys) - 1)
        return np.where(keys[at] == wanted, at, -1)
