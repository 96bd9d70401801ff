"""The scan behind ``--per-image FILE`` (and ``--incremental``), with the CLI's messages.

:func:`scan_with_table` is what :func:`segstats.cli._common.scan_labels` runs when a
table is asked for: the fingerprints are taken when the files are listed, before any is
read (:class:`segstats.table.scanning.TableScan`), the rows are written as chunks
finish, and the summary gets the words on what was read and reused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from segstats.cli._console import Messages, plural, progress_bar

if TYPE_CHECKING:
    from segstats.api import FilePlan
    from segstats.stats import DatasetStats


def scan_with_table(
    messages: Messages,
    plan: FilePlan,
    table_path: str,
    incremental: bool,
    keywords: dict[str, Any],
    read_keywords: dict[str, Any],
    *,
    check: Callable[[DatasetStats], None] | None = None,
) -> tuple[DatasetStats, str]:
    """The scan of ``plan`` writing the table ``table_path``: the document and the summary's words.

    Args:
        keywords, read_keywords: ``segstats.scan`` keywords of the label and read options.
        check: may refuse the document (raise) before the table replaces ``table_path``.
    """
    from segstats.api import FilePlan, scan
    from segstats.table.scanning import TableScan, table_label_options

    k = keywords.get("num_classes")
    names = keywords.get("class_names")
    if k is None and names is not None:
        k = len(names)
    key = table_label_options(
        k,
        keywords.get("ignore_index"),
        keywords.get("value_map"),
        keywords.get("colors"),
        bool(keywords.get("grey_rgb")),
    )
    prepared = TableScan.prepare(table_path, plan.files, key, incremental=incremental)
    prepared.scan_empty = bool(plan.skipped)
    if prepared.note is not None:
        messages.note(prepared.note)
    with progress_bar(messages, len(prepared.to_read)) as progress:

        def run_scan(files: list[str], on_rows: Any, allow_empty: bool) -> DatasetStats:
            # listed files that do not exist (--files-from --skip-errors) have no row: the
            # scan of the files read reports them, whatever was reused
            return scan(
                FilePlan(files, len(files), None, plan.skipped),
                progress=progress,
                on_rows=on_rows,
                allow_empty=allow_empty,
                **keywords,
                **read_keywords,
            )

        stats = prepared.run(run_scan, k, keywords.get("ignore_index"), names, check=check)
    line = f"wrote {table_path}"
    if incremental:
        line = (
            f"read {plural(len(prepared.to_read), 'file')}, reused {plural(prepared.reused, 'row')}"
            f" of {table_path}" + (f", dropped {prepared.dropped}" if prepared.dropped else "")
        )
    return stats, line
