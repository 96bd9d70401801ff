"""A PNG encoder written from scratch (struct + zlib + numpy), for the corpus and the fuzzer.

PNG specification 3rd edition: the chunk framing (5.3), the five scanline filters
(7.3, 9), sub-byte packing (7.2) and the Adam7 interlace (8.2). Pillow is not
used to write anything, so a reader is never checked against the library that
made its input (tests/test_pngcorpus_encoder.py checks this encoder with Pillow).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Samples per pixel of each colour type (grey, RGB, palette, grey+alpha, RGBA).
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Bit depths each colour type allows (PNG specification table 11.1).
DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
# Adam7 passes: (x start, y start, x step, y step) (PNG specification 8.2).
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
# The reader's memory rule: implied bytes above this many per IDAT payload byte (+64 KiB) are refused.
INFLATE_RATIO = 1032
INFLATE_SLACK = 64 * 1024
MAX_CHUNK_LENGTH = (1 << 31) - 1

# Every PNG kind: name -> (colour type, bit depth).
KINDS = {
    "grey1": (0, 1),
    "grey2": (0, 2),
    "grey4": (0, 4),
    "grey8": (0, 8),
    "grey16": (0, 16),
    "pal1": (3, 1),
    "pal2": (3, 2),
    "pal4": (3, 4),
    "pal8": (3, 8),
    "ga8": (4, 8),
    "ga16": (4, 16),
    "rgb8": (2, 8),
    "rgb16": (2, 16),
    "rgba8": (6, 8),
    "rgba16": (6, 16),
}

# What a refusal message must say, per cause. Deliberately a little loose: the
# compiled reader and the Python decoders word the same cause differently, but


def chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    """One chunk: length, type, data, CRC-32 of type + data (or the ``crc`` given)."""
    value = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", value & 0xFFFFFFFF)


def ihdr_data(
    width: int, height: int, depth: int, ctype: int, interlace: int = 0, comp: int = 0, filt: int = 0
) -> bytes:
    return struct.pack(">IIBBBBB", width, height, depth, ctype, comp, filt, interlace)


def pack_rows(samples: np.ndarray, depth: int) -> list[bytes]:
    """Rows of ``samples`` (height, width, channels) as PNG scanline bytes, without filter bytes."""
    rows = []
    for row in samples:
        flat = row.reshape(-1).astype(np.uint32)
        if depth == 16:
            rows.append(flat.astype(">u2").tobytes())
        elif depth == 8:
            rows.append(flat.astype(np.uint8).tobytes())
        else:
            # Sub-byte samples, most significant bits first; packbits pads the last byte with zeros.
            shifts = np.arange(depth - 1, -1, -1, dtype=np.uint32)
            bits = ((flat[:, None] >> shifts) & 1).astype(np.uint8).reshape(-1)
            rows.append(np.packbits(bits).tobytes())
    return rows


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def filter_row(ftype: int, row: bytes, prior: bytes, bpp: int) -> bytes:
    """The filtered bytes of one scanline (filter byte not included); encoding needs raw bytes only."""
    x = np.frombuffer(row, np.uint8).astype(np.int32)
    b = np.frombuffer(prior, np.uint8).astype(np.int32)
    a = np.concatenate([np.zeros(bpp, np.int32), x[:-bpp]]) if len(x) else x
    c = np.concatenate([np.zeros(bpp, np.int32), b[:-bpp]]) if len(x) else b
    if ftype == 0:
        out = x
    elif ftype == 1:
        out = x - a
    elif ftype == 2:
        out = x - b
    elif ftype == 3:
        out = x - (a + b) // 2
    elif ftype == 4:
        out = x - _paeth(a, b, c)
    else:
        raise ValueError(f"filter type {ftype}")
    return (out & 0xFF).astype(np.uint8).tobytes()


def bytes_per_pixel(depth: int, ctype: int) -> int:
    return max(1, depth * CHANNELS[ctype] // 8)


def passes(width: int, height: int, interlace: int) -> list[tuple[int, int, int, int]]:
    """(x0, y0, dx, dy) of each non-empty pass (the whole image when not interlaced)."""
    if not interlace:
        return [(0, 0, 1, 1)]
    return [p for p in ADAM7 if width > p[0] and height > p[1]]


def scanlines(
    samples: np.ndarray, depth: int, ctype: int, interlace: int, filters: int | str | Sequence[int]
) -> bytes:
    """The filtered scanlines (filter byte + row) of the image, pass after pass for Adam7.

    ``filters``: one type for every row, "mix" (row i uses i % 5), or a sequence
    cycled over the rows of all passes.
    """
    height, width = samples.shape[:2]
    bpp = bytes_per_pixel(depth, ctype)
    out = bytearray()
    index = 0
    for x0, y0, dx, dy in passes(width, height, interlace):
        sub = samples[y0::dy, x0::dx]
        rows = pack_rows(sub, depth)
        prior = bytes(len(rows[0]))
        for row in rows:
            if isinstance(filters, int):
                ftype = filters
            elif filters == "mix":
                ftype = index % 5
            else:
                ftype = filters[index % len(filters)]
            out.append(ftype)
            out += filter_row(ftype, row, prior, bpp)
            prior = row
            index += 1
    return bytes(out)


def row_starts(width: int, height: int, depth: int, ctype: int, interlace: int) -> list[int]:
    """Offsets of every row's filter byte in the inflated scanlines."""
    bits = depth * CHANNELS[ctype]
    starts, position = [], 0
    for x0, y0, dx, dy in passes(width, height, interlace):
        w = (width - x0 + dx - 1) // dx
        for _ in range((height - y0 + dy - 1) // dy):
            starts.append(position)
            position += 1 + (w * bits + 7) // 8
    return starts


def implied_size(width: int, height: int, depth: int, ctype: int, interlace: int) -> int:
    """Bytes of filtered scanlines IHDR implies (exact integers, no overflow)."""
    bits = depth * CHANNELS[ctype]
    total = 0
    for x0, y0, dx, dy in passes(width, height, interlace) if interlace else [(0, 0, 1, 1)]:
        w = (width - x0 + dx - 1) // dx
        h = (height - y0 + dy - 1) // dy
        total += h * (1 + (w * bits + 7) // 8)
    return total


def compress(raw: bytes, level: int = 6, strategy: int = zlib.Z_DEFAULT_STRATEGY) -> bytes:
    co = zlib.compressobj(level, zlib.DEFLATED, 15, 9, strategy)
    return co.compress(raw) + co.flush()


def split(data: bytes, sizes: int | Sequence[int]) -> list[bytes]:
    """``data`` cut into ``sizes`` near-equal pieces (an int) or pieces of the given sizes (cycled)."""
    if isinstance(sizes, int):
        n = max(1, sizes)
        step = -(-len(data) // n) if data else 0
        pieces = [data[i : i + step] for i in range(0, len(data), step)] if step else [b""]
        return pieces
    pieces, position, index = [], 0, 0
    while position < len(data):
        size = sizes[index % len(sizes)]
        pieces.append(data[position : position + size])
        position += size
        index += 1
    return pieces or [b""]


def palette_chunk(entries: int = 256) -> bytes:
    return chunk(b"PLTE", bytes((37 * i + 11) % 256 for i in range(3 * entries)))


@dataclass
class Png:
    """The parts of a PNG before they are joined, so that hostile cases can edit any of them."""

    samples: np.ndarray  # (height, width, channels)
    depth: int
    ctype: int
    interlace: int = 0
    filters: int | str | Sequence[int] = 0
    level: int = 6
    strategy: int = zlib.Z_DEFAULT_STRATEGY
    idat_split: int | Sequence[int] = 1
    before: list[bytes] = field(default_factory=list)  # chunks between IHDR (and PLTE) and IDAT
    after: list[bytes] = field(default_factory=list)  # chunks between the last IDAT and IEND
    trailer: bytes = b""  # bytes after IEND
    palette: bool | None = None  # None: a PLTE exactly when the colour type is 3

    @property
    def width(self) -> int:
        return int(self.samples.shape[1])

    @property
    def height(self) -> int:
        return int(self.samples.shape[0])

    def ihdr(self) -> bytes:
        return ihdr_data(self.width, self.height, self.depth, self.ctype, self.interlace)

    def raw(self) -> bytes:
        return scanlines(self.samples, self.depth, self.ctype, self.interlace, self.filters)

    def stream(self, raw: bytes | None = None) -> bytes:
        return compress(self.raw() if raw is None else raw, self.level, self.strategy)

    def chunks(self, stream: bytes | None = None, ihdr: bytes | None = None) -> list[bytes]:
        stream = self.stream() if stream is None else stream
        parts = [chunk(b"IHDR", self.ihdr() if ihdr is None else ihdr)]
        if self.palette or (self.palette is None and self.ctype == 3):
            parts.append(palette_chunk())
        parts += self.before
        parts += [chunk(b"IDAT", piece) for piece in split(stream, self.idat_split)]
        parts += self.after
        parts.append(chunk(b"IEND", b""))
        return parts

    def build(self, chunks: list[bytes] | None = None) -> bytes:
        return SIGNATURE + b"".join(self.chunks() if chunks is None else chunks) + self.trailer

    def header(self) -> tuple[int, int, int, int, int]:
        return (self.width, self.height, self.depth, self.ctype, self.interlace)


def source(kind: str, height: int, width: int, rng: np.random.Generator, style: str = "noise") -> np.ndarray:
    """A (height, width, channels) sample array of ``kind``.

    "noise": every value of the depth can appear. "blocky": constant runs and
    repeated rows (what label masks look like), for readers that skip unchanged
    words. "sparse": mostly 0 with a few of the largest values.
    """
    ctype, depth = KINDS[kind]
    channels = CHANNELS[ctype]
    top = (1 << depth) - 1
    if style == "noise":
        array = rng.integers(0, top, size=(height, width, channels), endpoint=True)
    elif style == "blocky":
        classes = rng.integers(0, top, size=6, endpoint=True)
        rows = rng.integers(0, len(classes), size=(max(1, height // 4) + 1, max(1, width // 5) + 1, channels))
        array = classes[rows.repeat(4, axis=0).repeat(5, axis=1)[:height, :width]]
    elif style == "sparse":
        array = np.zeros((height, width, channels), np.int64)
        for _ in range(max(1, height * width // 50)):
            array[rng.integers(0, height), rng.integers(0, width)] = top - rng.integers(0, 2)
    else:
        raise ValueError(style)
    return array.astype(np.uint16 if depth == 16 else np.uint8)
