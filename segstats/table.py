"""The per-image table (``--per-image FILE``): one row per label image, streamed to disk.

Formats by suffix (contract, "Per-image table"):

- ``.jsonl``: one object per line, ``{"path", "width", "height", "ignored_pixels",
  "counts": {"<class>": pixels}}`` listing only the classes present;
- ``.csv``: header ``path,width,height,ignored_pixels,0,1,...,K-1``;
- ``.parquet``: the csv's columns, typed (optional extra: pyarrow).

Further fields follow the contract's ones, for incremental scans: ``size`` and
``mtime_ns`` (local files, ``os.stat``), ``etag`` (remote files, when fsspec gives
one) and ``label_options`` (a digest of the label options the row was counted
with, :func:`segstats.incremental.label_options_key`). In ``.jsonl`` they appear
only when known; ``.csv`` and ``.parquet`` always have the four columns (empty /
null when unknown), after the class columns, so that the header is fixed before
the first row. The options live in every row rather than in a header line or a
sidecar file so that the table stays a plain table for pandas/polars/duckdb
(``read_json(lines=True)`` and ``read_csv`` give one record per image, nothing
else) and a table is never out of step with a separate file.

``path`` is the file as the scan names it in messages (``display_path``).

:class:`TableWriter` writes rows as they come, one at a time, into a temporary
file beside the destination and renames it over the destination only when the
``with`` block ends without an exception: a crash or an error mid-run leaves the
previous table whole. Memory does not grow with the number of rows: a ``.csv``
or ``.parquet`` whose number of classes is only known at the end is staged as
jsonl in an anonymous temporary file and converted, still row by row, at close.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import importlib
import importlib.util
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any, Protocol

import numpy as np
import numpy.typing as npt

from segstats.errors import BadInputError, UsageError, display_path
from segstats.writers import atomic_output

IntArray = npt.NDArray[np.int64]

# The contract's leading columns, then one column per class id, then EXTRA_FIELDS.
LEADING_FIELDS = ("path", "width", "height", "ignored_pixels")
# Fields after the contract's ones (what incremental scans need), in this order.
EXTRA_FIELDS = ("size", "mtime_ns", "etag", "label_options")
# Extra fields holding integers (the others hold strings).
INT_EXTRA_FIELDS = frozenset({"size", "mtime_ns"})


@dataclass(frozen=True, eq=False)
class ImageRow:
    """One label image of the per-image table.

    Attributes:
        path: the file as the scan names it.
        width, height: the image size (``width * height`` pixels, ignored ones included).
        ignored_pixels: pixels equal to the ignore index.
        class_ids: ``[n]`` int64, the classes with pixels in this image, strictly increasing.
        class_pixels: ``[n]`` int64, positive, aligned with ``class_ids``.
        size, mtime_ns: the file's size in bytes and modification time (ns), when known.
        etag: a remote file's ETag, when its filesystem gives one.
        label_options: digest of the label options the row was counted with.
    """

    path: str
    width: int
    height: int
    ignored_pixels: int
    class_ids: IntArray
    class_pixels: IntArray
    size: int | None = None
    mtime_ns: int | None = None
    etag: str | None = None
    label_options: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.path, str):
            raise ValueError(f"path must be a string, got {self.path!r}")
        ids = np.asarray(self.class_ids, dtype=np.int64)
        pixels = np.asarray(self.class_pixels, dtype=np.int64)
        if ids.ndim != 1 or ids.shape != pixels.shape:
            raise ValueError(
                f"class_ids and class_pixels must be 1-D of one length, got shapes {ids.shape} "
                f"and {pixels.shape}"
            )
        if ids.size and (ids[0] < 0 or (ids.size > 1 and not (ids[1:] > ids[:-1]).all())):
            raise ValueError(f"class_ids must be non-negative and strictly increasing, got {ids.tolist()}")
        if ids.size and pixels.min() <= 0:
            raise ValueError(f"class_pixels must be positive, got {pixels.tolist()}")
        for name in ("width", "height", "ignored_pixels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        labelled = int(pixels.sum())
        if labelled + int(self.ignored_pixels) > int(self.width) * int(self.height):
            raise ValueError(
                f"{labelled} class pixels + {self.ignored_pixels} ignored pixels exceed "
                f"{self.width}x{self.height} = {int(self.width) * int(self.height)} pixels"
            )
        object.__setattr__(self, "class_ids", ids)
        object.__setattr__(self, "class_pixels", pixels)

    @property
    def total_pixels(self) -> int:
        return int(self.width) * int(self.height)

    @property
    def labelled_pixels(self) -> int:
        """Pixels that are not ignored (what ``image_pixels`` adds up)."""
        return self.total_pixels - int(self.ignored_pixels)

    def counts(self) -> dict[int, int]:
        """``{class id: pixels}`` of the classes present."""
        return dict(zip(self.class_ids.tolist(), self.class_pixels.tolist(), strict=True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImageRow):
            return NotImplemented
        return (
            (self.path, self.width, self.height, self.ignored_pixels)
            == (other.path, other.width, other.height, other.ignored_pixels)
            and np.array_equal(self.class_ids, other.class_ids)
            and np.array_equal(self.class_pixels, other.class_pixels)
            and (self.size, self.mtime_ns, self.etag, self.label_options)
            == (other.size, other.mtime_ns, other.etag, other.label_options)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable numpy fields: not hashable

    def extras(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in EXTRA_FIELDS}


def sum_rows(rows: Iterable[ImageRow], num_classes: int | None = None) -> dict[str, Any]:
    """The JSON document's integer fields, summed from table rows.

    ``num_classes`` defaults to the largest class id seen plus one. The result has
    ``num_images``, ``total_pixels``, ``ignored_pixels`` and the lists
    ``pixel_counts``, ``image_counts``, ``image_pixels`` (K ints each), exactly as
    a scan of the same files gives them.

    Raises:
        ValueError: a row holds a class id ``>= num_classes``.
    """
    size = num_classes or 0
    pixel_counts = np.zeros(size, dtype=np.int64)
    image_counts = np.zeros(size, dtype=np.int64)
    image_pixels = np.zeros(size, dtype=np.int64)
    num_images = total = ignored = 0
    for row in rows:
        if row.class_ids.size:
            top = int(row.class_ids[-1]) + 1
            if top > size:
                if num_classes is not None:
                    raise ValueError(f"{row.path}: class {top - 1} is outside 0..{num_classes - 1}")
                grow = top - size
                pixel_counts, image_counts, image_pixels = (
                    np.concatenate([a, np.zeros(grow, dtype=np.int64)])
                    for a in (pixel_counts, image_counts, image_pixels)
                )
                size = top
            pixel_counts[row.class_ids] += row.class_pixels
            image_counts[row.class_ids] += 1
            image_pixels[row.class_ids] += row.labelled_pixels
        num_images += 1
        total += row.total_pixels
        ignored += int(row.ignored_pixels)
    return {
        "num_classes": size,
        "num_images": num_images,
        "total_pixels": total,
        "ignored_pixels": ignored,
        "pixel_counts": pixel_counts.tolist(),
        "image_counts": image_counts.tolist(),
        "image_pixels": image_pixels.tolist(),
    }


# ------------------------------------------------------------------ format registry
class RowSink(Protocol):
    """Encodes rows into an open binary file; ``finish`` flushes what it buffers."""

    def write(self, row: ImageRow) -> None: ...

    def finish(self) -> None: ...


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
    "jsonl": TableFormat("jsonl", (".jsonl",), "segstats.table:JSONL_CODEC", needs_num_classes=False),
    "csv": TableFormat("csv", (".csv",), "segstats.table:CSV_CODEC", needs_num_classes=True),
    "parquet": TableFormat(
        "parquet",
        (".parquet",),
        "segstats.table_parquet:PARQUET_CODEC",
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
    """One jsonl line (without the newline): the contract's fields, then the known extras."""
    record: dict[str, Any] = {
        "path": display_path(row.path),
        "width": int(row.width),
        "height": int(row.height),
        "ignored_pixels": int(row.ignored_pixels),
        "counts": {str(c): n for c, n in zip(row.class_ids.tolist(), row.class_pixels.tolist(), strict=True)},
    }
    for name, value in row.extras().items():
        if value is not None:
            record[name] = value
    return json.dumps(record, ensure_ascii=False)


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


def row_from_json(line: str) -> ImageRow:
    """Parse one jsonl line. Raises ValueError saying what is wrong."""
    record = json.loads(line)
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    path = record.get("path")
    if not isinstance(path, str):
        raise ValueError(f"'path' must be a string, got {path!r}")
    counts = record.get("counts")
    if not isinstance(counts, dict):
        raise ValueError(f"'counts' must be an object, got {counts!r}")
    pairs = []
    for key, value in counts.items():
        if not (isinstance(key, str) and key.isdecimal() and key.isascii()):
            raise ValueError(f"counts key {key!r} is not a class id")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"counts[{key!r}] must be a non-negative integer, got {value!r}")
        if value:  # a zero entry (a hand-made table) means the class is absent
            pairs.append((int(key), value))
    pairs.sort()
    return ImageRow(
        path=path,
        width=_int_field(record, "width"),  # type: ignore[arg-type]
        height=_int_field(record, "height"),  # type: ignore[arg-type]
        ignored_pixels=_int_field(record, "ignored_pixels"),  # type: ignore[arg-type]
        class_ids=np.array([c for c, _ in pairs], dtype=np.int64),
        class_pixels=np.array([n for _, n in pairs], dtype=np.int64),
        **_extras(record),
    )


class _JsonlSink:
    def __init__(self, handle: IO[bytes], num_classes: int | None) -> None:
        self._text = io.TextIOWrapper(handle, encoding="utf-8", newline="\n", write_through=False)

    def write(self, row: ImageRow) -> None:
        self._text.write(row_to_json(row) + "\n")

    def finish(self) -> None:
        self._text.flush()
        self._text.detach()


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
        self._text = io.TextIOWrapper(handle, encoding="utf-8", newline="", write_through=False)
        self._csv = csv.writer(self._text, lineterminator="\n")
        self._csv.writerow(csv_header(num_classes))

    def write(self, row: ImageRow) -> None:
        cells: list[Any] = [0] * self._k
        for c, n in zip(row.class_ids.tolist(), row.class_pixels.tolist(), strict=True):
            if c >= self._k:
                raise ValueError(f"{row.path}: class {c} is outside the table's 0..{self._k - 1}")
            cells[c] = n
        extras = ["" if v is None else v for v in row.extras().values()]
        self._csv.writerow(
            [display_path(row.path), row.width, row.height, row.ignored_pixels, *cells, *extras]
        )

    def finish(self) -> None:
        self._text.flush()
        self._text.detach()


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


# ------------------------------------------------------------------ reading, writing
def read_table(path: str | os.PathLike[str]) -> Iterator[ImageRow]:
    """The rows of a per-image table, one at a time, in the table's order.

    Raises:
        BadInputError: naming the table (and the line) when it cannot be read.
        UsageError: an unknown suffix or a missing optional dependency.
    """
    name = os.fspath(path)
    codec = table_format_for(name).load()
    label_options: str | None = None
    for number, row in enumerate(codec.read(name)):
        if number == 0:
            label_options = row.label_options
        elif row.label_options != label_options:
            raise BadInputError(
                name, f"row {number + 1} ({row.path}) was counted with other label options than row 1"
            )
        yield row


class _Aborted(Exception):
    """Passed to the temporary file's context when a writer is abandoned without an exception."""


class TableWriter:
    """Write a per-image table row by row; the file appears (atomically) at the end.

    Example::

        with TableWriter("rows.jsonl") as table:
            for row in rows:          # in sorted path order
                table.write(row)

    ``num_classes`` may be set (or raised) any time before the block ends; csv and
    parquet tables need it, and default to the largest class id written plus one.
    Rows must come in strictly increasing path order (the contract's order; this
    also refuses a path written twice). On an exception inside the block, the
    temporary file is removed and an existing table at ``path`` is left as it was.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        num_classes: int | None = None,
        *,
        label_options: str | None = None,
        fmt: str | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.label_options = label_options
        self.format = TABLE_FORMATS[fmt] if fmt is not None else table_format_for(self.path)
        self.num_classes = num_classes
        self.rows_written = 0
        self._top = 0  # largest class id written plus one
        self._last_path: str | None = None
        self._output: contextlib.AbstractContextManager[IO[bytes]] | None = None
        self._sink: RowSink | None = None
        self._stage: IO[bytes] | None = None
        self._stage_text: IO[str] | None = None

    def __enter__(self) -> TableWriter:
        codec = self.format.load()
        self._output = atomic_output(self.path)
        handle = self._output.__enter__()
        try:
            if self.format.needs_num_classes and self.num_classes is None:
                folder = os.path.dirname(os.path.abspath(self.path))
                # Anonymous (already unlinked): nothing is left behind whatever happens.
                self._stage = tempfile.TemporaryFile(dir=folder)
                self._stage_text = io.TextIOWrapper(self._stage, encoding="utf-8", newline="\n")
            else:
                self._sink = codec.sink(handle, self.num_classes)
        except BaseException as exc:
            self._abandon(exc)
            raise
        self._handle = handle
        return self

    def write(self, row: ImageRow) -> None:
        """Add ``row`` (stamped with the writer's ``label_options`` when it has them)."""
        if self.label_options is not None and row.label_options != self.label_options:
            row = dataclasses.replace(row, label_options=self.label_options)
        shown = display_path(row.path)
        if self._last_path is not None and shown <= self._last_path:
            raise ValueError(
                f"rows must come in strictly increasing path order: {shown} after {self._last_path}"
            )
        if row.class_ids.size:
            top = int(row.class_ids[-1]) + 1
            if self._sink is not None and self.num_classes is not None and top > self.num_classes:
                raise ValueError(f"{row.path}: class {top - 1} is outside 0..{self.num_classes - 1}")
            self._top = max(self._top, top)
        if self._sink is not None:
            self._sink.write(row)
        elif self._stage_text is not None:
            self._stage_text.write(row_to_json(row) + "\n")
        else:
            raise ValueError("write() outside the writer's with block")
        self._last_path = shown
        self.rows_written += 1

    def _finish(self) -> None:
        if self._stage_text is not None:
            k = self.num_classes if self.num_classes is not None else self._top
            if k < self._top:
                raise ValueError(f"num_classes={k}, but class {self._top - 1} was written")
            sink = self.format.load().sink(self._handle, k)
            self._stage_text.flush()
            self._stage_text.seek(0)
            for row in read_jsonl_lines(self._stage_text, "<staged rows>"):
                sink.write(row)
            self._sink = sink
        if self._sink is None:
            raise RuntimeError("TableWriter finished before it was entered")
        self._sink.finish()

    def _close_stage(self) -> None:
        if self._stage_text is not None:
            with contextlib.suppress(Exception):
                self._stage_text.close()
            self._stage_text = self._stage = None

    def _abandon(self, exc: BaseException) -> None:
        self._close_stage()
        if self._output is not None:
            output, self._output = self._output, None
            output.__exit__(type(exc), exc, exc.__traceback__)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self._abandon(exc)
            return
        try:
            self._finish()
        except BaseException as error:
            self._abandon(error)
            raise
        self._close_stage()
        output, self._output = self._output, None
        if output is not None:
            output.__exit__(None, None, None)

    def abort(self) -> None:
        """Abandon the table: remove the temporary file, leave ``path`` as it was."""
        self._abandon(_Aborted("table abandoned"))
