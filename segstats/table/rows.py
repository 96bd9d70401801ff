"""Rows of the per-image table: one label image's size and class counts, and their sums."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from segstats.errors import display_path

IntArray = npt.NDArray[np.int64]

# The contract's leading columns, then one column per class id, then EXTRA_FIELDS.
LEADING_FIELDS = ("path", "width", "height", "ignored_pixels")
# Fields after the contract's ones (what incremental scans need), in this order.
EXTRA_FIELDS = ("size", "mtime_ns", "etag", "label_options")
# Extra fields holding integers (the others hold strings).
INT_EXTRA_FIELDS = frozenset({"size", "mtime_ns"})


@dataclass(frozen=True, eq=False)
class ImageRow:
    """One label image of the per-image table.

    Attributes:
        path: the file as the scan names it.
        width, height: the image size (``width * height`` pixels, ignored ones included).
        ignored_pixels: pixels equal to the ignore index.
        class_ids: ``[n]`` int64, the classes with pixels in this image, strictly increasing.
        class_pixels: ``[n]`` int64, positive, aligned with ``class_ids``.
        size, mtime_ns: the file's size in bytes and modification time (ns), when known.
        etag: a remote file's ETag, when its filesystem gives one.
        label_options: digest of the label options the row was counted with.
    """

    path: str
    width: int
    height: int
    ignored_pixels: int
    class_ids: IntArray
    class_pixels: IntArray
    size: int | None = None
    mtime_ns: int | None = None
    etag: str | None = None
    label_options: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.path, str):
            raise ValueError(f"path must be a string, got {self.path!r}")
        ids = np.asarray(self.class_ids, dtype=np.int64)
        pixels = np.asarray(self.class_pixels, dtype=np.int64)
        if ids.ndim != 1 or ids.shape != pixels.shape:
            raise ValueError(
                f"class_ids and class_pixels must be 1-D of one length, got shapes {ids.shape} "
                f"and {pixels.shape}"
            )
        # Checked on Python lists: a row holds a handful of classes, where one numpy call
        # costs more than the whole loop (this runs once per image of a scan).
        id_list, pixel_list = ids.tolist(), pixels.tolist()
        if id_list and (id_list[0] < 0 or any(a >= b for a, b in itertools.pairwise(id_list))):
            raise ValueError(f"class_ids must be non-negative and strictly increasing, got {id_list}")
        if pixel_list and min(pixel_list) <= 0:
            raise ValueError(f"class_pixels must be positive, got {pixel_list}")
        width, height, ignored = self.width, self.height, self.ignored_pixels
        plain = type(width) is int and type(height) is int and type(ignored) is int
        if not (plain and width >= 0 and height >= 0 and ignored >= 0):
            for name in ("width", "height", "ignored_pixels"):
                value = getattr(self, name)
                if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                    raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        labelled = sum(pixel_list)
        if labelled + int(self.ignored_pixels) > int(self.width) * int(self.height):
            raise ValueError(
                f"{labelled} class pixels + {self.ignored_pixels} ignored pixels exceed "
                f"{self.width}x{self.height} = {int(self.width) * int(self.height)} pixels"
            )
        object.__setattr__(self, "class_ids", ids)
        object.__setattr__(self, "class_pixels", pixels)

    @property
    def total_pixels(self) -> int:
        return int(self.width) * int(self.height)

    @property
    def labelled_pixels(self) -> int:
        """Pixels that are not ignored (what ``image_pixels`` adds up)."""
        return self.total_pixels - int(self.ignored_pixels)

    def counts(self) -> dict[int, int]:
        """``{class id: pixels}`` of the classes present."""
        return dict(zip(self.class_ids.tolist(), self.class_pixels.tolist(), strict=True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImageRow):
            return NotImplemented
        return (
            (self.path, self.width, self.height, self.ignored_pixels)
            == (other.path, other.width, other.height, other.ignored_pixels)
            and np.array_equal(self.class_ids, other.class_ids)
            and np.array_equal(self.class_pixels, other.class_pixels)
            and (self.size, self.mtime_ns, self.etag, self.label_options)
            == (other.size, other.mtime_ns, other.etag, other.label_options)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable numpy fields: not hashable

    def extras(self) -> tuple[int | None, int | None, str | None, str | None]:
        """The values of :data:`EXTRA_FIELDS`, in that order."""
        return (self.size, self.mtime_ns, self.etag, self.label_options)

    @property
    def shown_path(self) -> str:
        """``path`` as stored in the table: as messages show it (``display_path``)."""
        return shown_path(self.path)


def shown_path(path: str) -> str:
    """``display_path(path)``, skipping the work for plain ASCII names (nearly all of them)."""
    return path if path.isascii() else display_path(path)


class CountsLike(Protocol):
    """What :func:`row_from_counts` reads (``segstats.histogram.ImageCounts`` has it)."""

    @property
    def class_ids(self) -> IntArray: ...
    @property
    def class_pixels(self) -> IntArray: ...
    @property
    def total_pixels(self) -> int: ...
    @property
    def ignored_pixels(self) -> int: ...


def row_from_counts(
    path: str,
    counts: CountsLike,
    width: int,
    height: int,
    *,
    size: int | None = None,
    mtime_ns: int | None = None,
    etag: str | None = None,
    label_options: str | None = None,
) -> ImageRow:
    """The row of one counted image (``counts``: an ``ImageCounts`` of ``width x height`` pixels).

    Raises:
        ValueError: ``counts`` does not describe ``width * height`` pixels.
    """
    if int(counts.total_pixels) != int(width) * int(height):
        raise ValueError(f"{path}: counts of {counts.total_pixels} pixels for a {width}x{height} image")
    return ImageRow(
        path,
        int(width),
        int(height),
        int(counts.ignored_pixels),
        counts.class_ids,
        counts.class_pixels,
        size=size,
        mtime_ns=mtime_ns,
        etag=etag,
        label_options=label_options,
    )


def sum_rows(rows: Iterable[ImageRow], num_classes: int | None = None) -> dict[str, Any]:
    """The JSON document's integer fields, summed from table rows.

    ``num_classes`` defaults to the largest class id seen plus one. The result has
    ``num_images``, ``total_pixels``, ``ignored_pixels`` and the lists
    ``pixel_counts``, ``image_counts``, ``image_pixels`` (K ints each), exactly as
    a scan of the same files gives them.

    Raises:
        ValueError: a row holds a class id ``>= num_classes``.
    """
    size = num_classes or 0
    pixel_counts = np.zeros(size, dtype=np.int64)
    image_counts = np.zeros(size, dtype=np.int64)
    image_pixels = np.zeros(size, dtype=np.int64)
    num_images = total = ignored = 0
    for row in rows:
        if row.class_ids.size:
            top = int(row.class_ids[-1]) + 1
            if top > size:
                if num_classes is not None:
                    raise ValueError(f"{row.path}: class {top - 1} is outside 0..{num_classes - 1}")
                grow = top - size
                pixel_counts, image_counts, image_pixels = (
                    np.concatenate([a, np.zeros(grow, dtype=np.int64)])
                    for a in (pixel_counts, image_counts, image_pixels)
                )
                size = top
            pixel_counts[row.class_ids] += row.class_pixels
            image_counts[row.class_ids] += 1
            image_pixels[row.class_ids] += row.labelled_pixels
        num_images += 1
        total += row.total_pixels
        ignored += int(row.ignored_pixels)
    return {
        "num_classes": size,
        "num_images": num_images,
        "total_pixels": total,
        "ignored_pixels": ignored,
        "pixel_counts": pixel_counts.tolist(),
        "image_counts": image_counts.tolist(),
        "image_pixels": image_pixels.tolist(),
    }
