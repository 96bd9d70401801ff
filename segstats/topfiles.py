"""Per class, the few files holding most of its pixels (``segstats audit --examples N``).

A rare class is easier to judge (a labelling mistake? a real but rare object?)
with the files that hold it. :class:`TopFiles` keeps, for every class, the ``n``
files with the most pixels of that class, from per-image counts streamed one
image at a time (``segstats.scan(on_rows=...)``, or the rows of a per-image
table): one bounded heap per class, so memory is O(K * n) whatever the number
of images, and no row is kept. Ties are broken by path (the first in sorted
order wins), so the result does not depend on the order the rows arrive in.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from segstats.errors import display_path

# `audit --examples` when not given: a handful of files per class.
DEFAULT_EXAMPLES = 3


@dataclass(frozen=True)
class FileExample:
    """One file and how many pixels of the class it holds."""

    path: str
    pixels: int


class _Kept:
    """A heap entry; ``a < b`` when ``a`` is the worse example (fewer pixels, or as many and
    a later path), so the heap's top is the one to drop first."""

    __slots__ = ("path", "pixels")

    def __init__(self, pixels: int, path: str) -> None:
        self.pixels = pixels
        self.path = path

    def __lt__(self, other: _Kept) -> bool:
        if self.pixels != other.pixels:
            return self.pixels < other.pixels
        return self.path > other.path


class CountsLike(Protocol):
    """What :func:`top_files` reads of a row (``segstats.histogram.ImageCounts`` has it)."""

    @property
    def class_ids(self) -> npt.ArrayLike: ...

    @property
    def class_pixels(self) -> npt.ArrayLike: ...


class RowLike(Protocol):
    """A per-image row: ``segstats.reduce.FileCounts`` (``path`` and ``counts``)."""

    @property
    def path(self) -> str: ...

    @property
    def counts(self) -> CountsLike: ...


class TopFiles:
    """Collects, per class, the ``n`` files with the most pixels of it.

    >>> top = TopFiles(2)
    >>> top.add("a.png", [0, 1], [5, 1])
    >>> top.add("b.png", [1], [7])
    >>> top.add("c.png", [0], [5])
    >>> [[(e.path, e.pixels) for e in kept] for kept in top.result(3)]
    [[('a.png', 5), ('c.png', 5)], [('b.png', 7), ('a.png', 1)], []]
    """

    def __init__(self, n: int) -> None:
        if n < 0:
            raise ValueError(f"TopFiles: n must be >= 0, got {n}")
        self.n = n
        self._heaps: list[list[_Kept]] = []
        # Per class: the pixels of the worst example kept once n are kept, else -1. A file
        # with fewer pixels cannot enter, so most rows are dismissed by one vector compare.
        self._floor: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)

    def _grow(self, size: int) -> None:
        extra = size - len(self._heaps)
        if extra > 0:
            self._heaps.extend([] for _ in range(extra))
            self._floor = np.concatenate([self._floor, np.full(extra, -1, dtype=np.int64)])

    def add(self, path: str, class_ids: npt.ArrayLike, class_pixels: npt.ArrayLike) -> None:
        """One image: its classes and their pixels (aligned; classes with 0 pixels are skipped)."""
        ids = np.asarray(class_ids, dtype=np.int64).ravel()
        pixels = np.asarray(class_pixels, dtype=np.int64).ravel()
        if ids.shape != pixels.shape:
            raise ValueError(f"class_ids {ids.shape} and class_pixels {pixels.shape} differ in shape")
        if self.n == 0 or ids.size == 0:
            return
        if ids.min() < 0:
            raise ValueError(f"{path}: negative class id {int(ids.min())}")
        self._grow(int(ids.max()) + 1)
        # >= rather than >: an equal count may still win on the path (rows in any order).
        candidates = (pixels > 0) & (pixels >= self._floor[ids])
        for c, count in zip(ids[candidates].tolist(), pixels[candidates].tolist(), strict=True):
            heap = self._heaps[c]
            entry = _Kept(count, path)
            if len(heap) < self.n:
                heapq.heappush(heap, entry)
            elif heap[0] < entry:
                heapq.heapreplace(heap, entry)
            else:
                continue
            if len(heap) == self.n:
                self._floor[c] = heap[0].pixels

    def add_rows(self, rows: Iterable[RowLike]) -> None:
        """Rows with ``path`` and ``counts.class_ids`` / ``counts.class_pixels``
        (``segstats.scan(on_rows=top.add_rows)``)."""
        for row in rows:
            self.add(row.path, row.counts.class_ids, row.counts.class_pixels)

    def result(self, num_classes: int | None = None) -> list[tuple[FileExample, ...]]:
        """Per class (``num_classes`` of them; default: up to the largest id seen), its
        examples, most pixels first, ties by path."""
        k = len(self._heaps) if num_classes is None else num_classes
        if k < len(self._heaps) and any(self._heaps[k:]):
            raise ValueError(f"class ids up to {len(self._heaps) - 1} were seen, more than {k} classes")
        out: list[tuple[FileExample, ...]] = []
        for c in range(k):
            kept = self._heaps[c] if c < len(self._heaps) else []
            best = sorted(kept, key=lambda e: (-e.pixels, e.path))
            out.append(tuple(FileExample(display_path(e.path), e.pixels) for e in best))
        return out


def top_files(rows: Iterable[RowLike], k: int, n: int) -> list[tuple[FileExample, ...]]:
    """Per class ``0..k-1``, the ``n`` files of ``rows`` with the most pixels of that class.

    Args:
        rows: per-image rows in any order (``segstats.reduce.FileCounts``, or rows of a
            per-image table with the same ``path`` / ``counts`` attributes); read once.
        k: the number of classes.
        n: examples per class (0: none).

    Returns:
        ``k`` tuples of :class:`FileExample`, most pixels first, ties by path; a class
        with fewer than ``n`` files holding it has fewer.
    """
    top = TopFiles(n)
    top.add_rows(rows)
    return top.result(k)


def pad_examples(
    examples: Sequence[Sequence[FileExample]] | None, k: int
) -> list[tuple[FileExample, ...]] | None:
    """``examples`` as ``k`` tuples (classes beyond them have none), or None."""
    if examples is None:
        return None
    if len(examples) > k:
        raise ValueError(f"examples for {len(examples)} classes, but there are {k}")
    return [tuple(e) for e in examples] + [() for _ in range(k - len(examples))]
