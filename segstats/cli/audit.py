"""``segstats audit``: class balance as a table and findings (or JSON), optionally a plot."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from segstats.choices import FindingKind, SortKey
from segstats.cli._common import (
    FileListArgs,
    LabelArgs,
    PathsArg,
    ReadArgs,
    choice_option,
    refuse_no_paths,
    require_module,
    require_read_extras,
    scan_labels,
)
from segstats.cli._console import Messages, markup_free

if TYPE_CHECKING:
    from segstats.audit import AuditReport, ClassRow
    from segstats.stats import DatasetStats

# Width of the audit report when stdout is not a terminal.
REPORT_WIDTH = 120
# Exit code of --strict when the audit found warnings (contract).
EXIT_WARNINGS = 1
# `--against X.json`: a statistics document rather than label files.
DOCUMENT_SUFFIX = ".json"

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the audit as one JSON document on stdout.")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Exit 1 when there are warnings.")]
AgainstOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--against",
        help="Another split (e.g. val) to compare with: label paths (repeat for several), or one "
        "STATS.json document written by 'segstats scan'.",
        show_default=False,
    ),
]
# Bad files never stop an audit; the flag is accepted so that scripts can pass it everywhere.
AlwaysSkipOpt = Annotated[
    bool, typer.Option("--skip-errors", hidden=True, help="Always on for audit (accepted, no effect).")
]


@dataclasses.dataclass(frozen=True)
class AuditReadArgs(ReadArgs):
    """scan's reading options (decoder, shard, backend, fetching, ...); bad files are always
    skipped and reported as findings, so --skip-errors is on and hidden."""

    skip_errors: AlwaysSkipOpt = True


FromStatsOpt = Annotated[
    str | None,
    typer.Option(
        "--from-stats",
        help="Audit a document written by 'segstats scan' instead of label PATHs; read no image "
        "(no sizes, modes or --examples).",
    ),
]
MaxImbalanceOpt = Annotated[
    float,
    typer.Option(
        "--max-imbalance",
        help="Largest/smallest class share above which the imbalance ratio is a warning (else a note).",
    ),
]
MinImageShareOpt = Annotated[
    float,
    typer.Option("--min-image-share", help="A class in fewer than this share of the images is rare."),
]
AllowOpt = Annotated[
    list[str] | None,
    choice_option(
        FindingKind,
        "--allow",
        lead="A finding kind (as named in --json) that --strict does not count; repeatable",
    ),
]
ExamplesOpt = Annotated[
    int | None,
    typer.Option(
        "--examples",
        help="Per class, the N files holding most of its pixels: shown for rare classes, all in "
        "--json (default 3; 0: none).",
        min=0,
        show_default=False,
    ),
]
PlotOpt = Annotated[
    str | None,
    typer.Option(
        "--plot",
        help=markup_free("Also draw the imbalance to FILE (.png, .svg, .pdf); needs segstats[plot]."),
    ),
]
SortOpt = Annotated[
    str,
    choice_option(
        SortKey,
        "--sort",
        lead="Order of the classes",
        notes={"share": "largest first", "images": "largest first"},
    ),
]
LimitOpt = Annotated[
    int | None,
    typer.Option(
        "--limit", help="Show the first N classes after sorting (-N: the last N; 0: all).", min=None
    ),
]


def audit_command(
    paths: PathsArg = None,
    *,
    labels: LabelArgs,
    json_output: JsonOpt = False,
    strict: StrictOpt = False,
    against: AgainstOpt = None,
    from_stats: FromStatsOpt = None,
    read: AuditReadArgs,
    plot: PlotOpt = None,
    sort: SortOpt = "id",
    limit: LimitOpt = None,
    max_imbalance: MaxImbalanceOpt = 100.0,
    min_image_share: MinImageShareOpt = 0.01,
    allow: AllowOpt = None,
    examples: ExamplesOpt = None,
    file_list: FileListArgs,
    messages: Messages,
) -> None:
    """Audit class balance: a summary line, a per-class table, then one warning line per finding.

    Bad files do not stop the audit: they are skipped and reported as findings.
    The table and findings go to stdout; exit 1 with --strict when there are warnings
    (but those of the --allow kinds).

    Example: segstats audit ./train --ignore-index 255 --class-names names.txt --against ./val

    Example: segstats audit ./ade20k --sort share --limit 20 --plot imbalance.png

    Example: segstats audit --from-stats train.json --against val.json --strict --allow mixed-modes
    """
    import json

    from segstats.audit import audit, limit_rows, sort_rows
    from segstats.errors import UsageError
    from segstats.findings import Thresholds, check_kinds
    from segstats.topfiles import DEFAULT_EXAMPLES, TopFiles

    # Refuse bad options before anything is read.
    if from_stats is not None and (paths or file_list.files_from is not None):
        raise UsageError("give either label PATHs or --from-stats, not both (--files-from lists label PATHs)")
    if from_stats is None:
        refuse_no_paths(paths, file_list, " or --from-stats STATS.json")
    sort_rows([], sort)
    Thresholds(max_imbalance, min_image_share)
    allowed = check_kinds(allow or [])
    against_document = against_document_of(against)
    if plot is not None:
        from segstats.plot import PLOT_EXTRA_HINT, plot_format

        plot_format(plot)
        require_module("matplotlib", f"--plot {plot}", PLOT_EXTRA_HINT)
    per_class = DEFAULT_EXAMPLES if examples is None else examples
    if from_stats is not None and examples:
        messages.note("--examples needs the label images; a --from-stats document has no per-image counts")
    if from_stats is not None and (against is None or against_document is not None):
        refuse_read_options(read)
    # the extras reading needs (fsspec, dask), before either split is read
    require_read_extras([*(paths or []), *(against if against and against_document is None else [])], read)
    top = TopFiles(per_class) if per_class and from_stats is None else None

    if from_stats is not None:
        stats = load_document(from_stats, labels, scanning=against is not None and against_document is None)
        label = from_stats
    else:
        on_rows = top.add_rows if top is not None else None
        stats = scan_labels(
            messages,
            paths or [],
            labels,
            read,
            file_list=file_list,
            list_errors=False,
            refuse_empty=True,
            notes=False,
            on_rows=on_rows,
        )
        label = ", ".join([*(paths or []), *([file_list.files_from] if file_list.files_from else [])])
    other = None
    if against_document is not None:
        other = load_document(against_document, labels, scanning=from_stats is None)
    elif against:
        other = scan_labels(
            messages, against, labels, read, list_errors=False, refuse_empty=True, notes=False
        )
    report = audit(
        stats,
        against=other,
        label=label,
        against_label=", ".join(against or []),
        max_imbalance=max_imbalance,
        min_image_share=min_image_share,
        allow=allowed,
        examples=top.result(stats.num_classes) if top is not None else None,
        examples_per_class=per_class if top is not None else None,
    )
    ordered = sort_rows(report.rows, sort)
    shown, hidden = limit_rows(ordered, limit)
    if plot is not None:
        write_plot(messages, plot, report, shown, other)
    if json_output:
        typer.echo(json.dumps(report.to_dict(rows=ordered), indent=2))
    else:
        from rich.console import Console

        from segstats.report import render_audit

        console = Console(no_color=bool(os.environ.get("NO_COLOR")), highlight=False, soft_wrap=True)
        if not console.is_terminal:
            console.width = REPORT_WIDTH  # a file or a pipe: do not squeeze the table to 80 columns
        render_audit(report, console, rows=shown, hidden=hidden)
    if strict and report.strict_warnings:
        raise typer.Exit(EXIT_WARNINGS)


def against_document_of(against: list[str] | None) -> str | None:
    """``--against STATS.json``: the path of one statistics document (None: label files);
    a document mixed with label paths, or several documents, is refused."""
    documents = [p for p in against or [] if p.lower().endswith(DOCUMENT_SUFFIX)]
    if not documents:
        return None
    if len(against or []) > 1:
        from segstats.errors import UsageError

        raise UsageError(
            "--against takes label paths or one STATS.json document, not several "
            "(merge documents first: segstats merge A.json B.json -o AB.json)"
        )
    return documents[0]


def refuse_read_options(read: ReadArgs) -> None:
    """No label image is read: options that only say how to read them are refused."""
    from segstats.errors import UsageError

    if read.shard is not None or read.scheduler is not None or read.backend != "local":
        raise UsageError("--shard, --backend and --scheduler apply to reading labels, not --from-stats")


def load_document(path: str, labels: LabelArgs, *, scanning: bool) -> DatasetStats:
    """A statistics document (``--from-stats``, ``--against X.json``), checked against the
    label options like ``weights --from-stats``. ``scanning``: label images are read too
    (the other split), so --colors / --map apply to those and are not refused here."""
    from segstats.cli.weights import stats_from_document

    if scanning:
        labels = dataclasses.replace(labels, colors=None, value_map=None, grey_rgb=False)
    return stats_from_document(path, labels, ReadArgs())


def write_plot(
    messages: Messages,
    path: str,
    report: AuditReport,
    rows: list[ClassRow],
    other: DatasetStats | None,
) -> None:
    """``audit --plot``: draw the rows shown (and the --against split beside them)."""
    from segstats.audit import class_rows, pad_classes
    from segstats.plot import write_imbalance_plot

    options: dict[str, Any] = {
        "method": report.weight_method,
        "title": f"{report.num_images:,} images, {report.num_classes} classes",
    }
    if other is not None and report.comparison is not None:
        options["other_rows"] = class_rows(pad_classes(other, report.num_classes), report.weight_method)
        options["labels"] = (report.comparison.label, report.comparison.other_label)
    write_imbalance_plot(path, rows, **options)
    messages.info(f"wrote {path}")
