"""``segstats weights``: class weights on stdout (one JSON array), optionally a file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from segstats.choices import Method, Normalize, WeightsFormat
from segstats.cli._common import (
    FileListArgs,
    LabelArgs,
    PathsArg,
    ReadArgs,
    SkipStrictOpt,
    TableArgs,
    choice_option,
    destination,
    exit_if_strict,
    refuse_no_paths,
    require_output_extras,
    scan_labels,
    warn_label_notes,
)
from segstats.cli._console import Messages

if TYPE_CHECKING:
    from segstats.stats import DatasetStats

MethodOpt = Annotated[str, choice_option(Method, "--method", "-m", lead="How counts become weights")]
WeightsOutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="Also write to FILE: .json (full document), .pt, .npy, .yaml; - for stdout, then no array.",
    ),
]
FromStatsOpt = Annotated[
    str | None,
    typer.Option("--from-stats", help="Compute from a document written by 'segstats scan'; read no images."),
]
NormalizeOpt = Annotated[
    str,
    choice_option(Normalize, "--normalize", notes={"mean": "present weights average 1", "sum": "sum to 1"}),
]
ClipOpt = Annotated[
    float | None, typer.Option("--clip", help="Largest weight allowed (applied after --normalize).")
]
EnetCOpt = Annotated[float, typer.Option("--enet-c", help="ENet's c in 1 / ln(c + p).")]
BetaOpt = Annotated[
    float | None,
    typer.Option(
        "--beta",
        help=(
            "effective-number's beta, 0 <= beta < 1. It acts on pixel counts: 1 - beta must be "
            "about 1 / (pixels of a class) to matter, e.g. 0.9999999 for 10 million pixels."
        ),
    ),
]
FormatOpt = Annotated[
    str | None,
    choice_option(
        WeightsFormat,
        "--format",
        lead="Output format (default: from the --output suffix; without --output, printed on stdout)",
    ),
]


def weights_command(
    paths: PathsArg = None,
    *,
    labels: LabelArgs,
    method: MethodOpt = "median-frequency",
    output: WeightsOutputOpt = None,
    from_stats: FromStatsOpt = None,
    normalize: NormalizeOpt = "none",
    clip: ClipOpt = None,
    enet_c: EnetCOpt = 1.02,
    beta: BetaOpt = None,
    fmt: FormatOpt = None,
    read: ReadArgs,
    table: TableArgs,
    file_list: FileListArgs,
    strict: SkipStrictOpt = False,
    messages: Messages,
) -> None:
    """Compute class weights and print them as one JSON array on stdout.

    Example: segstats weights ./labels --num-classes 19 --ignore-index 255 -o weights.pt
    """
    # Imported when the command runs: --help and the other commands load none of this.
    from segstats.notes import absent_classes_note
    from segstats.weights import compute_weights, method_options, weight_warnings
    from segstats.writers import STDOUT, weights_json_list, write_output

    options: dict[str, Any] = {"normalize": normalize, "clip": clip}
    if method == "enet":
        options["enet_c"] = enet_c
    if method == "effective-number":
        options["beta"] = beta
    recorded = method_options(method, **options)  # refuse bad weight options before scanning
    target, chosen = output_target(output, fmt)  # refuse a bad suffix or missing torch before scanning
    stats = weights_input(messages, paths, from_stats, labels, read, file_list, table)
    weights = compute_weights(stats, method, **options)
    absent = absent_classes_note(stats)
    if absent is not None:
        messages.warn(absent.text)
    for text in weight_warnings(method, weights, stats.present):
        messages.warn(text)
    if target is not None:
        block = {"method": method, "values": [float(w) for w in weights], "options": recorded}
        write_output(target, stats.to_dict(weights=block), weights, fmt)
        messages.info(f"wrote {destination(target)} ({chosen})")
    if target != STDOUT:  # stdout holds exactly one thing: the array, or the chosen format
        typer.echo(weights_json_list(weights))
    exit_if_strict(strict, stats)


def output_target(output: str | None, fmt: str | None) -> tuple[str | None, str | None]:
    """``(where to write, the format)``, checked before anything is read.

    ``--format F`` without ``--output`` prints F on stdout (the same as ``-o - --format F``);
    a binary format (.pt, .npy) is refused when stdout is a terminal.

    Raises:
        UsageError: a bad suffix or format; binary data for a terminal; torch missing for .pt.
    """
    from segstats.errors import UsageError
    from segstats.writers import BINARY_FORMATS, STDOUT, format_for

    if output is None and fmt is None:
        return None, None
    target = STDOUT if output is None else output
    chosen = format_for(target, fmt)
    if target == STDOUT and chosen in BINARY_FORMATS and stdout_is_terminal():
        raise UsageError(
            f"--format {chosen} is binary and stdout is a terminal: redirect it "
            f"(> weights.{chosen}), pipe it, or write a file with -o weights.{chosen}"
        )
    require_output_extras(target, chosen)
    return target, chosen


def stdout_is_terminal() -> bool:
    import sys

    return sys.stdout.isatty()


def weights_input(
    messages: Messages,
    paths: list[str] | None,
    from_stats: str | None,
    labels: LabelArgs,
    read: ReadArgs,
    file_list: FileListArgs,
    table: TableArgs | None = None,
) -> DatasetStats:
    """The statistics to weigh: a scan of ``paths`` (and --files-from), or the ``--from-stats`` document."""
    from segstats.errors import UsageError

    if from_stats is not None:
        if paths or file_list.given:
            raise UsageError("give either label PATHs (or --files-from) or --from-stats, not both")
        if table is not None and (table.per_image is not None or table.incremental):
            raise UsageError("--per-image and --incremental apply to reading labels, not --from-stats")
        stats = stats_from_document(from_stats, labels, read)
        warn_label_notes(messages, stats)
        return stats
    refuse_no_paths(paths, file_list, " or --from-stats STATS.json")
    return scan_labels(messages, paths, labels, read, file_list=file_list, refuse_empty=True, table=table)


def stats_from_document(path: str, labels: LabelArgs, read: ReadArgs) -> DatasetStats:
    """``--from-stats``: the document, with the label options checked against it.

    --num-classes / --ignore-index must agree with the document; --class-names
    replaces its names; options for reading label images are refused.
    """
    from segstats.errors import UsageError
    from segstats.labels import load_class_names
    from segstats.stats import DatasetStats

    if read.shard is not None or read.scheduler is not None or read.backend != "local":
        raise UsageError("--shard, --backend and --scheduler apply to reading labels, not --from-stats")
    stats = DatasetStats.load(path)
    if labels.colors is not None or labels.value_map is not None:
        raise UsageError("--colors and --map apply when reading label images, not with --from-stats")
    if labels.class_names is not None:
        names = load_class_names(labels.class_names)
        if len(names) != stats.num_classes:
            raise UsageError(f"{len(names)} class names given for {stats.num_classes} classes")
        stats.class_names = names
    for flag, given, stored in (
        ("--num-classes", labels.num_classes, stats.num_classes),
        ("--ignore-index", labels.ignore_index, stats.ignore_index),
    ):
        if given is not None and given != stored:
            raise UsageError(f"{flag} {given} differs from {stored} in {path}")
    return stats
