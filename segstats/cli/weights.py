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
    choice_option,
    exit_if_strict,
    refuse_no_paths,
    scan_labels,
)
from segstats.cli._console import Messages

if TYPE_CHECKING:
    from segstats.stats import DatasetStats

MethodOpt = Annotated[str, choice_option(Method, "--method", "-m", lead="How counts become weights")]
WeightsOutputOpt = Annotated[
    str | None,
    typer.Option("--output", "-o", help="Also write to FILE: .json (full document), .pt, .npy, .yaml."),
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
BetaOpt = Annotated[float | None, typer.Option("--beta", help="effective-number's beta, 0 <= beta < 1.")]
FormatOpt = Annotated[
    str | None,
    choice_option(WeightsFormat, "--format", lead="Output format (default: from the --output suffix)"),
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
    file_list: FileListArgs,
    strict: SkipStrictOpt = False,
    messages: Messages,
) -> None:
    """Compute class weights and print them as one JSON array on stdout.

    Example: segstats weights ./labels --num-classes 19 --ignore-index 255 -o weights.pt
    """
    from segstats.errors import UsageError
    from segstats.weights import compute_weights, method_options
    from segstats.writers import format_for, weights_json_list, write_output

    options: dict[str, Any] = {"normalize": normalize, "clip": clip}
    if method == "enet":
        options["enet_c"] = enet_c
    if method == "effective-number":
        options["beta"] = beta
    recorded = method_options(method, **options)  # refuse bad weight options before scanning
    if output is not None:
        format_for(output, fmt)  # refuse a bad suffix before scanning
    elif fmt is not None:
        raise UsageError("--format needs --output FILE")
    if from_stats is not None:
        if paths or file_list.given:
            raise UsageError("give either label PATHs (or --files-from) or --from-stats, not both")
        stats = stats_from_document(from_stats, labels, read)
    else:
        refuse_no_paths(paths, file_list, " or --from-stats STATS.json")
        stats = scan_labels(messages, paths, labels, read, file_list=file_list, refuse_empty=True)
    weights = compute_weights(stats, method, **options)
    for index in stats.absent_classes:
        name = stats.class_name(index)
        label = f"class {index}" + (f" ({name})" if name != str(index) else "")
        messages.warn(f"{label} has no pixels; its weight is 0.0")
    if output is not None:
        block = {"method": method, "values": [float(w) for w in weights], "options": recorded}
        written = write_output(output, stats.to_dict(weights=block), weights, fmt)
        messages.info(f"wrote {output} ({written})")
    typer.echo(weights_json_list(weights))
    exit_if_strict(strict, stats)


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
