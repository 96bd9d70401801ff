"""A picture of the class imbalance: ``segstats audit PATH... --plot imbalance.png``.

Three panels share one row per class (horizontal bars, names on the axis):

1. the class's share of the labelled pixels, on a log scale (shares of rare
   classes are orders of magnitude below the common ones);
2. the share of images that contain the class (linear, 0-100%);
3. the class's weight under the audit's method (median-frequency by default).

With a second split (``--against``) each panel holds two bars per class. The
figure grows with the number of classes (``ROW_HEIGHT`` inches a class), so 19
and 150 classes are both readable; ``--sort`` / ``--limit`` choose the rows.

matplotlib is an optional extra (``pip install 'segstats[plot]'``), imported
only here, lazily, and without pyplot: a bare ``Figure`` renders with the Agg
(PNG), SVG or PDF backend and leaves no global state behind.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

from segstats.audit import ClassRow
from segstats.errors import SegstatsError, UsageError
from segstats.writers import atomic_output

# File suffixes --plot accepts and the matplotlib format each one selects.
PLOT_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
# Height of one class row, in inches.
ROW_HEIGHT = 0.2
# Height of the title, axis labels and legend around the rows, in inches.
FRAME_HEIGHT = 1.6
# Smallest figure height, in inches (a 2-class plot still has room for its title).
MIN_HEIGHT = 2.8
# Figure width, in inches.
FIGURE_WIDTH = 11.0
# Resolution of PNG output.
DPI = 100
# Class labels longer than this are cut (with an ellipsis) on the axis.
MAX_LABEL_CHARS = 24
# Split names longer than this lose their beginning in the legend.
MAX_LEGEND_CHARS = 60
# Up to this many rows, each weight is also written as a number beside its bar.
ANNOTATE_ROWS = 40
# Bar colours of the audited split and of the --against split.
COLOURS = ("#3b6ea8", "#e08a2e")
# Colour of the text that marks a class with no pixels.
ABSENT_COLOUR = "#b0413e"
# matplotlib settings when saving: SVG text stays text (searchable, small), fixed SVG ids.
SAVE_SETTINGS = {"svg.fonttype": "none", "svg.hashsalt": "segstats"}
# The install hint when matplotlib is missing.
PLOT_EXTRA_HINT = "pip install 'segstats[plot]'"
INSTALL_HINT = f"--plot needs matplotlib: {PLOT_EXTRA_HINT}"


def plot_format(path: str) -> str:
    """The format of a ``--plot`` file from its suffix (refused before any scanning)."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in PLOT_FORMATS:
        raise UsageError(f"{path}: --plot writes .png, .svg or .pdf, not {suffix or '(no suffix)'!r}")
    return PLOT_FORMATS[suffix]


def figure_height(num_rows: int) -> float:
    """Figure height in inches for ``num_rows`` classes."""
    return max(MIN_HEIGHT, FRAME_HEIGHT + ROW_HEIGHT * num_rows)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shorten_left(text: str, limit: int) -> str:
    """Paths differ at their end: keep it."""
    return text if len(text) <= limit else "…" + text[len(text) - limit + 1 :]


def _axis_label(row: ClassRow) -> str:
    return _shorten(f"{row.class_id} {row.name}" if row.name else str(row.class_id), MAX_LABEL_CHARS)


def _figure() -> tuple[Any, Any]:
    try:
        from matplotlib import rc_context
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise SegstatsError(INSTALL_HINT) from exc
    return Figure, rc_context


def render_imbalance(
    rows: Sequence[ClassRow],
    fmt: str = "png",
    *,
    other_rows: Sequence[ClassRow] | None = None,
    labels: tuple[str, str] = ("audited split", "--against split"),
    method: str = "median-frequency",
    title: str = "",
) -> bytes:
    """The plot as bytes of ``fmt`` (png, svg or pdf).

    Args:
        rows: the classes to draw, top to bottom (from ``segstats.audit``).
        other_rows: the same classes in a second split (matched by class id).
        labels: legend names of the two splits.
        method: the weighting method, for the weight panel's axis label.
        title: the figure title.
    """
    figure_class, rc_context = _figure()
    splits: list[list[ClassRow]] = [list(rows)]
    if other_rows is not None:
        by_id = {row.class_id: row for row in other_rows}
        splits.append([by_id[row.class_id] for row in rows if row.class_id in by_id])
        if len(splits[1]) != len(splits[0]):
            raise ValueError("other_rows must hold every class of rows")
    count = len(rows)
    figure = figure_class(figsize=(FIGURE_WIDTH, figure_height(count)), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, 3, sharey=True)
    positions = list(range(count))
    bar = 0.8 / len(splits)
    font = 9 if count <= ANNOTATE_ROWS else 7

    shares = [100 * row.pixel_share for split in splits for row in split if row.pixels > 0]
    floor = min(shares) / 3 if shares else 1e-3
    for index, split in enumerate(splits):
        offsets = [p - 0.4 + bar * (index + 0.5) for p in positions]
        colour = COLOURS[index]
        name = _shorten_left(labels[index], MAX_LEGEND_CHARS) if len(splits) > 1 else None
        share = [max(100 * row.pixel_share, floor) - floor for row in split]
        axes[0].barh(offsets, share, height=bar, left=floor, color=colour, label=name)
        axes[1].barh(offsets, [100 * row.image_share for row in split], height=bar, color=colour)
        axes[2].barh(offsets, [row.weight for row in split], height=bar, color=colour)
        for y, row in zip(offsets, split, strict=True):
            if row.pixels == 0:
                axes[0].text(floor, y, " absent", va="center", fontsize=font, color=ABSENT_COLOUR)
            elif count <= ANNOTATE_ROWS:
                axes[2].text(row.weight, y, f" {row.weight:.3g}", va="center", fontsize=font)

    axes[0].set_xscale("log")
    axes[0].set_xlim(floor, 100 * 1.5)
    axes[0].set_title("share of labelled pixels (%, log scale)", fontsize=9)
    axes[1].set_xlim(0, 100)
    axes[1].set_title("images containing the class (%)", fontsize=9)
    axes[2].set_title(f"weight ({method})", fontsize=9)
    largest = max((row.weight for split in splits for row in split), default=0.0)
    axes[2].set_xlim(0, largest * 1.2 if largest > 0 else 1.0)
    axes[0].set_yticks(positions, [_axis_label(row) for row in rows], fontsize=font)
    axes[0].set_ylim(count - 0.5, -0.5)  # first row at the top
    for axis in axes:
        axis.grid(axis="x", color="#dddddd", linewidth=0.6)
        axis.set_axisbelow(True)
        # a tall figure gets its x scale at the top too, beside the panel titles
        axis.tick_params(axis="x", labelsize=8, top=count > ANNOTATE_ROWS, labeltop=count > ANNOTATE_ROWS)
    if len(splits) > 1:
        figure.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    if title:
        figure.suptitle(title, fontsize=10)
    buffer = io.BytesIO()
    metadata: dict[str, Any] = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt, {})
    with rc_context(SAVE_SETTINGS):
        figure.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()


def write_imbalance_plot(path: str, rows: Sequence[ClassRow], **options: Any) -> str:
    """Render the plot (format from ``path``'s suffix) and write it atomically; returns the format."""
    fmt = plot_format(path)
    payload = render_imbalance(rows, fmt, **options)
    with atomic_output(path) as handle:
        handle.write(payload)
    return fmt
