"""One image's raw value histogram -> per-class counts, ignored and unknown pixels.

Works on the (few) distinct values of an image, never on its pixels, so its
cost does not depend on the image size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from segstats._types import IntArray, ValueHistogram

BoolArray = npt.NDArray[np.bool_]

# Largest class count inferred when --num-classes is not given; a value at or
# above it is treated as unknown (it is almost surely not a class index).
MAX_INFERRED_CLASSES = 1 << 16
# How many distinct unknown values one error message lists.
MAX_VALUES_SHOWN = 8


class LabelSpec(NamedTuple):
    """How raw pixel values become classes.

    Attributes:
        num_classes: classes are ``0..num_classes-1``; None infers it from the data.
        ignore_index: the value of ignored (void) pixels, or None.
        value_map: optional raw value -> class (or ignore) mapping, applied first;
            raw values missing from it are unknown.
    """

    num_classes: int | None = None
    ignore_index: int | None = None
    value_map: Mapping[int, int] | None = None

    @property
    def class_limit(self) -> int:
        return self.num_classes if self.num_classes is not None else MAX_INFERRED_CLASSES


class ImageCounts(NamedTuple):
    """Per-class counts of one image.

    ``class_ids`` are unique and sorted; ``class_pixels`` is aligned with them
    and positive. ``unknown_values`` are the raw values that are neither a class
    nor ignored.
    """

    class_ids: IntArray
    class_pixels: IntArray
    total_pixels: int
    ignored_pixels: int
    unknown_values: IntArray
    unknown_pixels: int

    @property
    def labelled_pixels(self) -> int:
        """Pixels that are not ignored (those that count for ``image_pixels``)."""
        return self.total_pixels - self.ignored_pixels


def _apply_map(values: IntArray, value_map: Mapping[int, int]) -> tuple[IntArray, IntArray]:
    """Mapped values and a mask of values the map does not know."""
    mapped = np.array([value_map.get(int(v), -1) for v in values], dtype=np.int64)
    known = np.array([int(v) in value_map for v in values], dtype=bool)
    return mapped, known


def value_roles(values: IntArray, spec: LabelSpec) -> tuple[IntArray, BoolArray, BoolArray, BoolArray]:
    """What each raw value is under ``spec``: its mapped value, and masks class / ignored / unknown.

    Every value is exactly one of class, ignored or unknown.
    """
    if spec.value_map is not None:
        mapped, known = _apply_map(values, spec.value_map)
    else:
        mapped, known = values, np.ones(values.shape, dtype=bool)
    if spec.ignore_index is not None:
        ignored = known & (mapped == spec.ignore_index)
    else:
        ignored = np.zeros(values.shape, dtype=bool)
    is_class = known & ~ignored & (mapped >= 0) & (mapped < spec.class_limit)
    unknown = ~is_class & ~ignored
    return mapped, is_class, ignored, unknown


def classify(histogram: ValueHistogram, spec: LabelSpec) -> ImageCounts:
    """Split one image's value histogram into classes, ignored and unknown pixels."""
    values, counts = histogram.values, histogram.counts
    mapped, is_class, ignored, unknown = value_roles(values, spec)
    class_values = mapped[is_class]
    class_counts = counts[is_class]
    if spec.value_map is not None and class_values.size:
        # several raw values may map to one class: sum them
        class_ids, inverse = np.unique(class_values, return_inverse=True)
        class_pixels = np.zeros(class_ids.shape, dtype=np.int64)
        np.add.at(class_pixels, inverse, class_counts)
    else:
        class_ids, class_pixels = class_values, class_counts
    return ImageCounts(
        class_ids=class_ids.astype(np.int64),
        class_pixels=class_pixels.astype(np.int64),
        total_pixels=histogram.num_pixels,
        ignored_pixels=int(counts[ignored].sum()),
        unknown_values=values[unknown],
        unknown_pixels=int(counts[unknown].sum()),
    )


class DenseCounts(NamedTuple):
    """Per-class counts of several images at once, from their dense value histograms.

    Row ``i`` is image ``i``. ``class_ids`` are the classes the histogram's
    values can map to (sorted, unique; a column may be all zero).
    """

    class_ids: IntArray  # (C,)
    class_pixels: IntArray  # (n, C)
    total_pixels: IntArray  # (n,)
    ignored_pixels: IntArray  # (n,)
    unknown_pixels: IntArray  # (n,)


def classify_dense(dense: IntArray, spec: LabelSpec) -> DenseCounts:
    """:func:`classify` for ``n`` images at once: ``dense[i, v]`` pixels of image ``i`` hold value ``v``.

    The same rules as :func:`classify` (:func:`value_roles`), applied once to
    the values ``0..V-1`` instead of once per image.
    """
    values = np.arange(dense.shape[1], dtype=np.int64)
    mapped, is_class, ignored, unknown = value_roles(values, spec)
    if spec.value_map is None:
        class_ids = mapped[is_class]
        class_pixels = dense[:, is_class]
    else:  # several raw values may map to one class: sum their columns
        class_ids, column = np.unique(mapped[is_class], return_inverse=True)
        merge = np.zeros((column.size, class_ids.size), dtype=np.int64)
        merge[np.arange(column.size), column] = 1
        class_pixels = dense[:, is_class] @ merge  # integer matmul: exact
    return DenseCounts(
        class_ids=class_ids.astype(np.int64),
        class_pixels=np.ascontiguousarray(class_pixels, dtype=np.int64),
        total_pixels=dense.sum(axis=1),
        ignored_pixels=dense[:, ignored].sum(axis=1),
        unknown_pixels=dense[:, unknown].sum(axis=1),
    )


def describe_unknown(image: ImageCounts, spec: LabelSpec) -> str:
    """One-line cause for an image holding unknown label values."""
    shown = ", ".join(str(int(v)) for v in image.unknown_values[:MAX_VALUES_SHOWN])
    if image.unknown_values.size > MAX_VALUES_SHOWN:
        shown += f", ... ({image.unknown_values.size} distinct)"
    if spec.num_classes is not None:
        expected = f"classes are 0..{spec.num_classes - 1}"
    else:
        expected = f"inferred classes must be 0..{MAX_INFERRED_CLASSES - 1}"
    if spec.ignore_index is not None:
        expected += f", ignore index {spec.ignore_index}"
    if spec.value_map is not None:
        expected += ", values missing from --map are unknown"
    hint = "--ignore-index or --num-classes" if spec.ignore_index is None else "--num-classes"
    return f"unknown label values {shown} in {image.unknown_pixels} pixels ({expected}); check {hint}"
