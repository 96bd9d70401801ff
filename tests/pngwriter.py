"""A tiny, independent PNG writer for the tests of segstats._native (zlib + struct + numpy).

Every filter type (0-4) is applied per row as the caller chooses, at bit depths
1/2/4/8/16, colour types 0/2/3/4/6, interlaced by our own Adam7 split. Nothing
here shares code with the C reader or with Pillow.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Callable, Sequence

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7: x start, y start, x step, y step (PNG specification, 8.2)
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
# every counted kind: (colour type, bit depth)
COUNTED_KINDS = [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (3, 1), (3, 2), (3, 4), (3, 8), (4, 8), (4, 16)]


# ------------------------------------------------------------------ the encoder
def chunk(kind: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def ihdr(width: int, height: int, depth: int, color: int, interlace: int = 0, compression: int = 0) -> bytes:
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, compression, 0, interlace))


def pack_rows(pixels: np.ndarray, depth: int) -> np.ndarray:
    """(h, w, channels) samples -> (h, row_bytes) uint8, sub-byte samples packed MSB first."""
    height, width, channels = pixels.shape
    flat = pixels.reshape(height, width * channels).astype(np.int64)
    if depth == 16:
        return flat.astype(">u2").view(np.uint8).reshape(height, -1)
    if depth == 8:
        return flat.astype(np.uint8)
    per_byte = 8 // depth
    padded = np.zeros((height, -(-flat.shape[1] // per_byte) * per_byte), dtype=np.int64)
    padded[:, : flat.shape[1]] = flat
    groups = padded.reshape(height, -1, per_byte)
    shifts = 8 - depth * (np.arange(per_byte) + 1)
    return (groups << shifts).sum(axis=2).astype(np.uint8)


def paeth_predictor(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def filter_row(kind: int, row: np.ndarray, prev: np.ndarray, bpp: int) -> bytes:
    """The filtered bytes of one row (from unfiltered data only: no recursion)."""
    x = row.astype(np.int64)
    b = prev.astype(np.int64)
    # a and c: the bytes bpp to the left (0 left of the row)
    a = np.concatenate([np.zeros(bpp, np.int64), x])[: x.size]
    c = np.concatenate([np.zeros(bpp, np.int64), b])[: x.size]
    pred = [np.zeros_like(x), a, b, (a + b) // 2, paeth_predictor(a, b, c)][kind]
    return bytes([kind]) + ((x - pred) % 256).astype(np.uint8).tobytes()


FilterChoice = Callable[[int], int]


def encode_image(pixels: np.ndarray, depth: int, filters: FilterChoice) -> bytes:
    """Filtered scanlines of one (sub)image, (h, w, channels)."""
    rows = pack_rows(pixels, depth)
    bpp = max(1, pixels.shape[2] * depth // 8)
    prev = np.zeros(rows.shape[1], dtype=np.uint8)
    out = []
    for y in range(rows.shape[0]):
        out.append(filter_row(filters(y), rows[y], prev, bpp))
        prev = rows[y]
    return b"".join(out)


def scanlines(pixels: np.ndarray, depth: int, interlace: int, filters: FilterChoice) -> bytes:
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if not interlace:
        return encode_image(pixels, depth, filters)
    parts = []
    for xs, ys, dx, dy in ADAM7:
        sub = pixels[ys::dy, xs::dx]
        if sub.shape[0] and sub.shape[1]:
            parts.append(encode_image(sub, depth, filters))
    return b"".join(parts)


def make_png(
    pixels: np.ndarray,
    depth: int,
    color: int,
    interlace: int = 0,
    filters: FilterChoice | None = None,
    *,
    idat_splits: Sequence[int] = (),
    before_idat: bytes = b"",
    after_idat: bytes = b"",
    stream: bytes | None = None,
    level: int = 6,
) -> bytes:
    """A PNG of ``pixels`` ((h, w) or (h, w, channels)); PLTE added for colour type 3."""
    height, width = pixels.shape[:2]
    if stream is None:
        stream = zlib.compress(scanlines(pixels, depth, interlace, filters or (lambda y: y % 5)), level)
    palette = chunk(b"PLTE", bytes(range(256)) * 3) if color == 3 else b""
    cuts = [0, *sorted(idat_splits), len(stream)]
    idats = b"".join(chunk(b"IDAT", stream[a:b]) for a, b in itertools.pairwise(cuts))
    return (
        SIGNATURE
        + ihdr(width, height, depth, color, interlace)
        + palette
        + before_idat
        + idats
        + after_idat
        + chunk(b"IEND")
    )


# ---------------------------------------------------------------- the masks
def drifting_mask(
    rng: np.random.Generator, height: int, width: int, top: int, regions: int = 6
) -> np.ndarray:
    """Piecewise-constant rows whose borders drift, some new rows and some noise (values 0..top)."""
    bounds = np.sort(rng.integers(0, width + 1, regions))
    values = rng.integers(0, top + 1, regions + 1)
    mask = np.zeros((height, width), dtype=np.int64)
    columns = np.arange(width)
    for y in range(height):
        bounds = np.sort(np.clip(bounds + rng.integers(-2, 3, regions), 0, width))
        if rng.random() < 0.1:
            values[rng.integers(0, regions + 1)] = rng.integers(0, top + 1)
        mask[y] = values[np.searchsorted(bounds, columns, side="right")]
        if rng.random() < 0.2:
            mask[y, rng.integers(0, width, 3)] = rng.integers(0, top + 1, 3)
    return mask


def reference(grey: np.ndarray) -> tuple[list[int], list[int]]:
    values, counts = np.unique(grey, return_counts=True)
    return values.tolist(), counts.tolist()


def counted(result: tuple) -> tuple[list[int], list[int]]:
    """The (values, counts) of a code-0 result tuple, as lists."""
    assert result[0] == 0, result
    values = np.frombuffer(result[6], dtype="<i8").tolist()
    counts = np.frombuffer(result[7], dtype="<i8").tolist()
    return values, counts
