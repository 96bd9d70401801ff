"""What the counts say about how the labels were read: one-line notes as data.

Every command that scans shows these (``scan`` and ``weights`` on stderr, ``audit``
among its findings), so each text is written here once; nothing here prints.

- ``void-as-class``: no ignore index, K = 256 and value 255 has pixels: VOC and
  Cityscapes use 255 for void, so probably a missing ``--ignore-index 255``. When
  the only values seen are 255 and one other, the masks may as well be binary
  with 255 as the foreground: the note gives both readings.
- ``ignore-in-range``: the ignore index is one of the classes ``0..K-1``; that class
  has no pixels because its pixels are ignored, not because the data lacks it.
- :func:`absent_classes_note`: the classes with no pixel (the ignore index left out
  when it is in range), as one line with the ids compressed into ranges, however
  many there are (a 16-bit mask without ``-k`` can leave 65,000 classes empty).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from segstats.stats import DatasetStats

# The usual void label (VOC, Cityscapes trainIds); as the last class it suggests a
# missing --ignore-index.
VOID_VALUE = 255
# Ranges of class ids shown in one message before "...".
MAX_RANGES_SHOWN = 4
# Severities, as the CLI prints them ("warning:" / "note:") and the audit records them.
WARNING = "warning"
NOTE = "info"


class LabelNote(NamedTuple):
    """One line about the label values: ``code`` names the kind (as in ``audit --json``)."""

    code: str
    severity: str
    text: str
    classes: tuple[int, ...] = ()


def id_runs(ids: Iterable[int]) -> list[tuple[int, int]]:
    """Distinct ids as runs of consecutive values ``(first, last)``, in order."""
    runs: list[tuple[int, int]] = []
    for value in sorted(set(ids)):
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def compress_ranges(ids: Sequence[int], max_ranges: int = MAX_RANGES_SHOWN) -> str:
    """Sorted class ids as ranges: at most ``max_ranges`` of them, then ``...``.

    >>> compress_ranges([2, 3, 4, 7, 9, 10])
    '2-4, 7, 9-10'
    >>> compress_ranges([1, 3, 5, 7, 9, 11], max_ranges=3)
    '1, 3, 5, ...'
    """
    runs = id_runs(ids)
    shown = [str(a) if a == b else f"{a}-{b}" for a, b in runs[:max_ranges]]
    if len(runs) > max_ranges:
        shown.append("...")
    return ", ".join(shown)


def _class_label(stats: DatasetStats, index: int) -> str:
    name = stats.class_name(index)
    return f"class {index}" + (f" ({name})" if name != str(index) else "")


def ignore_in_range(stats: DatasetStats) -> bool:
    """The ignore index is one of the classes ``0..K-1`` (so that class never has pixels)."""
    return stats.ignore_index is not None and 0 <= stats.ignore_index < stats.num_classes


def absent_classes(stats: DatasetStats) -> list[int]:
    """Classes with no pixel, without the ignore index (explained by its own note)."""
    ignored = stats.ignore_index if ignore_in_range(stats) else None
    return [c for c in stats.absent_classes if c != ignored]


def _void_note(stats: DatasetStats) -> LabelNote | None:
    if stats.ignore_index is not None or stats.num_classes != VOID_VALUE + 1:
        return None
    void_pixels = int(stats.pixel_counts[VOID_VALUE])
    if void_pixels == 0:
        return None
    seen = [int(c) for c in stats.present.nonzero()[0]]
    others = [c for c in seen if c != VOID_VALUE]
    if len(others) == 1:  # 0/255 (or x/255) masks: void, or a binary foreground
        mapping = json.dumps({str(others[0]): 0, str(VOID_VALUE): 1})
        text = (
            f"the only values seen are {others[0]} and {VOID_VALUE}, and {VOID_VALUE} was counted as "
            f"a class ({void_pixels:,} pixels): if {VOID_VALUE} is void, pass --ignore-index "
            f"{VOID_VALUE}; if these are binary masks with {VOID_VALUE} as foreground, pass "
            f"--map FILE with FILE holding {mapping}"
        )
    else:
        text = (
            f"value {VOID_VALUE} was counted as a class ({void_pixels:,} pixels); VOC/Cityscapes "
            f"use {VOID_VALUE} for void: pass --ignore-index {VOID_VALUE} if it is"
        )
    return LabelNote("void-as-class", WARNING, text, (VOID_VALUE,))


def label_notes(stats: DatasetStats) -> list[LabelNote]:
    """Notes on how the label values were read (void counted as a class, ignore index in range)."""
    notes = []
    void = _void_note(stats)
    if void is not None:
        notes.append(void)
    index = stats.ignore_index
    if index is not None and ignore_in_range(stats):
        notes.append(
            LabelNote(
                "ignore-in-range",
                NOTE,
                f"{_class_label(stats, index)} is the ignore index (--ignore-index {index}): "
                "its pixels are not counted, so it has none and its weight is 0.0",
                (index,),
            )
        )
    return notes


def absent_classes_note(stats: DatasetStats) -> LabelNote | None:
    """One line naming the classes with no pixel (weight 0.0), or None when there are none."""
    absent = absent_classes(stats)
    if not absent:
        return None
    if len(absent) == 1:
        text = f"{_class_label(stats, absent[0])} has no pixels; its weight is 0.0"
    else:
        text = (
            f"{len(absent):,} of {stats.num_classes:,} classes have no pixels (weight 0.0): "
            f"{compress_ranges(absent)}"
        )
    return LabelNote("absent-class", WARNING, text, tuple(absent))


__all__ = [
    "MAX_RANGES_SHOWN",
    "NOTE",
    "VOID_VALUE",
    "WARNING",
    "LabelNote",
    "absent_classes",
    "absent_classes_note",
    "compress_ranges",
    "id_runs",
    "ignore_in_range",
    "label_notes",
]
