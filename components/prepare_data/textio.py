"""Fast, strict readers for delimited text and JSON-lines files, with errors located by line and column.

The fast path parses with pyarrow; when it fails, a line-by-line pass finds the first offending line and
says what is wrong there (undecodable bytes, a wrong number of fields, a non-numeric id, an empty value).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from components.common.errors import DataError

_ARROW = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}
_EXPECT = {"int": "an integer", "float": "a number", "str": "a text value"}
_SEP = "\x1f"  # stands in for multi-character delimiters such as MovieLens-1M's '::'


@dataclass(frozen=True)
class Column:
    """A column a reader needs: its name in the file, its kind (int, float, str), whether it may be empty."""

    name: str
    kind: str
    nullable: bool = False


def read_delimited(
    path: Path,
    columns: Sequence[Column],
    *,
    delimiter: str = ",",
    header: bool = True,
    names: Sequence[str] | None = None,
    encoding: str = "utf-8",
    quoted: bool = True,
) -> pa.Table:
    """Read `columns` of a delimited file into an Arrow table (ints as int64, floats as float64).

    With `header`, the first line names the columns and every needed column must be there; without it,
    `names` gives the fields by position.
    """
    raw = _read_bytes(path)
    if len(delimiter) > 1:
        raw = raw.replace(delimiter.encode(encoding), _SEP.encode())
        delimiter = _SEP
    first_line = raw.split(b"\n", 1)[0].rstrip(b"\r")
    if header:
        names = _header(path, first_line, delimiter, encoding, quoted)
        missing = [c.name for c in columns if c.name not in names]
        if missing:
            raise DataError(
                path,
                f"missing column {', '.join(repr(m) for m in missing)} (found {', '.join(names)}); "
                f"expected columns {', '.join(c.name for c in columns)}",
                line=1,
            )
    assert names is not None
    body_start = len(first_line) + 1 if header else 0
    if not raw[body_start:].strip():
        raise DataError(path, "file has no data rows; expected at least one")
    try:
        table = pacsv.read_csv(
            io.BytesIO(raw),
            read_options=pacsv.ReadOptions(column_names=list(names), skip_rows=1 if header else 0, encoding=encoding),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, quote_char='"' if quoted else False, newlines_in_values=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c.name: _ARROW[c.kind] for c in columns},
                include_columns=[c.name for c in columns],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        _diagnose_delimited(path, raw, columns, names, delimiter, header, encoding, quoted)
        raise DataError(path, f"cannot be parsed: {str(exc).splitlines()[0]}") from None
    for column in columns:
        if not column.nullable and table.column(column.name).null_count:
            _diagnose_delimited(path, raw, columns, names, delimiter, header, encoding, quoted)
    return table


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DataError(path, "file not found")
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:  # cut short, or not gzip at all
            raise DataError(path, f"not a complete gzip file ({exc}); expected the whole .gz download") from None
    if not raw.strip():
        raise DataError(path, "file is empty; expected a header line and data rows")
    if not raw.endswith(b"\n"):
        lines = raw.count(b"\n") + 1
        raise DataError(
            path,
            "the last line has no line end, so the file looks cut short; expected every line to end with a "
            "newline (download it again, or add the newline if the file is complete)",
            line=lines,
        )
    return raw


def _header(path: Path, line: bytes, delimiter: str, encoding: str, quoted: bool) -> list[str]:
    text = _decode(path, line, 1, encoding).lstrip("\ufeff")
    return [name.strip() for name in _split(text, delimiter, quoted)]


def _decode(path: Path, line: bytes, number: int, encoding: str) -> str:
    try:
        return line.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(
            path,
            f"undecodable bytes {line[exc.start : exc.start + 4]!r} (byte {exc.start + 1} of the line); "
            f"expected {encoding.upper()} text",
            line=number,
        ) from None


def _split(text: str, delimiter: str, quoted: bool) -> list[str]:
    if quoted:
        return next(csv.reader([text], delimiter=delimiter), [])
    return text.split(delimiter)


def _diagnose_delimited(
    path: Path,
    raw: bytes,
    columns: Sequence[Column],
    names: Sequence[str],
    delimiter: str,
    header: bool,
    encoding: str,
    quoted: bool,
) -> None:
    """Raise a DataError for the first bad line; return if every line looks right."""
    positions = {name: i for i, name in enumerate(names)}
    for number, line in enumerate(raw.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if (header and number == 1) or not line.strip():
            continue
        fields = _split(_decode(path, line, number, encoding), delimiter, quoted)
        if len(fields) < len(names):
            raise DataError(
                path, f"found {len(fields)} fields; expected {len(names)} ({', '.join(names)})", line=number
            )
        for column in columns:
            check_value(path, fields[positions[column.name]], column, number)


def check_value(path: Path, value: object, column: Column, line: int) -> None:
    """Raise a DataError unless `value` converts to the column's kind."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if column.nullable:
            return
        raise DataError(path, f"empty value; expected {_EXPECT[column.kind]}", line=line, column=column.name)
    try:
        if column.kind == "int":
            if isinstance(value, float | bool):
                raise ValueError
            int(value)  # type: ignore[arg-type]
        elif column.kind == "float":
            if isinstance(value, bool):
                raise ValueError
            float(value)  # type: ignore[arg-type]
        elif not isinstance(value, str):
            raise ValueError
    except (TypeError, ValueError):
        raise DataError(
            path, f"expected {_EXPECT[column.kind]}, got {value!r}", line=line, column=column.name
        ) from None


def read_jsonl(path: Path, columns: Sequence[Column], *, list_columns: Sequence[str] = ()) -> pa.Table:
    """Read the named fields of a JSON-lines file (optionally .gz); other fields are ignored.

    `list_columns` are lists of strings (e.g. categories); missing nullable fields become nulls.
    """
    raw = _read_bytes(path)
    fields = [pa.field(c.name, _ARROW[c.kind]) for c in columns]
    fields += [pa.field(name, pa.list_(pa.string())) for name in list_columns]
    try:
        table = pajson.read_json(
            io.BytesIO(raw),
            parse_options=pajson.ParseOptions(explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore"),
        )
    except pa.ArrowInvalid as exc:
        _diagnose_jsonl(path, raw, columns)
        raise DataError(path, f"cannot be parsed: {str(exc).splitlines()[0]}") from None
    for column in columns:
        if not column.nullable and table.column(column.name).null_count:
            _diagnose_jsonl(path, raw, columns)
    return table


def _diagnose_jsonl(path: Path, raw: bytes, columns: Sequence[Column]) -> None:
    for number, line in _lines(raw):
        text = _decode(path, line, number, "utf-8")
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON ({exc.msg}); expected one JSON object per line", line=number) from None
        if not isinstance(record, dict):
            raise DataError(path, "expected a JSON object", line=number)
        for column in columns:
            if column.name not in record and not column.nullable:
                raise DataError(path, f"missing field '{column.name}'", line=number)
            check_value(path, record.get(column.name), column, number)


def _lines(raw: bytes) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(raw.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if line.strip():
            yield number, line


def first_json_keys(path: Path) -> set[str]:
    """Field names of the first record of a JSON-lines file (to tell Amazon's 2014/2018/2023 formats)."""
    raw = _read_bytes(path)
    for number, line in _lines(raw):
        try:
            record = json.loads(_decode(path, line, number, "utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON ({exc.msg}); expected one JSON object per line", line=number) from None
        if isinstance(record, dict):
            return set(record)
        raise DataError(path, "expected a JSON object", line=number)
    raise DataError(path, "file is empty; expected JSON lines")
