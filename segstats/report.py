"""Presentation of an :class:`~segstats.audit.AuditReport`: rich tables and warning lines.

No statistics are computed here; everything shown comes from the report (see
``segstats.audit``). Functions take the rows to show, so a caller can sort or
cut them first (``sorted(report.rows, key=lambda r: r.pixel_share)``).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from segstats.audit import WARNING, AuditReport, ClassRow
from segstats.compare import SplitComparison
from segstats.errors import printable

# Width of the share bar in characters.
BAR_WIDTH = 16
# Bar characters by eighths of a cell, from empty to full.
BAR_EIGHTHS = " ▏▎▍▌▋▊▉█"


def share_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A bar of ``fraction`` (0..1) of ``width`` cells; any non-zero fraction shows."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    if fraction > 0 and eighths == 0:
        eighths = 1
    full, rest = divmod(eighths, 8)
    return "█" * full + (BAR_EIGHTHS[rest] if rest else "")


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.2f}"


def class_table(report: AuditReport, rows: Sequence[ClassRow] | None = None) -> Table:
    """The per-class table; the bar is each class's pixel share relative to the largest."""
    shown = report.rows if rows is None else rows
    largest = max((row.pixel_share for row in report.rows), default=0.0)
    table = Table(
        title=(
            f"{report.num_images:,} images, {report.total_pixels:,} pixels "
            f"({report.ignored_pixels:,} ignored), {report.num_classes} classes"
        ),
        title_justify="left",
        caption=f"weight: {report.weight_method}; bar: pixel share relative to the largest class",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("name", overflow="fold")
    for header in ("pixels", "% pixels", "images", "% images", "weight"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("share", justify="left", no_wrap=True, min_width=BAR_WIDTH)
    for row in shown:
        absent = row.pixels == 0
        style = "yellow" if absent else None
        table.add_row(
            str(row.class_id),
            escape(printable(row.name or "")),
            f"{row.pixels:,}",
            _percent(row.pixel_share),
            f"{row.images:,}",
            _percent(row.image_share),
            "-" if absent else f"{row.weight:.4f}",
            share_bar(row.pixel_share / largest if largest > 0 else 0.0),
            style=style,
        )
    return table


def comparison_table(comparison: SplitComparison, class_ids: Sequence[int] | None = None) -> Table:
    """Per-class shares of two splits side by side (``class_ids``: the classes to show, in
    order, as in the class table; default all, by id)."""
    table = Table(
        title=(
            f"first: {comparison.label} ({comparison.num_images:,} images); "
            f"second: {comparison.other_label} ({comparison.other_num_images:,} images)"
        ),
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("% first", justify="right", no_wrap=True)
    table.add_column("% second", justify="right", no_wrap=True)
    table.add_column("difference", justify="right", no_wrap=True)
    for row in comparison.ordered(class_ids):
        missing = (row.share > 0) != (row.other_share > 0)
        table.add_row(
            str(row.class_id),
            escape(printable(row.name or "")),
            _percent(row.share),
            _percent(row.other_share),
            f"{100 * row.difference:+.2f}",
            style="yellow" if missing else None,
        )
    return table


def examples_table(report: AuditReport) -> Table | None:
    """The rare classes and the files holding most of their pixels (``--examples``), or
    None when no class is rare or no examples were collected."""
    rare = [row for row in report.rare_rows if row.examples]
    if not rare:
        return None
    table = Table(
        title="rare classes: the files holding most of their pixels",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("pixels", justify="right", no_wrap=True)
    table.add_column("file", overflow="fold")
    for row in rare:
        for index, example in enumerate(row.examples or ()):
            first = index == 0
            table.add_row(
                str(row.class_id) if first else "",
                escape(printable(row.name or "")) if first else "",
                f"{example.pixels:,}",
                escape(printable(example.path)),
            )
    return table


def divergence_line(comparison: SplitComparison) -> str:
    """One line with the Jensen-Shannon divergence of the two splits."""
    if comparison.js_divergence is None:
        return "Jensen-Shannon divergence: undefined (a split has no labelled pixel)"
    return (
        f"Jensen-Shannon divergence of the class shares: {comparison.js_divergence:.6f} "
        "(log base 2: 0 = identical, 1 = disjoint)"
    )


def summary_line(report: AuditReport) -> str:
    """``"3 of 3 classes present; imbalance ratio 111.5 ...; rarest: class 2 ..."``."""
    summary = report.summary
    text = f"{summary.classes_present} of {summary.num_classes} classes present"
    if summary.imbalance_ratio is not None:
        text += f"; imbalance ratio {summary.imbalance_ratio:,.1f} (largest/smallest pixel share)"
    rarest = summary.rarest
    if rarest is not None:
        text += (
            f"; rarest: class {rarest.label}, {100 * rarest.pixel_share:.3g}% of the pixels, "
            f"in {rarest.images:,} of {report.num_images:,} images"
        )
    return text


def _hidden_line(hidden: int) -> str:
    noun = "class" if hidden == 1 else "classes"
    return f"... {hidden:,} more {noun} (--limit 0 shows all)"


def render_audit(
    report: AuditReport, console: Console, rows: Sequence[ClassRow] | None = None, hidden: int = 0
) -> None:
    """Print the summary line, the table, the rare classes' files, the comparison (if any)
    and one line per finding.

    ``rows``: the classes to show, in order (default: all, by id); ``hidden``: how
    many were left out (``--limit``), said in one line under the table. The
    comparison shows the same classes in the same order.
    Use a console with ``soft_wrap=True`` so that each finding stays on one line.
    """
    console.print(summary_line(report), markup=False)
    console.print(class_table(report, rows))
    if hidden:
        console.print(_hidden_line(hidden), markup=False)
    examples = examples_table(report)
    if examples is not None:
        console.print(examples)
    if report.comparison is not None:
        class_ids = None if rows is None else [row.class_id for row in rows]
        console.print(comparison_table(report.comparison, class_ids))
        if hidden:
            console.print(_hidden_line(hidden), markup=False)
        console.print(divergence_line(report.comparison), markup=False)
    for finding in report.findings:
        if report.is_allowed(finding):
            console.print(f"[yellow]warning[/yellow] (allowed): {escape(printable(finding.message))}")
        elif finding.severity == WARNING:
            console.print(f"[yellow]warning:[/yellow] {escape(printable(finding.message))}")
        else:
            console.print(f"note: {escape(printable(finding.message))}")
    if not report.warnings:
        console.print("no warnings")
    elif not report.strict_warnings:
        kinds = ", ".join(dict.fromkeys(f.code for f in report.warnings))
        console.print(
            f"no warnings counted by --strict ({len(report.warnings):,} allowed: {kinds})", markup=False
        )
