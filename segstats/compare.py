"""Two splits side by side (``segstats audit --against``): per-class shares, the classes
present in one split only, and the Jensen-Shannon divergence of the class shares.

Pure functions of :class:`~segstats.stats.DatasetStats`; nothing is printed.
``segstats.audit`` turns the classes missing from a split into findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from segstats.stats import DatasetStats


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

    def ordered(self, class_ids: Sequence[int] | None = None) -> list[SplitRow]:
        """The rows of ``class_ids`` in that order (the audit table's ``--sort`` /
        ``--limit`` order), or all rows by id for None."""
        if class_ids is None:
            return list(self.rows)
        by_id = {row.class_id: row for row in self.rows}
        return [by_id[c] for c in class_ids]

    def to_dict(self, class_ids: Sequence[int] | None = None) -> dict[str, Any]:
        """The ``against`` block of ``audit --json`` (``class_ids``: the order of its classes)."""
        return {
            "label": self.label,
            "other_label": self.other_label,
            "num_images": self.num_images,
            "other_num_images": self.other_num_images,
            "js_divergence": self.js_divergence,
            "js_divergence_log_base": 2,
            "only_in_first": self.only_in_first,
            "only_in_second": self.only_in_second,
            "classes": [asdict(row) for row in self.ordered(class_ids)],
        }


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


def name_at(names: Sequence[str] | None, index: int) -> str | None:
    """The name of class ``index``, or None (no names, or fewer names than classes)."""
    return names[index] if names is not None and index < len(names) else None


def compare_splits(
    stats: DatasetStats, other: DatasetStats, label: str = "first", other_label: str = "second"
) -> SplitComparison:
    """Per-class shares of two splits, classes missing from one, and their JS divergence."""
    k = max(stats.num_classes, other.num_classes)
    first, second = pad_classes(stats, k), pad_classes(other, k)
    names = first.class_names or second.class_names
    rows = [SplitRow(c, name_at(names, c), float(first.share[c]), float(second.share[c])) for c in range(k)]
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
