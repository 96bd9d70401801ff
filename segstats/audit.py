"""The imbalance audit as data: per-class rows, findings, and a comparison of two splits.

:func:`audit` is a pure function of :class:`~segstats.stats.DatasetStats`; it
prints nothing. ``segstats.report`` renders an :class:`AuditReport` as a rich
table and warning lines; ``AuditReport.to_dict`` is the ``--json`` document.

Findings (``Finding.code``), each a warning unless noted:

- ``absent-class``: classes with no pixel at all (their weight is 0.0), one finding.
- ``void-as-class``: no ignore index and the last class is 255, the usual void
  label: probably a missing ``--ignore-index 255`` (with only 255 and one other
  value seen, binary masks are the other reading); text from :mod:`segstats.notes`.
- ``ignore-in-range`` (info): the ignore index is one of the classes 0..K-1, so
  that class has no pixels (and is not listed as absent).
- ``rare-class``: a class in fewer than ``RARE_IMAGE_FRACTION`` (1%) of the images.
- ``dominant-class``: a class with more than ``DOMINANT_SHARE`` (50%) of the labelled pixels.
- ``imbalance-ratio``: largest / smallest share among present classes; a warning
  above ``IMBALANCE_RATIO_LIMIT`` (100), otherwise a note (severity ``info``).
- ``unknown-values``: files holding values that are neither a class nor ignored
  (skipped, not counted).
- ``unreadable-files``: files that could not be read or decoded (skipped).
- ``mixed-sizes`` / ``mixed-modes``: the images do not all share one size / mode.
- ``missing-from-split``: with ``against``, a class present in one split only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from segstats._version import __version__
from segstats.errors import UsageError
from segstats.labels import UNKNOWN_LABEL_PREFIX
from segstats.notes import absent_classes, label_notes
from segstats.stats import DatasetStats
from segstats.weights import DEFAULT_METHOD, compute_weights, method_options

# A class in fewer than this fraction of the images is reported as rare.
RARE_IMAGE_FRACTION = 0.01
# A class with more than this share of the labelled pixels is reported as dominant.
DOMINANT_SHARE = 0.5
# Largest/smallest class share above which the ratio is a warning, not a note.
IMBALANCE_RATIO_LIMIT = 100.0
# Files named in one finding's message (all of them are in the JSON).
MAX_FILES_IN_MESSAGE = 3
# Classes named in one finding's message (all of them are in the JSON).
MAX_CLASSES_IN_MESSAGE = 10
# Severities: warnings make `audit --strict` exit 1; notes never do.
WARNING = "warning"
INFO = "info"
# `audit --sort` keys: class id (ascending), pixel share and images (both descending).
SORT_KEYS = ("id", "share", "images")


@dataclass(frozen=True)
class ClassRow:
    """One class of the audit table (shares are fractions in [0, 1])."""

    class_id: int
    name: str | None
    pixels: int
    pixel_share: float
    images: int
    image_share: float
    image_pixels: int
    weight: float

    @property
    def label(self) -> str:
        """``"3"`` or ``"3 (car)"`` for messages."""
        return f"{self.class_id}" + (f" ({self.name})" if self.name else "")


@dataclass(frozen=True)
class Finding:
    """One thing worth a warning line. ``classes`` / ``files`` say what it is about."""

    code: str
    severity: str
    message: str
    classes: tuple[int, ...] = ()
    files: tuple[Mapping[str, str], ...] = ()
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "classes": list(self.classes),
            "files": [dict(f) for f in self.files],
            "value": self.value,
        }


@dataclass(frozen=True)
class SplitRow:
    """One class's share of the labelled pixels in each of two splits."""

    class_id: int
    name: str | None
    share: float
    other_share: float

    @property
    def difference(self) -> float:
        return self.other_share - self.share


@dataclass(frozen=True)
class SplitComparison:
    """Two splits side by side (e.g. train vs val).

    ``js_divergence`` is the Jensen-Shannon divergence of the two class-share
    distributions in bits (log base 2), so it lies in [0, 1]: 0 for identical
    shares, 1 for splits with no class in common. None when a split has no
    labelled pixel.
    """

    label: str
    other_label: str
    rows: list[SplitRow]
    only_in_first: list[int]
    only_in_second: list[int]
    js_divergence: float | None
    num_images: int
    other_num_images: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "other_label": self.other_label,
            "num_images": self.num_images,
            "other_num_images": self.other_num_images,
            "js_divergence": self.js_divergence,
            "js_divergence_log_base": 2,
            "only_in_first": self.only_in_first,
            "only_in_second": self.only_in_second,
            "classes": [asdict(row) for row in self.rows],
        }


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

    @property
    def warnings(self) -> list[Finding]:
        """The findings that make ``--strict`` exit 1."""
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def labelled_pixels(self) -> int:
        return sum(row.pixels for row in self.rows)

    @property
    def summary(self) -> AuditSummary:
        """Classes present, the imbalance ratio and the rarest class, for the first line."""
        return summarize(self.rows, self.num_classes)

    def to_dict(self, rows: Sequence[ClassRow] | None = None) -> dict[str, Any]:
        """The ``segstats audit --json`` document (``rows``: the classes in the order to list them)."""
        return {
            "segstats_version": __version__,
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "num_images": self.num_images,
            "total_pixels": self.total_pixels,
            "ignored_pixels": self.ignored_pixels,
            "weights": {"method": self.weight_method, "options": method_options(self.weight_method)},
            "summary": self.summary.to_dict(),
            "classes": [asdict(row) for row in (self.rows if rows is None else rows)],
            "findings": [f.to_dict() for f in self.findings],
            "image_sizes": dict(self.image_sizes),
            "image_modes": dict(self.image_modes),
            "errors": list(self.errors),
            "against": self.comparison.to_dict() if self.comparison is not None else None,
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


# ----------------------------------------------------------------- arithmetic
def jensen_shannon(p: npt.ArrayLike, q: npt.ArrayLike) -> float:
    """Jensen-Shannon divergence of two distributions, in bits (log base 2).

    ``JS(p, q) = KL(p || m) / 2 + KL(q || m) / 2`` with ``m = (p + q) / 2`` and
    ``KL(a || b) = sum a_i log2(a_i / b_i)`` (terms with ``a_i = 0`` are 0).
    Lin, "Divergence measures based on the Shannon entropy", IEEE Trans. Inf.
    Theory, 1991. With base 2 the result lies in [0, 1].

    Both inputs are normalised to sum to 1 first.
    """
    a = np.asarray(p, dtype=np.float64)
    b = np.asarray(q, dtype=np.float64)
    a, b = a / a.sum(), b / b.sum()
    m = (a + b) / 2

    def kl(x: npt.NDArray[np.float64]) -> float:
        nonzero = x > 0
        return float(np.sum(x[nonzero] * np.log2(x[nonzero] / m[nonzero])))

    return min(1.0, max(0.0, (kl(a) + kl(b)) / 2))


def pad_classes(stats: DatasetStats, num_classes: int) -> DatasetStats:
    """``stats`` with zero counts appended up to ``num_classes`` (for inferred K)."""
    extra = num_classes - stats.num_classes
    if extra <= 0:
        return stats
    zeros = np.zeros(extra, dtype=np.int64)
    return DatasetStats(
        num_classes=num_classes,
        ignore_index=stats.ignore_index,
        num_images=stats.num_images,
        total_pixels=stats.total_pixels,
        ignored_pixels=stats.ignored_pixels,
        pixel_counts=np.concatenate([stats.pixel_counts, zeros]),
        image_counts=np.concatenate([stats.image_counts, zeros]),
        image_pixels=np.concatenate([stats.image_pixels, zeros]),
        class_names=stats.class_names,
        errors=stats.errors,
        image_sizes=stats.image_sizes,
        image_modes=stats.image_modes,
    )


def _name(names: Sequence[str] | None, index: int) -> str | None:
    return names[index] if names is not None and index < len(names) else None


def class_rows(stats: DatasetStats, method: str = DEFAULT_METHOD) -> list[ClassRow]:
    """One row per class: counts, shares of pixels and of images, and its weight."""
    weights = compute_weights(stats, method)
    share = stats.share
    images = max(stats.num_images, 1)
    return [
        ClassRow(
            class_id=c,
            name=_name(stats.class_names, c),
            pixels=int(stats.pixel_counts[c]),
            pixel_share=float(share[c]),
            images=int(stats.image_counts[c]),
            image_share=int(stats.image_counts[c]) / images,
            image_pixels=int(stats.image_pixels[c]),
            weight=float(weights[c]),
        )
        for c in range(stats.num_classes)
    ]


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.3g}%"


def _class_findings(stats: DatasetStats, rows: list[ClassRow]) -> list[Finding]:
    findings = []
    # the ignore index inside 0..K-1 has no pixels by construction: its own note says so
    absent = [rows[c] for c in absent_classes(stats)]
    if absent:
        shown = ", ".join(row.label for row in absent[:MAX_CLASSES_IN_MESSAGE])
        if len(absent) > MAX_CLASSES_IN_MESSAGE:
            shown += f", and {len(absent) - MAX_CLASSES_IN_MESSAGE:,} more"
        if len(absent) == 1:
            message = f"class {shown} is never seen (0 pixels; weight 0.0)"
        else:
            message = f"{len(absent):,} classes are never seen (0 pixels; weight 0.0): {shown}"
        findings.append(
            Finding(
                "absent-class",
                WARNING,
                message,
                tuple(row.class_id for row in absent),
                value=float(len(absent)),
            )
        )
    # void counted as a class, the ignore index in 0..K-1: the texts every scanning command shows
    findings += [Finding(n.code, n.severity, n.text, n.classes) for n in label_notes(stats)]
    for row in rows:
        if 0 < row.images < RARE_IMAGE_FRACTION * stats.num_images:
            findings.append(
                Finding(
                    "rare-class",
                    WARNING,
                    f"class {row.label} is in {row.images:,} of {stats.num_images:,} images "
                    f"({_percent(row.image_share)}), fewer than {_percent(RARE_IMAGE_FRACTION)}",
                    (row.class_id,),
                    value=row.image_share,
                )
            )
    for row in rows:
        if row.pixel_share > DOMINANT_SHARE:
            findings.append(
                Finding(
                    "dominant-class",
                    WARNING,
                    f"class {row.label} holds {_percent(row.pixel_share)} of the labelled pixels, "
                    f"more than {_percent(DOMINANT_SHARE)}",
                    (row.class_id,),
                    value=row.pixel_share,
                )
            )
    present = [row for row in rows if row.pixels > 0]
    if len(present) >= 2:
        largest = max(present, key=lambda r: r.pixels)
        smallest = min(present, key=lambda r: r.pixels)
        ratio = largest.pixels / smallest.pixels
        severity = WARNING if ratio > IMBALANCE_RATIO_LIMIT else INFO
        findings.append(
            Finding(
                "imbalance-ratio",
                severity,
                f"largest/smallest class share ratio is {ratio:,.1f} "
                f"(class {largest.label} {_percent(largest.pixel_share)}, "
                f"class {smallest.label} {_percent(smallest.pixel_share)})"
                + (f"; above {IMBALANCE_RATIO_LIMIT:g}" if severity == WARNING else ""),
                (largest.class_id, smallest.class_id),
                value=ratio,
            )
        )
    return findings


def _file_finding(code: str, verbs: tuple[str, str], problems: list[dict[str, str]], where: str) -> Finding:
    shown = "; ".join(f"{p['path']}: {p['error']}" for p in problems[:MAX_FILES_IN_MESSAGE])
    if len(problems) > MAX_FILES_IN_MESSAGE:
        shown += f"; and {len(problems) - MAX_FILES_IN_MESSAGE:,} more"
    count = len(problems)
    subject = "1 file" if count == 1 else f"{count:,} files"
    verb = verbs[0] if count == 1 else verbs[1]
    message = f"{subject}{where} {verb} (skipped, not counted): {shown}"
    return Finding(code, WARNING, message, files=tuple(problems), value=float(count))


def _error_findings(errors: list[dict[str, str]], where: str = "") -> list[Finding]:
    unknown = [e for e in errors if e.get("error", "").startswith(UNKNOWN_LABEL_PREFIX)]
    unreadable = [e for e in errors if not e.get("error", "").startswith(UNKNOWN_LABEL_PREFIX)]
    findings = []
    if unknown:
        verbs = ("holds unknown label values", "hold unknown label values")
        findings.append(_file_finding("unknown-values", verbs, unknown, where))
    if unreadable:
        verbs = ("could not be read", "could not be read")
        findings.append(_file_finding("unreadable-files", verbs, unreadable, where))
    return findings


def _mixed(code: str, what: str, counts: Mapping[str, int]) -> list[Finding]:
    if len(counts) <= 1:
        return []
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{key} ({count:,})" for key, count in ordered[:5])
    if len(ordered) > 5:
        shown += f", and {len(ordered) - 5} more"
    return [Finding(code, WARNING, f"images have {len(counts)} different {what}: {shown}", value=len(counts))]


def compare_splits(
    stats: DatasetStats, other: DatasetStats, label: str = "first", other_label: str = "second"
) -> SplitComparison:
    """Per-class shares of two splits, classes missing from one, and their JS divergence."""
    k = max(stats.num_classes, other.num_classes)
    first, second = pad_classes(stats, k), pad_classes(other, k)
    names = first.class_names or second.class_names
    rows = [SplitRow(c, _name(names, c), float(first.share[c]), float(second.share[c])) for c in range(k)]
    in_first, in_second = first.pixel_counts > 0, second.pixel_counts > 0
    divergence = (
        jensen_shannon(first.pixel_counts, second.pixel_counts)
        if in_first.any() and in_second.any()
        else None
    )
    return SplitComparison(
        label=label,
        other_label=other_label,
        rows=rows,
        only_in_first=[int(c) for c in np.flatnonzero(in_first & ~in_second)],
        only_in_second=[int(c) for c in np.flatnonzero(in_second & ~in_first)],
        js_divergence=divergence,
        num_images=first.num_images,
        other_num_images=second.num_images,
    )


def audit(
    stats: DatasetStats,
    *,
    against: DatasetStats | None = None,
    label: str = "audited split",
    against_label: str = "--against split",
    method: str = DEFAULT_METHOD,
) -> AuditReport:
    """Audit the class balance of ``stats`` (and compare with ``against``).

    Args:
        stats: the audited dataset (its ``errors``, ``image_sizes`` and
            ``image_modes`` feed the file findings; documents loaded from JSON
            have no sizes or modes).
        against: another split scanned with the same options (train vs val).
        label / against_label: how the two splits are named in messages.
        method: the weighting method of the table's weight column.

    Returns:
        An :class:`AuditReport`; nothing is printed.
    """
    if against is not None:
        k = max(stats.num_classes, against.num_classes)
        stats, against = pad_classes(stats, k), pad_classes(against, k)
    rows = class_rows(stats, method)
    findings = _class_findings(stats, rows)
    findings += _error_findings(stats.errors)
    findings += _mixed("mixed-sizes", "sizes", stats.image_sizes)
    findings += _mixed("mixed-modes", "modes", stats.image_modes)
    comparison = None
    if against is not None:
        comparison = compare_splits(stats, against, label, against_label)
        for ids, where, missing in (
            (comparison.only_in_first, label, against_label),
            (comparison.only_in_second, against_label, label),
        ):
            for c in ids:
                findings.append(
                    Finding(
                        "missing-from-split",
                        WARNING,
                        f"class {rows[c].label} is in the {where} but never in the {missing}",
                        (c,),
                    )
                )
        findings += _error_findings(against.errors, f" of the {against_label}")
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
    )
