"""``segstats scan``: count the label images and write the statistics document."""

from __future__ import annotations

from segstats.cli._common import (
    FileListArgs,
    LabelArgs,
    OutputOpt,
    PathsArg,
    ReadArgs,
    SkipStrictOpt,
    TableArgs,
    destination,
    exit_if_strict,
    refuse_no_paths,
    refuse_non_json,
    scan_labels,
)
from segstats.cli._console import Messages


def scan_command(
    paths: PathsArg = None,
    *,
    output: OutputOpt = ...,  # type: ignore[assignment]
    labels: LabelArgs,
    read: ReadArgs,
    table: TableArgs,
    file_list: FileListArgs,
    strict: SkipStrictOpt = False,
    messages: Messages,
) -> None:
    """Count pixels and images per class and write the statistics document (-o - prints it).

    Example: segstats scan ./labels --num-classes 19 --ignore-index 255 -o stats.json
    """
    from segstats.writers import write_output

    refuse_non_json(output)
    refuse_no_paths(paths, file_list)
    stats = scan_labels(messages, paths, labels, read, file_list=file_list, refuse_empty=True, table=table)
    write_output(output, stats.to_dict())
    messages.info(f"wrote {destination(output)}")
    exit_if_strict(strict, stats)
