"""Test helpers: write small label masks, and a brute-force counter.

The brute-force counter walks every pixel in plain Python; it shares no code with
segstats, so the tests compare the library against an independent computation.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

# Palette used for P masks in tests: colours deliberately unrelated to the indices.
TEST_PALETTE = [(37 * i) % 256 for i in range(768)]


def write_mask(path: str | os.PathLike[str], array: np.ndarray, mode: str) -> str:
    """Write ``array`` as a label image of ``mode`` (1, L, P, I;16 as PNG; I as TIFF)."""
    path = os.fspath(path)
    height, width = array.shape
    if mode == "1":
        image = Image.fromarray(array.astype(bool))
    elif mode in ("L", "P"):
        image = Image.frombytes(mode, (width, height), array.astype(np.uint8).tobytes())
        if mode == "P":
            image.putpalette(TEST_PALETTE)
    elif mode == "I;16":
        image = Image.fromarray(array.astype(np.uint16))
    elif mode == "I":
        image = Image.fromarray(array.astype(np.int32))
    else:
        raise ValueError(mode)
    assert image.mode == mode, (image.mode, mode)
    image.save(path)
    return path


@dataclass
class BruteForce:
    num_images: int
    total_pixels: int
    ignored_pixels: int
    pixel_counts: list[int]
    image_counts: list[int]
    image_pixels: list[int]


def brute_force(arrays: Sequence[np.ndarray], num_classes: int, ignore_index: int | None) -> BruteForce:
    """Count classes pixel by pixel in plain Python (values outside 0..K-1 must be ignored ones)."""
    pixel_counts = [0] * num_classes
    image_counts = [0] * num_classes
    image_pixels = [0] * num_classes
    total = ignored = 0
    for array in arrays:
        values = Counter(int(v) for v in array.ravel().tolist())
        total += array.size
        image_ignored = values.pop(ignore_index, 0) if ignore_index is not None else 0
        ignored += image_ignored
        for value, count in values.items():
            assert 0 <= value < num_classes, f"brute force got unknown value {value}"
            pixel_counts[value] += count
            image_counts[value] += 1
            image_pixels[value] += array.size - image_ignored
    return BruteForce(len(arrays), total, ignored, pixel_counts, image_counts, image_pixels)


def random_mask(
    rng: np.random.Generator,
    height: int,
    width: int,
    num_classes: int,
    ignore_index: int | None = None,
    ignore_fraction: float = 0.1,
) -> np.ndarray:
    """A piecewise-constant mask (blocks of classes) with some ignored pixels."""
    blocks = rng.integers(0, num_classes, size=(max(1, height // 4), max(1, width // 4)))
    mask = np.kron(blocks, np.ones((4, 4), dtype=np.int64))[:height, :width]
    mask = np.pad(mask, ((0, height - mask.shape[0]), (0, width - mask.shape[1])), mode="edge")
    if ignore_index is not None:
        mask[rng.random((height, width)) < ignore_fraction] = ignore_index
    return mask


def same_counts(a, b) -> bool:
    """Two DatasetStats give the same document but for the file digest (the files are named differently:
    URLs against local paths), which is what a scan of the same masks through another source must give."""
    first, second = a.to_dict(), b.to_dict()
    first.pop("files_digest"), second.pop("files_digest")
    return first == second
