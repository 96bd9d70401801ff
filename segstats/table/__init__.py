"""The per-image table (``--per-image FILE``): one row per label image, streamed to disk.

Formats by suffix (contract, "Per-image table"):

- ``.jsonl``: one object per line, ``{"path", "width", "height", "ignored_pixels",
  "counts": {"<class>": pixels}}`` listing only the classes present;
- ``.csv``: header ``path,width,height,ignored_pixels,0,1,...,K-1``;
- ``.parquet``: the csv's columns, typed (optional extra: pyarrow).

Further fields follow the contract's ones, for incremental scans: ``size`` and
``mtime_ns`` (local files, ``os.stat``), ``etag`` (remote files, when fsspec gives
one) and ``label_options`` (a digest of the label options the row was counted
with, :func:`segstats.table.label_options_key`). In ``.jsonl`` they appear
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

from segstats.table.formats import TABLE_FORMATS, TableFormat, table_format_for
from segstats.table.incremental import (
    Fingerprint,
    IncrementalPlan,
    fingerprint_from_info,
    label_options_key,
    local_fingerprint,
    merged_rows,
    plan_incremental,
    reused_rows,
)
from segstats.table.rows import EXTRA_FIELDS, ImageRow, row_from_counts, sum_rows
from segstats.table.writer import TableWriter, read_table

__all__ = [
    "EXTRA_FIELDS",
    "TABLE_FORMATS",
    "Fingerprint",
    "ImageRow",
    "IncrementalPlan",
    "TableFormat",
    "TableWriter",
    "fingerprint_from_info",
    "label_options_key",
    "local_fingerprint",
    "merged_rows",
    "plan_incremental",
    "read_table",
    "reused_rows",
    "row_from_counts",
    "sum_rows",
    "table_format_for",
]
