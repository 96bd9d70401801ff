"""Reading a per-image table row by row, and TableWriter: streamed, atomic."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import tempfile
from collections.abc import Iterator
from types import TracebackType
from typing import IO

from segstats.errors import BadInputError
from segstats.table.formats import TABLE_FORMATS, RowSink, read_jsonl_lines, row_to_json, table_format_for
from segstats.table.rows import ImageRow
from segstats.writers import atomic_output


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
    ``label_options`` (:func:`segstats.table.label_options_key`) is stamped on every
    row; ``fmt`` overrides the format the suffix chooses.
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
        shown = row.shown_path
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
        if self._sink is not None:
            sink, self._sink = self._sink, None
            sink.discard()
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
