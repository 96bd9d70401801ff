"""``segstats audit``: class balance as a table and findings (or JSON), optionally a plot."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from segstats.choices import SortKey
from segstats.cli._common import (
    FileListArgs,
    JobsOpt,
    LabelArgs,
    PathsArg,
    ReadArgs,
    choice_option,
    markup_free,
    refuse_no_paths,
    require_module,
    require_read_extras,
    scan_labels,
)
from segstats.cli._console import Messages

if TYPE_CHECKING:
    from segstats.audit import AuditReport, ClassRow
    from segstats.stats import DatasetStats

# Width of the audit report when stdout is not a terminal.
REPORT_WIDTH = 120
# Exit code of --strict when the audit found warnings (contract).
EXIT_WARNINGS = 1

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the audit as one JSON document on stdout.")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Exit 1 when there are warnings.")]
AgainstOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--against",
        help="Another split (e.g. val) to compare with; repeat for several paths.",
        show_default=False,
    ),
]
# Bad files never stop an audit; the flag is accepted so that scripts can pass it everywhere.
AlwaysSkipOpt = Annotated[
    bool, typer.Option("--skip-errors", hidden=True, help="Always on for audit (accepted, no effect).")
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
    jobs: JobsOpt = None,
    skip_errors: AlwaysSkipOpt = True,
    plot: PlotOpt = None,
    sort: SortOpt = "id",
    limit: LimitOpt = None,
    file_list: FileListArgs,
    messages: Messages,
) -> None:
    """Audit class balance: a summary line, a per-class table, then one warning line per finding.

    Bad files do not stop the audit: they are skipped and reported as findings.
    The table and findings go to stdout; exit 1 with --strict when there are warnings.

    Example: segstats audit ./train --ignore-index 255 --class-names names.txt --against ./val

    Example: segstats audit ./ade20k --sort share --limit 20 --plot imbalance.png
    """
    import json

    from segstats.audit import audit, limit_rows, sort_rows

    refuse_no_paths(paths, file_list)
    sort_rows([], sort)  # refuse a bad --sort before scanning
    if plot is not None:
        from segstats.plot import PLOT_EXTRA_HINT, plot_format

        plot_format(plot)
        require_module("matplotlib", f"--plot {plot}", PLOT_EXTRA_HINT)
    read = ReadArgs(jobs=jobs, skip_errors=True)
    require_read_extras([*(paths or []), *(against or [])], read)  # before either split is read
    # the label notes are findings of the report (void-as-class, ...), not stderr lines
    stats = scan_labels(messages, paths, labels, read, file_list=file_list, list_errors=False, notes=False)
    other = scan_labels(messages, against, labels, read, list_errors=False, notes=False) if against else None
    label = ", ".join([*(paths or []), *([file_list.files_from] if file_list.files_from else [])])
    report = audit(stats, against=other, label=label, against_label=", ".join(against or []))
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
    if strict and report.warnings:
        raise typer.Exit(EXIT_WARNINGS)


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
