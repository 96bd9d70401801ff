"""``segstats merge``: add statistics documents (shards, parts of a dataset)."""

from __future__ import annotations

from typing import Annotated

import typer

from segstats.cli._common import destination, refuse_non_json
from segstats.cli._console import Messages, plural

DocumentsArg = Annotated[
    list[str],
    typer.Argument(help="Statistics documents written by 'segstats scan', or per-image tables."),
]
MergedOpt = Annotated[
    str,
    typer.Option(
        "--output",
        "-o",
        help="The merged document to write (.json; - for stdout), or table (.jsonl, .csv, .parquet).",
    ),
]
# Suffixes of per-image tables: merging those merges rows, not documents.
TABLE_SUFFIXES = (".jsonl", ".csv", ".parquet")


def merge_command(
    documents: DocumentsArg,
    *,
    output: MergedOpt = ...,  # type: ignore[assignment]
    messages: Messages,
) -> None:
    """Add statistics documents (e.g. shards), or merge per-image tables into one.

    Shards' documents add up to the whole scan's; tables merge in sorted order, refusing a file in two.

    Example: segstats merge shard-*.json -o stats.json
    """
    from segstats.errors import UsageError
    from segstats.stats import DatasetStats, merge_stats
    from segstats.writers import write_output

    tables = [name.lower().endswith(TABLE_SUFFIXES) for name in [*documents, output]]
    if all(tables):
        from segstats.table.scanning import merge_tables

        rows = merge_tables(documents, output)
        messages.info(f"merged {plural(len(documents), 'table')}: {plural(rows, 'row')}; wrote {output}")
        return
    if any(tables):
        raise UsageError("merge either statistics documents (.json) or per-image tables, not both")
    refuse_non_json(output)
    parts = [DatasetStats.load(path) for path in documents]
    merged = merge_stats(parts, documents)
    write_output(output, merged.to_dict())
    messages.info(
        f"merged {plural(len(parts), 'document')}: {plural(merged.num_images, 'image')}, "
        f"{plural(merged.total_pixels, 'pixel')}; wrote {destination(output)}"
    )
