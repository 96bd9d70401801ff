"""Table formats: a registry by suffix (codecs imported on first use), and the jsonl and csv codecs."""

from __future__ import annotations

import contextlib
import csv
import importlib
import importlib.util
import itertools
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Protocol

import numpy as np

from segstats.errors import BadInputError, UsageError
from segstats.table.rows import EXTRA_FIELDS, INT_EXTRA_FIELDS, LEADING_FIELDS, ImageRow


# ------------------------------------------------------------------ format registry
class RowSink(Protocol):
    """Encodes rows into an open binary file; ``finish`` flushes what it buffers.

    ``discard`` lets go of the file without writing more (the table is abandoned).
    """

    def write(self, row: ImageRow) -> None: ...

    def finish(self) -> None: ...

    def discard(self) -> None: ...


@dataclass(frozen=True)
class TableFormat:
    """A table format: its suffixes and where its codec lives (imported on first use).

    ``codec`` is ``"module:attr"`` naming an object with ``sink(handle, num_classes)``
    and ``read(path) -> Iterator[ImageRow]``; ``requires`` is a module that must be
    importable, ``install_hint`` what to install when it is not.
    """

    name: str
    suffixes: tuple[str, ...]
    codec: str
    needs_num_classes: bool
    requires: str | None = None
    install_hint: str | None = None

    def load(self) -> Any:
        module, _, attr = self.codec.partition(":")
        return getattr(importlib.import_module(module), attr)


TABLE_FORMATS: dict[str, TableFormat] = {
    "jsonl": TableFormat("jsonl", (".jsonl",), "segstats.table.formats:JSONL_CODEC", needs_num_classes=False),
    "csv": TableFormat("csv", (".csv",), "segstats.table.formats:CSV_CODEC", needs_num_classes=True),
    "parquet": TableFormat(
        "parquet",
        (".parquet",),
        "segstats.table.parquet:PARQUET_CODEC",
        needs_num_classes=True,
        requires="pyarrow",
        install_hint="pip install 'segstats[parquet]' (or pyarrow)",
    ),
}


def table_format_for(path: str | os.PathLike[str]) -> TableFormat:
    """The table format chosen by ``path``'s suffix.

    Raises:
        UsageError: an unknown suffix, or a format whose optional dependency is
            missing (checked here, so the CLI can report it before reading any image).
    """
    name = os.fspath(path)
    suffix = os.path.splitext(name)[1].lower()
    for fmt in TABLE_FORMATS.values():
        if suffix in fmt.suffixes:
            if fmt.requires is not None and importlib.util.find_spec(fmt.requires) is None:
                raise UsageError(
                    f"{name}: writing .{fmt.name} tables needs {fmt.requires}: {fmt.install_hint}"
                )
            return fmt
    known = ", ".join(s for f in TABLE_FORMATS.values() for s in f.suffixes)
    raise UsageError(
        f"{name}: cannot tell the table format from the suffix {suffix or '(none)'!r}; use {known}"
    )


# --------------------------------------------------------------------------- jsonl
def row_to_json(row: ImageRow) -> str:
    """One jsonl line (without the newline): the contract's fields, then the known extras.

    Byte for byte ``json.dumps(record, ensure_ascii=False)`` of the record (default
    separators, the same string encoder), formatted directly: no dict, no encoder object.
    """
    counts = ", ".join(
        f'"{c}": {n}' for c, n in zip(row.class_ids.tolist(), row.class_pixels.tolist(), strict=True)
    )
    line = (
        f'{{"path": {_json_string(row.shown_path)}, "width": {int(row.width)}, '
        f'"height": {int(row.height)}, "ignored_pixels": {int(row.ignored_pixels)}, "counts": {{{counts}}}'
    )
    size, mtime_ns, etag, label_options = row.extras()
    if size is not None:
        line += f', "size": {int(size)}'
    if mtime_ns is not None:
        line += f', "mtime_ns": {int(mtime_ns)}'
    if etag is not None:
        line += f', "etag": {_json_string(etag)}'
    if label_options is not None:
        line += f', "label_options": {_json_string(label_options)}'
    return line + "}"


# The string encoder of json.dumps(..., ensure_ascii=False) (its C version where built).
_json_string = json.encoder.encode_basestring
# Encoded rows are handed to the file in pieces of at least this many bytes: few write
# calls (each can give up the GIL to the scan's threads, and wait to get it back).
WRITE_BATCH_BYTES = 1 << 20


def _int_field(record: dict[str, Any], name: str, *, optional: bool = False) -> int | None:
    value = record.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name!r} must be an integer, got {value!r}")
    return value


def _extras(record: dict[str, Any]) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    for name in EXTRA_FIELDS:
        value = record.get(name)
        if name in INT_EXTRA_FIELDS:
            extras[name] = _int_field(record, name, optional=True)
        elif value is not None and not isinstance(value, str):
            raise ValueError(f"{name!r} must be a string, got {value!r}")
        else:
            extras[name] = value
    return extras


def _check_count(key: Any, value: Any) -> None:
    if not (isinstance(key, str) and key.isdecimal() and key.isascii()):
        raise ValueError(f"counts key {key!r} is not a class id")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"counts[{key!r}] must be a non-negative integer, got {value!r}")


def row_from_json(line: str) -> ImageRow:
    """Parse one jsonl line. Raises ValueError saying what is wrong.

    The common case (plain ints and strings, counts in increasing class order) is checked
    with exact type tests; anything else goes through the general checks and their messages.
    """
    record = json.loads(line)
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    path = record.get("path")
    if not isinstance(path, str):
        raise ValueError(f"'path' must be a string, got {path!r}")
    counts = record.get("counts")
    if not isinstance(counts, dict):
        raise ValueError(f"'counts' must be an object, got {counts!r}")
    ids: list[int] = []
    pixels: list[int] = []
    for key, value in counts.items():
        if type(value) is not int or value < 0 or not (key.isdecimal() and key.isascii()):
            _check_count(key, value)
        if value:  # a zero entry (a hand-made table) means the class is absent
            ids.append(int(key))
            pixels.append(value)
    if any(a >= b for a, b in itertools.pairwise(ids)):
        pairs = sorted(zip(ids, pixels, strict=True))
        ids, pixels = [c for c, _ in pairs], [n for _, n in pairs]
    width, height, ignored = record.get("width"), record.get("height"), record.get("ignored_pixels")
    if type(width) is not int:
        width = _int_field(record, "width")
    if type(height) is not int:
        height = _int_field(record, "height")
    if type(ignored) is not int:
        ignored = _int_field(record, "ignored_pixels")
    size, mtime_ns = record.get("size"), record.get("mtime_ns")
    etag, label_options = record.get("etag"), record.get("label_options")
    if size is not None and type(size) is not int:
        size = _int_field(record, "size", optional=True)
    if mtime_ns is not None and type(mtime_ns) is not int:
        mtime_ns = _int_field(record, "mtime_ns", optional=True)
    if not (etag is None or type(etag) is str) or not (label_options is None or type(label_options) is str):
        _extras(record)  # raises, naming the field
    return ImageRow(
        path,
        width,  # type: ignore[arg-type]
        height,  # type: ignore[arg-type]
        ignored,  # type: ignore[arg-type]
        np.array(ids, dtype=np.int64),
        np.array(pixels, dtype=np.int64),
        size,
        mtime_ns,
        etag,
        label_options,
    )


class BatchedText:
    """Text written UTF-8 encoded (no newline translation) in batches of ``WRITE_BATCH_BYTES``."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle: IO[bytes] | None = handle
        self._parts: list[bytes] = []
        self._bytes = 0

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        self._parts.append(data)
        self._bytes += len(data)
        if self._bytes >= WRITE_BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._parts and self._handle is not None:
            self._handle.write(b"".join(self._parts))
        self._parts.clear()
        self._bytes = 0

    def discard(self) -> None:
        self._parts.clear()
        self._handle = None  # nothing more touches the file


class _JsonlSink:
    def __init__(self, handle: IO[bytes], num_classes: int | None) -> None:
        self._text = BatchedText(handle)

    def write(self, row: ImageRow) -> None:
        self._text.write(row_to_json(row) + "\n")

    def finish(self) -> None:
        self._text.flush()

    def discard(self) -> None:
        self._text.discard()


def read_jsonl_lines(lines: Iterable[str], source: str) -> Iterator[ImageRow]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield row_from_json(line)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise BadInputError(source, f"line {number}: {exc}") from None


class _JsonlCodec:
    def sink(self, handle: IO[bytes], num_classes: int | None) -> RowSink:
        return _JsonlSink(handle, num_classes)

    def read(self, path: str) -> Iterator[ImageRow]:
        with _open_text(path) as text:
            yield from read_jsonl_lines(text, path)


JSONL_CODEC = _JsonlCodec()


# ----------------------------------------------------------------------------- csv
def csv_header(num_classes: int) -> list[str]:
    return [*LEADING_FIELDS, *(str(c) for c in range(num_classes)), *EXTRA_FIELDS]


class _CsvSink:
    def __init__(self, handle: IO[bytes], num_classes: int | None) -> None:
        if num_classes is None:
            raise ValueError("a csv table needs num_classes for its header")
        self._k = num_classes
        self._text = BatchedText(handle)
        self._csv = csv.writer(self._text, lineterminator="\n")
        # csv quotes a field holding "\n" (the line terminator) but not a lone "\r", which its
        # reader takes for a line break: a row with a text cell holding one (the path, an ETag)
        # is written fully quoted
        self._quoted = csv.writer(self._text, lineterminator="\n", quoting=csv.QUOTE_ALL)
        self._csv.writerow(csv_header(num_classes))

    def write(self, row: ImageRow) -> None:
        cells: list[Any] = [0] * self._k
        for c, n in zip(row.class_ids.tolist(), row.class_pixels.tolist(), strict=True):
            if c >= self._k:
                raise ValueError(f"{row.path}: class {c} is outside the table's 0..{self._k - 1}")
            cells[c] = n
        extras = ["" if v is None else v for v in row.extras()]
        record = [row.shown_path, row.width, row.height, row.ignored_pixels, *cells, *extras]
        quoted = any(isinstance(cell, str) and "\r" in cell for cell in record)  # path or etag
        (self._quoted if quoted else self._csv).writerow(record)

    def finish(self) -> None:
        self._text.flush()

    def discard(self) -> None:
        self._text.discard()


def class_columns(header: list[str], source: str) -> int:
    """K from a csv/parquet header; checks the leading and class columns (BadInputError)."""
    if header[: len(LEADING_FIELDS)] != list(LEADING_FIELDS):
        raise BadInputError(
            source, f"not a per-image table: the header must start with {','.join(LEADING_FIELDS)}"
        )
    k = 0
    for name in header[len(LEADING_FIELDS) :]:
        if name != str(k):
            break
        k += 1
    return k


def _parse_optional(value: str, name: str) -> Any:
    if value == "":
        return None
    return int(value) if name in INT_EXTRA_FIELDS else value


class _CsvCodec:
    def sink(self, handle: IO[bytes], num_classes: int | None) -> RowSink:
        return _CsvSink(handle, num_classes)

    def read(self, path: str) -> Iterator[ImageRow]:
        with _open_text(path, newline="") as text:
            reader = csv.reader(text)
            header = next(reader, None)
            if header is None:
                raise BadInputError(path, "empty file: not a per-image table (no header)")
            k = class_columns(header, path)
            first_extra = len(LEADING_FIELDS) + k
            extra_at = {name: header.index(name) for name in EXTRA_FIELDS if name in header[first_extra:]}
            for record in reader:
                if not record:
                    continue
                try:
                    if len(record) != len(header):
                        raise ValueError(f"{len(record)} cells, the header has {len(header)}")
                    dense = np.array([int(v or 0) for v in record[len(LEADING_FIELDS) : first_extra]])
                    if (dense < 0).any():
                        raise ValueError("negative class pixels")
                    ids = np.flatnonzero(dense).astype(np.int64)
                    extras = {n: _parse_optional(record[i], n) for n, i in extra_at.items()}
                    yield ImageRow(
                        record[0], int(record[1]), int(record[2]), int(record[3]), ids, dense[ids], **extras
                    )
                except ValueError as exc:
                    raise BadInputError(path, f"line {reader.line_num}: {exc}") from None


CSV_CODEC = _CsvCodec()


@contextlib.contextmanager
def _open_text(path: str, newline: str | None = None) -> Iterator[IO[str]]:
    try:
        handle = open(path, encoding="utf-8", newline=newline)  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        raise BadInputError(path, "no such file") from None
    except IsADirectoryError:
        raise BadInputError(path, "is a directory, not a table") from None
    except OSError as exc:
        raise BadInputError(path, f"cannot read ({exc.strerror or exc})") from None
    try:
        yield handle
    except UnicodeDecodeError as exc:
        raise BadInputError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    finally:
        handle.close()
