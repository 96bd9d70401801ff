"""``segstats merge``: add statistics documents (shards, parts of a dataset)."""

from __future__ import annotations

from typing import Annotated

import typer

from segstats.cli._common import destination, refuse_non_json
from segstats.cli._console import Messages, plural

DocumentsArg = Annotated[list[str], typer.Argument(help="Statistics documents written by 'segstats scan'.")]
MergedOpt = Annotated[
    str, typer.Option("--output", "-o", help="The merged document to write (.json; - for stdout).")
]


def merge_command(
    documents: DocumentsArg,
    *,
    output: MergedOpt = ...,  # type: ignore[assignment]
    messages: Messages,
) -> None:
    """Add statistics documents (e.g. shards scanned on different machines).

    Example: segstats merge shard-*.json -o stats.json
    """
    from segstats.stats import DatasetStats, merge_stats
    from segstats.writers import write_output

    refuse_non_json(output)
    parts = [DatasetStats.load(path) for path in documents]
    merged = merge_stats(parts, documents)
    write_output(output, merged.to_dict())
    messages.info(
        f"merged {plural(len(parts), 'document')}: {plural(merged.num_images, 'image')}, "
        f"{plural(merged.total_pixels, 'pixel')}; wrote {destination(output)}"
    )
