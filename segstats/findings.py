"""The audit's findings: what is worth a warning line, as data.

Every finding has a kind (``Finding.code``, listed in :data:`FINDING_KINDS`, as
named in ``audit --json`` and taken by ``--allow KIND``) and a severity:
``warning`` (``--strict`` exits 1, unless the kind is allowed) or ``info`` (a
note, never counted). The thresholds are :class:`Thresholds` (``--max-imbalance``,
``--min-image-share``). ``segstats.audit`` calls the builders below.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from segstats.errors import UsageError
from segstats.labels import UNKNOWN_LABEL_PREFIX
from segstats.notes import absent_classes, id_runs, label_notes

if TYPE_CHECKING:
    from segstats.audit import ClassRow
    from segstats.stats import DatasetStats

# Severities: warnings make `audit --strict` exit 1; notes never do.
WARNING = "warning"
INFO = "info"

# Every kind of finding, in the order they are listed; `--allow KIND` takes these names.
FINDING_KINDS: dict[str, str] = {
    "absent-class": "classes with no pixel at all (their weight is 0.0)",
    "void-as-class": "no --ignore-index and value 255 counted as the last class",
    "ignore-in-range": "the ignore index is one of the classes 0..K-1, so it has no pixels (a note)",
    "rare-class": "a class in fewer than --min-image-share of the images",
    "dominant-class": "a class with more than half of the labelled pixels",
    "imbalance-ratio": "largest/smallest class share; a warning above --max-imbalance, else a note",
    "unknown-values": "files holding values that are neither a class nor ignored (skipped)",
    "unreadable-files": "files that could not be read or decoded (skipped)",
    "mixed-sizes": "the images do not all share one size (a note: VOC, ADE20K are always mixed)",
    "mixed-modes": "the images do not all share one mode (L, P, I;16, ...)",
    "missing-from-split": "with --against: classes of one split missing from the other",
}

# Defaults of the thresholds (contract: --max-imbalance 100, --min-image-share 0.01).
DEFAULT_MAX_IMBALANCE = 100.0
DEFAULT_MIN_IMAGE_SHARE = 0.01
# A class with more than this share of the labelled pixels is reported as dominant.
DEFAULT_DOMINANT_SHARE = 0.5
# Files named in one finding's message (all of them are in the JSON).
MAX_FILES_IN_MESSAGE = 3
# Classes (or runs of consecutive classes) named in one finding's message (all are in the JSON).
MAX_CLASSES_IN_MESSAGE = 10


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
class Thresholds:
    """When a class is rare, dominant, or the imbalance a warning (recorded in ``--json``).

    ``max_imbalance``: largest/smallest share above which the ratio is a warning (>= 1);
    ``min_image_share``: a class in fewer than this share of the images is rare (0..1);
    ``dominant_share``: a class above this share of the labelled pixels is dominant (0..1).
    """

    max_imbalance: float = DEFAULT_MAX_IMBALANCE
    min_image_share: float = DEFAULT_MIN_IMAGE_SHARE
    dominant_share: float = DEFAULT_DOMINANT_SHARE

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_imbalance) and self.max_imbalance >= 1):
            raise UsageError(
                f"--max-imbalance must be a finite ratio >= 1, got {self.max_imbalance:g} "
                "(to never count the ratio, use --allow imbalance-ratio)"
            )
        for flag, value in (
            ("--min-image-share", self.min_image_share),
            ("dominant_share", self.dominant_share),
        ):
            if not (math.isfinite(value) and 0 <= value <= 1):
                raise UsageError(f"{flag} must be a fraction between 0 and 1, got {value:g}")

    def to_dict(self) -> dict[str, float]:
        return {
            "max_imbalance": self.max_imbalance,
            "min_image_share": self.min_image_share,
            "dominant_share": self.dominant_share,
        }


def check_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    """``--allow`` values, checked: each must be a finding kind (duplicates dropped)."""
    checked: list[str] = []
    for kind in kinds:
        if kind not in FINDING_KINDS:
            kinds_list = ", ".join(FINDING_KINDS)
            raise UsageError(f"--allow: unknown finding kind {kind!r}; the kinds are: {kinds_list}")
        if kind not in checked:
            checked.append(kind)
    return tuple(checked)


def compress_ids(ids: Sequence[int], limit: int = MAX_CLASSES_IN_MESSAGE) -> str:
    """``[3, 7, 12, 13, 14]`` -> ``"3, 7, 12-14"``: runs of consecutive ids as ranges,
    at most ``limit`` items, then ``", and N more"`` (N classes).

    >>> compress_ids([3, 7, 12, 13, 14, 20, 21])
    '3, 7, 12-14, 20-21'
    >>> compress_ids([1, 3, 5, 6, 7], limit=2)
    '1, 3, and 3 more'
    """
    runs = id_runs(ids)
    shown = runs[:limit]
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in shown)
    rest = sum(b - a + 1 for a, b in runs[limit:])
    return text + (f", and {rest:,} more" if rest else "")


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.3g}%"


def _absent(rows: Sequence[ClassRow], stats: DatasetStats) -> list[Finding]:
    # the ignore index inside 0..K-1 has no pixels by construction: its own note says so
    absent = [rows[c] for c in absent_classes(stats)]
    if not absent:
        return []
    shown = ", ".join(row.label for row in absent[:MAX_CLASSES_IN_MESSAGE])
    if len(absent) > MAX_CLASSES_IN_MESSAGE:
        shown += f", and {len(absent) - MAX_CLASSES_IN_MESSAGE:,} more"
    if len(absent) == 1:
        message = f"class {shown} is never seen (0 pixels; weight 0.0)"
    else:
        message = f"{len(absent):,} classes are never seen (0 pixels; weight 0.0): {shown}"
    return [Finding("absent-class", WARNING, message, tuple(r.class_id for r in absent), value=len(absent))]


def class_findings(rows: Sequence[ClassRow], stats: DatasetStats, thresholds: Thresholds) -> list[Finding]:
    """Absent, rare and dominant classes, the imbalance ratio, and the label notes of
    :mod:`segstats.notes` (void counted as a class, the ignore index in 0..K-1)."""
    num_images = stats.num_images
    findings = _absent(rows, stats)
    # the texts every scanning command shows, as findings here
    findings += [Finding(n.code, n.severity, n.text, n.classes) for n in label_notes(stats)]
    for row in rows:
        if 0 < row.images < thresholds.min_image_share * num_images:
            findings.append(
                Finding(
                    "rare-class",
                    WARNING,
                    f"class {row.label} is in {row.images:,} of {num_images:,} images "
                    f"({_percent(row.image_share)}), fewer than {_percent(thresholds.min_image_share)}",
                    (row.class_id,),
                    value=row.image_share,
                )
            )
    for row in rows:
        if row.pixel_share > thresholds.dominant_share:
            findings.append(
                Finding(
                    "dominant-class",
                    WARNING,
                    f"class {row.label} holds {_percent(row.pixel_share)} of the labelled pixels, "
                    f"more than {_percent(thresholds.dominant_share)}",
                    (row.class_id,),
                    value=row.pixel_share,
                )
            )
    present = [row for row in rows if row.pixels > 0]
    if len(present) >= 2:
        largest = max(present, key=lambda r: r.pixels)
        smallest = min(present, key=lambda r: r.pixels)
        ratio = largest.pixels / smallest.pixels
        severity = WARNING if ratio > thresholds.max_imbalance else INFO
        findings.append(
            Finding(
                "imbalance-ratio",
                severity,
                f"largest/smallest class share ratio is {ratio:,.1f} "
                f"(class {largest.label} {_percent(largest.pixel_share)}, "
                f"class {smallest.label} {_percent(smallest.pixel_share)})"
                + (f"; above {thresholds.max_imbalance:g}" if severity == WARNING else ""),
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


def error_findings(errors: list[dict[str, str]], where: str = "") -> list[Finding]:
    """Files with unknown values and unreadable files (``where``: e.g. ``" of the val"``)."""
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


def mixed_findings(image_sizes: Mapping[str, int], image_modes: Mapping[str, int]) -> list[Finding]:
    """Images of several sizes (a note: many datasets are) or several modes (a warning)."""
    findings = []
    for code, what, counts, severity in (
        ("mixed-sizes", "sizes", image_sizes, INFO),
        ("mixed-modes", "modes", image_modes, WARNING),
    ):
        if len(counts) <= 1:
            continue
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        shown = ", ".join(f"{key} ({count:,})" for key, count in ordered[:5])
        if len(ordered) > 5:
            shown += f", and {len(ordered) - 5} more"
        message = f"images have {len(counts)} different {what}: {shown}"
        findings.append(Finding(code, severity, message, value=len(counts)))
    return findings


def missing_from_split(
    rows: Sequence[ClassRow], ids: Sequence[int], where: str, missing: str
) -> list[Finding]:
    """One finding for the classes present in split ``where`` and never in ``missing``."""
    if not ids:
        return []
    if len(ids) == 1:
        message = f"class {rows[ids[0]].label} of {where} is missing from {missing}"
    else:
        message = f"{len(ids):,} classes of {where} are missing from {missing}: {compress_ids(ids)}"
    return [Finding("missing-from-split", WARNING, message, tuple(ids), value=len(ids))]
