"""Types shared by the decode, classify and reduce layers; imports nothing of the package."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


class ValueHistogram(NamedTuple):
    """Raw pixel values of one image and how often each occurs.

    ``values`` are sorted and unique; ``counts[i]`` pixels hold ``values[i]``;
    all counts are positive and sum to ``width * height``.
    """

    values: IntArray
    counts: IntArray
    width: int
    height: int
    mode: str

    @property
    def num_pixels(self) -> int:
        return self.width * self.height


def histogram_from_dense(
    dense: npt.NDArray[np.integer], width: int, height: int, mode: str
) -> ValueHistogram:
    """A :class:`ValueHistogram` from ``dense[v]`` = pixels of value ``v`` (zero bins dropped)."""
    counts: IntArray = np.asarray(dense, dtype=np.int64)
    values = np.flatnonzero(counts).astype(np.int64)
    return ValueHistogram(values, counts[values], width, height, mode)


class DenseRow(NamedTuple):
    """A file a decoder counted straight into its row of the chunk's dense matrix.

    Returned instead of a :class:`ValueHistogram` when the caller passed a
    ``(files, 256)`` matrix (``dense``) and the file's values all fit a row:
    pixels of value ``v`` are ``dense[i, v]``. A tuple, because a scan of 8-bit
    masks makes one per file (why not a dataclass: ~4x the creation cost).
    """

    width: int
    height: int
    mode: str
