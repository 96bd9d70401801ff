"""The imbalance audit as data: per-class rows, findings, and a comparison of two splits.

:func:`audit` is a pure function of :class:`~segstats.stats.DatasetStats`; it
prints nothing. ``segstats.report`` renders an :class:`AuditReport` as a rich
table and warning lines; ``AuditReport.to_dict`` is the ``--json`` document.
The findings (their kinds, severities and thresholds) are in
``segstats.findings``, the split comparison in ``segstats.compare``, the files
holding most of each class (``--examples``) in ``segstats.topfiles``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from segstats._version import __version__
from segstats.compare import SplitComparison, SplitRow, compare_splits, jensen_shannon, name_at, pad_classes
from segstats.errors import UsageError
from segstats.findings import (
    DEFAULT_DOMINANT_SHARE,
    DEFAULT_MAX_IMBALANCE,
    DEFAULT_MIN_IMAGE_SHARE,
    FINDING_KINDS,
    INFO,
    WARNING,
    Finding,
    Thresholds,
    check_kinds,
    class_findings,
    error_findings,
    missing_from_split,
    mixed_findings,
)
from segstats.stats import DatasetStats
from segstats.topfiles import FileExample, pad_examples
from segstats.weights import DEFAULT_METHOD, compute_weights, method_options

__all__ = [
    "FINDING_KINDS",
    "IMBALANCE_RATIO_LIMIT",
    "INFO",
    "RARE_IMAGE_FRACTION",
    "SORT_KEYS",
    "WARNING",
    "AuditReport",
    "AuditSummary",
    "ClassRow",
    "FileExample",
    "Finding",
    "SplitComparison",
    "SplitRow",
    "Thresholds",
    "audit",
    "class_rows",
    "compare_splits",
    "jensen_shannon",
    "limit_rows",
    "pad_classes",
    "sort_rows",
    "summarize",
]

# The default thresholds under their former names (``audit(max_imbalance=...)`` sets them).
RARE_IMAGE_FRACTION = DEFAULT_MIN_IMAGE_SHARE
DOMINANT_SHARE = DEFAULT_DOMINANT_SHARE
IMBALANCE_RATIO_LIMIT = DEFAULT_MAX_IMBALANCE
# `audit --sort` keys: class id (ascending), pixel share and images (both descending).
SORT_KEYS = ("id", "share", "images")


@dataclass(frozen=True)
class ClassRow:
    """One class of the audit table (shares are fractions in [0, 1]).

    ``examples``: the files holding most of the class's pixels, most first
    (``--examples``); None when they were not collected (``--from-stats``, ``--examples 0``).
    """

    class_id: int
    name: str | None
    pixels: int
    pixel_share: float
    images: int
    image_share: float
    image_pixels: int
    weight: float
    examples: tuple[FileExample, ...] | None = None

    @property
    def label(self) -> str:
        """``"3"`` or ``"3 (car)"`` for messages."""
        return f"{self.class_id}" + (f" ({self.name})" if self.name else "")


@dataclass
class AuditReport:
    """Everything ``segstats audit`` shows, as data (rows can be re-sorted or cut)."""

    num_classes: int
    ignore_index: int | None
    num_images: int
    total_pixels: int
    ignored_pixels: int
    rows: list[ClassRow]
    findings: list[Finding]
    image_sizes: dict[str, int] = field(default_factory=dict)
    image_modes: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    weight_method: str = DEFAULT_METHOD
    comparison: SplitComparison | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    allowed: tuple[str, ...] = ()
    examples_per_class: int | None = None

    @property
    def warnings(self) -> list[Finding]:
        """The findings of severity ``warning`` (allowed kinds included)."""
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def strict_warnings(self) -> list[Finding]:
        """The warnings that make ``--strict`` exit 1: those whose kind is not allowed."""
        return [f for f in self.warnings if f.code not in self.allowed]

    def is_allowed(self, finding: Finding) -> bool:
        """A warning that ``--strict`` does not count (``--allow KIND``)."""
        return finding.severity == WARNING and finding.code in self.allowed

    @property
    def rare_rows(self) -> list[ClassRow]:
        """The classes of the ``rare-class`` findings, by id."""
        rare = {c for f in self.findings if f.code == "rare-class" for c in f.classes}
        return [row for row in self.rows if row.class_id in rare]

    @property
    def labelled_pixels(self) -> int:
        return sum(row.pixels for row in self.rows)

    @property
    def summary(self) -> AuditSummary:
        """Classes present, the imbalance ratio and the rarest class, for the first line."""
        return summarize(self.rows, self.num_classes)

    def to_dict(self, rows: Sequence[ClassRow] | None = None) -> dict[str, Any]:
        """The ``segstats audit --json`` document (``rows``: the classes in the order to list
        them; the ``against`` classes follow the same order)."""
        listed = self.rows if rows is None else rows
        return {
            "segstats_version": __version__,
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "num_images": self.num_images,
            "total_pixels": self.total_pixels,
            "ignored_pixels": self.ignored_pixels,
            "weights": {"method": self.weight_method, "options": method_options(self.weight_method)},
            "thresholds": self.thresholds.to_dict(),
            "allow": list(self.allowed),
            "examples_per_class": self.examples_per_class,
            "summary": self.summary.to_dict(),
            "classes": [asdict(row) for row in listed],
            "findings": [{**f.to_dict(), "allowed": self.is_allowed(f)} for f in self.findings],
            "image_sizes": dict(self.image_sizes),
            "image_modes": dict(self.image_modes),
            "errors": list(self.errors),
            "against": (
                self.comparison.to_dict([row.class_id for row in listed])
                if self.comparison is not None
                else None
            ),
        }


@dataclass(frozen=True)
class AuditSummary:
    """The audit's first line: how many classes are present, how skewed, which is rarest.

    ``imbalance_ratio`` is the largest over the smallest pixel count among present
    classes (None with fewer than two); ``rarest`` is the present class with the
    fewest pixels (lowest id on ties), None when no class is present.
    """

    num_classes: int
    classes_present: int
    imbalance_ratio: float | None
    rarest: ClassRow | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "classes_present": self.classes_present,
            "imbalance_ratio": self.imbalance_ratio,
            "rarest_class": self.rarest.class_id if self.rarest is not None else None,
        }


def summarize(rows: Sequence[ClassRow], num_classes: int) -> AuditSummary:
    """The :class:`AuditSummary` of the audit rows."""
    present = [row for row in rows if row.pixels > 0]
    ratio = None
    if len(present) >= 2:
        ratio = max(row.pixels for row in present) / min(row.pixels for row in present)
    rarest = min(present, key=lambda row: (row.pixels, row.class_id)) if present else None
    return AuditSummary(num_classes, len(present), ratio, rarest)


def sort_rows(rows: Sequence[ClassRow], key: str = "id") -> list[ClassRow]:
    """The rows in ``--sort`` order: ``id`` ascending; ``share`` (pixels) and ``images``
    descending, ties broken by pixels then id, so the order is always the same."""
    if key == "id":
        return sorted(rows, key=lambda row: row.class_id)
    if key == "share":
        return sorted(rows, key=lambda row: (-row.pixels, row.class_id))
    if key == "images":
        return sorted(rows, key=lambda row: (-row.images, -row.pixels, row.class_id))
    raise UsageError(f"--sort must be one of {', '.join(SORT_KEYS)}, got {key!r}")


def limit_rows(rows: Sequence[ClassRow], limit: int | None) -> tuple[list[ClassRow], int]:
    """``--limit``: the first ``limit`` rows (the last ``-limit`` when negative; all for
    None or 0), and how many rows were left out."""
    if not limit:
        return list(rows), 0
    shown = list(rows[:limit]) if limit > 0 else list(rows[limit:])
    return shown, len(rows) - len(shown)


def class_rows(
    stats: DatasetStats,
    method: str = DEFAULT_METHOD,
    examples: Sequence[Sequence[FileExample]] | None = None,
) -> list[ClassRow]:
    """One row per class: counts, shares of pixels and of images, its weight (and the
    files holding most of it, from ``examples``)."""
    weights = compute_weights(stats, method)
    per_class = pad_examples(examples, stats.num_classes)
    share = stats.share
    images = max(stats.num_images, 1)
    return [
        ClassRow(
            class_id=c,
            name=name_at(stats.class_names, c),
            pixels=int(stats.pixel_counts[c]),
            pixel_share=float(share[c]),
            images=int(stats.image_counts[c]),
            image_share=int(stats.image_counts[c]) / images,
            image_pixels=int(stats.image_pixels[c]),
            weight=float(weights[c]),
            examples=per_class[c] if per_class is not None else None,
        )
        for c in range(stats.num_classes)
    ]


def audit(
    stats: DatasetStats,
    *,
    against: DatasetStats | None = None,
    label: str = "audited split",
    against_label: str = "--against split",
    method: str = DEFAULT_METHOD,
    max_imbalance: float = DEFAULT_MAX_IMBALANCE,
    min_image_share: float = DEFAULT_MIN_IMAGE_SHARE,
    dominant_share: float = DEFAULT_DOMINANT_SHARE,
    allow: Iterable[str] = (),
    examples: Sequence[Sequence[FileExample]] | None = None,
    examples_per_class: int | None = None,
) -> AuditReport:
    """Audit the class balance of ``stats`` (and compare with ``against``).

    Args:
        stats: the audited dataset (its ``errors``, ``image_sizes`` and
            ``image_modes`` feed the file findings; documents loaded from JSON
            have no sizes or modes).
        against: another split scanned with the same options (train vs val).
        label / against_label: how the two splits are named in messages.
        method: the weighting method of the table's weight column.
        max_imbalance: largest/smallest share above which ``imbalance-ratio`` is a
            warning (otherwise a note); ``>= 1``.
        min_image_share: a class in fewer than this share of the images is rare.
        dominant_share: a class above this share of the labelled pixels is dominant.
        allow: finding kinds (``FINDING_KINDS``) that ``strict_warnings`` leaves out.
        examples: per class, the files holding most of it
            (:func:`segstats.topfiles.top_files`); None: not collected.
        examples_per_class: the most examples a class could have (``--examples N``),
            recorded in the report (default: the longest list in ``examples``).

    Returns:
        An :class:`AuditReport`; nothing is printed.

    Raises:
        UsageError: a threshold out of range, or an unknown kind in ``allow``.
    """
    thresholds = Thresholds(max_imbalance, min_image_share, dominant_share)
    allowed = check_kinds(allow)
    if examples is not None and examples_per_class is None:
        examples_per_class = max((len(e) for e in examples), default=0)
    if against is not None:
        k = max(stats.num_classes, against.num_classes)
        stats, against = pad_classes(stats, k), pad_classes(against, k)
    rows = class_rows(stats, method, examples)
    findings = class_findings(rows, stats, thresholds)
    findings += error_findings(stats.errors)
    findings += mixed_findings(stats.image_sizes, stats.image_modes)
    comparison = None
    if against is not None:
        comparison = compare_splits(stats, against, label, against_label)
        findings += missing_from_split(rows, comparison.only_in_first, label, against_label)
        findings += missing_from_split(rows, comparison.only_in_second, against_label, label)
        findings += error_findings(against.errors, f" of the {against_label}")
    return AuditReport(
        num_classes=stats.num_classes,
        ignore_index=stats.ignore_index,
        num_images=stats.num_images,
        total_pixels=stats.total_pixels,
        ignored_pixels=stats.ignored_pixels,
        rows=rows,
        findings=findings,
        image_sizes=dict(stats.image_sizes),
        image_modes=dict(stats.image_modes),
        errors=list(stats.errors),
        weight_method=method,
        comparison=comparison,
        thresholds=thresholds,
        allowed=allowed,
        examples_per_class=examples_per_class,
    )
