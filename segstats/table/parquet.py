"""The ``.parquet`` per-image table (optional extra: pyarrow, imported only here).

The same columns as the csv table, typed: ``path`` (string), ``width``,
``height``, ``ignored_pixels`` and one int64 column per class id ``"0"`` ..
``"K-1"``, then ``size``, ``mtime_ns`` (nullable int64), ``etag`` and
``label_options`` (nullable strings). Rows are buffered in batches of
:data:`BATCH_ROWS` and written as row groups, so memory stays flat; reading
iterates over record batches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from segstats.errors import BadInputError
from segstats.table.formats import RowSink, class_columns
from segstats.table.rows import EXTRA_FIELDS, INT_EXTRA_FIELDS, LEADING_FIELDS, ImageRow

# Rows per record batch (and row group): bounded memory, few enough groups for fast reads.
BATCH_ROWS = 65536
# Class cells buffered per batch at most (32 MiB of int64), whatever K is.
BATCH_CELLS = 1 << 22


def batch_rows(num_classes: int) -> int:
    return max(1, min(BATCH_ROWS, BATCH_CELLS // max(num_classes, 1)))


def _schema(num_classes: int) -> Any:
    import pyarrow as pa

    fields = [
        pa.field("path", pa.string(), nullable=False),
        *(pa.field(name, pa.int64(), nullable=False) for name in LEADING_FIELDS[1:]),
        *(pa.field(str(c), pa.int64(), nullable=False) for c in range(num_classes)),
        *(pa.field(n, pa.int64() if n in INT_EXTRA_FIELDS else pa.string()) for n in EXTRA_FIELDS),
    ]
    return pa.schema(fields, metadata={b"segstats_table": b"1", b"num_classes": str(num_classes).encode()})


class _ParquetSink:
    def __init__(self, handle: IO[bytes], num_classes: int | None) -> None:
        import pyarrow.parquet as pq

        if num_classes is None:
            raise ValueError("a parquet table needs num_classes for its columns")
        self._k = num_classes
        self._batch = batch_rows(num_classes)
        self._schema = _schema(num_classes)
        self._writer = pq.ParquetWriter(handle, self._schema)
        self._clear()

    def _clear(self) -> None:
        self._columns: dict[str, list[Any]] = {name: [] for name in self._schema.names}
        self._dense = np.zeros((self._batch, self._k), dtype=np.int64)
        self._rows = 0

    def write(self, row: ImageRow) -> None:
        if row.class_ids.size and int(row.class_ids[-1]) >= self._k:
            raise ValueError(f"{row.path}: class {int(row.class_ids[-1])} is outside 0..{self._k - 1}")
        columns = self._columns
        columns["path"].append(row.shown_path)
        columns["width"].append(int(row.width))
        columns["height"].append(int(row.height))
        columns["ignored_pixels"].append(int(row.ignored_pixels))
        for name, value in zip(EXTRA_FIELDS, row.extras(), strict=True):
            columns[name].append(value)
        self._dense[self._rows, row.class_ids] = row.class_pixels
        self._rows += 1
        if self._rows == self._batch:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if not self._rows:
            return
        arrays = []
        for index, name in enumerate(self._schema.names):
            field = self._schema.field(index)
            if name.isdecimal():
                arrays.append(pa.array(self._dense[: self._rows, int(name)], type=field.type))
            else:
                arrays.append(pa.array(self._columns[name], type=field.type))
        self._writer.write_batch(pa.record_batch(arrays, schema=self._schema))
        self._clear()

    def finish(self) -> None:
        self._flush()
        self._writer.close()

    def discard(self) -> None:
        # Close now, while the temporary file is open: pyarrow would close it at collection.
        with contextlib.suppress(Exception):
            self._writer.close()


class _ParquetCodec:
    def sink(self, handle: IO[bytes], num_classes: int | None) -> RowSink:
        return _ParquetSink(handle, num_classes)

    def read(self, path: str) -> Iterator[ImageRow]:
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
        except FileNotFoundError:
            raise BadInputError(path, "no such file") from None
        except Exception as exc:  # pyarrow's errors for a file that is not parquet
            raise BadInputError(path, f"not a parquet table ({' '.join(str(exc).split())})") from None
        names = list(parquet.schema_arrow.names)
        k = class_columns(names, path)
        extras = [n for n in EXTRA_FIELDS if n in names]
        number = 0
        for batch in parquet.iter_batches(batch_size=batch_rows(k)):
            columns = {name: batch.column(name).to_pylist() for name in [*LEADING_FIELDS, *extras]}
            dense = (
                np.column_stack([batch.column(str(c)).to_numpy(zero_copy_only=False) for c in range(k)])
                if k
                else np.zeros((batch.num_rows, 0), dtype=np.int64)
            ).astype(np.int64)
            for i in range(batch.num_rows):
                number += 1
                try:
                    if (dense[i] < 0).any():
                        raise ValueError("negative class pixels")
                    ids = np.flatnonzero(dense[i]).astype(np.int64)
                    yield ImageRow(
                        path=columns["path"][i],
                        width=columns["width"][i],
                        height=columns["height"][i],
                        ignored_pixels=columns["ignored_pixels"][i],
                        class_ids=ids,
                        class_pixels=dense[i, ids],
                        **{name: columns[name][i] for name in extras},
                    )
                except (ValueError, TypeError) as exc:
                    raise BadInputError(path, f"row {number}: {exc}") from None


PARQUET_CODEC = _ParquetCodec()
