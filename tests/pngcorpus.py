"""A generated corpus of valid and hostile PNG files, each with the verdict a reader must give.

Everything is written from scratch here (struct + zlib + numpy, PNG
specification 3rd edition): the chunk framing, the five scanline filters, the
sub-byte packing and the Adam7 interlace. Pillow is not used to write anything,
so a reader is never checked against the library that made its input.

Every valid case carries its expected answer computed from the SOURCE array
(``np.unique`` of the stored sample band), never from a decoder. Every hostile
case carries its expected verdict, "refused", and the kind of cause its message
must give (a key of :data:`CAUSES`), following the refusal list of the
compiled reader's API (``/work/native_api.md``, "One verdict").

Entry points:

- :func:`corpus` -> list of :class:`Case` (deterministic: fixed seeds);
- :func:`check_outcome` compares what a decoder made of a case with the case;
  a decoder is any callable ``decode(data: bytes) -> outcome`` where outcome is
  ``("ok", values, counts)``, ``("colour", reason)``, ``("refused", message)``
  or ``("notpng", reason)``; :func:`outcome_of` turns a ``count_chunk`` result
  tuple into one;
- :func:`reference_count` is a plain, slow, pure-Python reader of the same
  rules that returns ``count_chunk``-shaped tuples: the fuzzer's second opinion.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
# each cause has words no other cause needs.
CAUSES = {
    "truncated": r"^truncated file",
    "crc": r"^corrupt image data: .*CRC",
    "ihdr": r"IHDR",
    "chunk_type": r"chunk type|not an ASCII letter|bad chunk",
    "critical": r"critical",
    "palette": r"PLTE|palette",
    "no_idat": r"no (image data|IDAT)|IDAT",
    "idat_order": r"consecutive",
    # The zlib stream itself is broken (header, deflate data, Adler-32).
    "zlib": r"compressed|zlib|deflate|Adler|checksum",
    # The stream is cut short: inflate ran out of input before its end.
    # (libdeflate cannot tell a cut stream from bad data: either wording.)
    "short_stream": r"^truncated file|cut short|ends early|incomplete|compressed|deflate|zlib",
    # A complete stream with a size other than IHDR's.
    "size": r"IHDR implies|size",
    "trailing": r"after the end",
    # Anything wrong with the stream (a garbled stream can fail in any of the ways above).
    "stream": r"compressed|zlib|deflate|Adler|checksum|^truncated file|cut short|IHDR implies|after the end",
    "chunk_length": r"claims|length|^truncated file",
    "stream_not_memory": r"^(?!truncated file \(\d+ bytes of compressed image data cannot hold)"
    r".*(compressed|zlib|deflate|^truncated file|cut short|IHDR implies)",
    "filter": r"filter type",
    # (the implied size may be written as a number or as "more than 2^64")
    "memory": r"^truncated file \(\d+ bytes of compressed image data cannot hold the .*bytes IHDR implies\)",
    "limit": r"limit",
    "empty": r"^empty file",
}
# Valid cases Pillow refuses (its APNG reader checks acTL/fdAT): a Pillow-based decoder gives
# another verdict on these than the rule "ancillary chunks are not interpreted".
PILLOW_REFUSES = frozenset({"ancillary-apng-empty-actl", "ancillary-apng-stray-empty-fdat"})
# No raw control byte (C0, DEL) may reach a terminal through a message.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Case:
    """One PNG and the verdict a reader must give it.

    ``verdict`` is "ok" (counted: ``values``/``counts`` expected), "colour"
    (a valid RGB/RGBA PNG the counting reader leaves to others), "refused"
    (``cause`` a key of CAUSES) or "notpng".
    """

    name: str
    data: bytes
    verdict: str
    values: np.ndarray | None = None
    counts: np.ndarray | None = None
    header: tuple[int, int, int, int, int] | None = None  # width, height, depth, colour type, interlace
    cause: str = ""
    max_pixels: int = -1  # -1: no limit
    samples: np.ndarray | None = field(default=None, compare=False)  # the source, for encoder checks

    def __repr__(self) -> str:  # pytest ids and failure messages: never dump the bytes
        return f"Case({self.name!r}, {self.verdict}{' ' + self.cause if self.cause else ''})"


# --------------------------------------------------------------------------- encoder


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


def counted_case(name: str, png: Png, data: bytes | None = None, max_pixels: int = -1) -> Case:
    """The valid case of ``png``: counts of the grey / index band, or "colour" for RGB(A)."""
    data = png.build() if data is None else data
    if png.ctype in (2, 6):
        return Case(name, data, "colour", header=png.header(), max_pixels=max_pixels, samples=png.samples)
    values, counts = np.unique(png.samples[..., 0].astype(np.int64), return_counts=True)
    return Case(
        name,
        data,
        "ok",
        values,
        counts.astype(np.int64),
        png.header(),
        max_pixels=max_pixels,
        samples=png.samples,
    )


def refused(name: str, data: bytes, cause: str, max_pixels: int = -1) -> Case:
    assert cause in CAUSES, cause
    return Case(name, data, "refused", cause=cause, max_pixels=max_pixels)


# --------------------------------------------------------------------------- valid cases

SHAPES = ((1, 1), (3, 5), (13, 9), (8, 8), (17, 33), (70, 2), (5, 1), (1, 11), (9, 16))
FILTERS: tuple[int | str, ...] = (0, 1, 2, 3, 4, "mix")


def valid_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    index = 0
    for kind, (ctype, depth) in KINDS.items():
        for ftype in FILTERS:
            for interlace in (0, 1):
                height, width = SHAPES[index % len(SHAPES)]
                style = ("noise", "blocky", "sparse")[index % 3]
                index += 1
                png = Png(source(kind, height, width, rng, style), depth, ctype, interlace, ftype)
                cases.append(counted_case(f"{kind}-f{ftype}-i{interlace}-{height}x{width}-{style}", png))
    # Bigger images for the word-skipping kernels (non-interlaced 8-bit and 16-bit), odd widths.
    for kind in ("grey8", "pal8", "grey16", "grey1", "ga8"):
        ctype, depth = KINDS[kind]
        for ftype in FILTERS:
            for style, (height, width) in (("blocky", (64, 257)), ("noise", (31, 67)), ("sparse", (40, 200))):
                png = Png(source(kind, height, width, rng, style), depth, ctype, 0, ftype)
                cases.append(counted_case(f"big-{kind}-f{ftype}-{style}-{height}x{width}", png))
        png = Png(source(kind, 50, 123, rng, "blocky"), depth, ctype, 1, "mix")
        cases.append(counted_case(f"big-{kind}-adam7-mix", png))
    # Every value of a depth present, rows identical (Up filter gives all-zero rows).
    for kind in ("grey8", "pal8", "grey4", "grey16"):
        ctype, depth = KINDS[kind]
        top = min(1 << depth, 4096)
        row = np.arange(top, dtype=np.uint16 if depth == 16 else np.uint8)
        samples = np.tile(row, (7, 1))[..., None]
        if depth == 16:
            samples = samples * 16 + 15  # high byte and low byte both vary
        for ftype in (2, 4):
            cases.append(counted_case(f"allvalues-{kind}-f{ftype}", Png(samples, depth, ctype, 0, ftype)))
    # Compression variety: stored blocks, fixed and dynamic Huffman, RLE and Huffman-only.
    strategies = {
        "default": zlib.Z_DEFAULT_STRATEGY,
        "rle": zlib.Z_RLE,
        "huffman": zlib.Z_HUFFMAN_ONLY,
        "fixed": zlib.Z_FIXED,
    }
    for level in (0, 1, 9):
        for sname, strategy in strategies.items():
            png = Png(source("grey8", 40, 90, rng, "blocky"), 8, 0, 0, "mix", level=level, strategy=strategy)
            cases.append(counted_case(f"zlib-level{level}-{sname}", png))
    # IDAT split into many chunks, down to one byte each, and zero-length IDATs mixed in.
    base = source("pal4", 21, 37, rng, "noise")
    for pieces in (1, 2, 3, 7, 50):
        cases.append(counted_case(f"idat-split-{pieces}", Png(base, 4, 3, 0, "mix", idat_split=pieces)))
    cases.append(counted_case("idat-1-byte-chunks", Png(base, 4, 3, 1, "mix", idat_split=[1])))
    cases.append(counted_case("idat-1-and-3-byte-chunks", Png(base, 4, 3, 0, 4, idat_split=[1, 3])))
    png = Png(base, 4, 3, 0, 1)
    stream = png.stream()
    with_empty = [chunk(b"IHDR", png.ihdr()), palette_chunk(), chunk(b"IDAT", b"")]
    for piece in split(stream, 4):
        with_empty += [chunk(b"IDAT", piece), chunk(b"IDAT", b"")]
    with_empty.append(chunk(b"IEND", b""))
    cases.append(counted_case("idat-zero-length-between", png, SIGNATURE + b"".join(with_empty)))
    # Ancillary chunks are never interpreted; data after IEND is ignored.
    text = chunk(b"tEXt", b"Comment\x00made by pngcorpus")
    ztxt = chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"hello"))
    actl = chunk(b"acTL", struct.pack(">II", 2, 0))
    g = source("grey8", 12, 10, rng, "noise")
    fctl = chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, 10, 12, 0, 0, 1, 10, 0, 0))
    fctl2 = chunk(b"fcTL", struct.pack(">IIIIIHHBB", 1, 10, 12, 0, 0, 1, 10, 0, 0))
    frame2 = compress(scanlines(source("grey8", 12, 10, rng), 8, 0, 0, 0))
    fdat = chunk(b"fdAT", struct.pack(">I", 2) + frame2)
    unknown = chunk(b"prVt", bytes(range(256)) * 3)
    idat_lookalike = chunk(b"iDAT", b"\xff" * 40)  # ancillary (lower-case first letter): ignored
    gamma = chunk(b"gAMA", struct.pack(">I", 45455))
    ancillary = {
        "text": Png(g, 8, 0, before=[text, ztxt], after=[text]),
        "apng": Png(g, 8, 0, before=[actl, fctl], after=[fctl2, fdat]),
        "unknown-ancillary": Png(g, 8, 0, before=[unknown, idat_lookalike], after=[unknown]),
        # Pillow refuses these two ("APNG contains truncated acTL/fDAT chunk"); the rule is that
        # ancillary chunks are not interpreted, so they are counted.
        "apng-empty-actl": Png(g, 8, 0, before=[chunk(b"acTL", b"")]),
        "apng-stray-empty-fdat": Png(g, 8, 0, after=[chunk(b"fdAT", b"")]),
        "gama-unknown-after-idat": Png(g, 8, 0, 1, "mix", before=[gamma], after=[idat_lookalike]),
        "palette-text": Png(source("pal8", 9, 9, rng), 8, 3, before=[text]),
        "rgb-with-suggested-plte": Png(source("rgb8", 6, 7, rng), 8, 2, palette=True),
    }
    for aname, png in ancillary.items():
        cases.append(counted_case(f"ancillary-{aname}", png))
    another = Png(source("grey8", 3, 3, rng), 8, 0).build()
    trailers = {
        "garbage": b"\x00\xffgarbage\x1b[2J",
        "another-png": another,
        "bad-crc-chunk": chunk(b"IDAT", b"xx", crc=1),
        "unknown-critical": chunk(b"ABCD", b""),
        "one-byte": b"\x00",
    }
    for tname, trailer in trailers.items():
        png = Png(g, 8, 0, trailer=trailer)
        cases.append(counted_case(f"after-iend-{tname}", png))
    # A palette smaller than the indices used: the index is counted, the palette never read.
    small = Png(source("pal8", 8, 8, rng), 8, 3, palette=False, before=[palette_chunk(2)])
    cases.append(counted_case("palette-2-entries-index-255", small))
    # All zeros, deflate's best ratio: still within the memory rule.
    zeros = Png(np.zeros((2000, 2000, 1), np.uint8), 8, 0, level=9)
    cases.append(counted_case("all-zero-2000x2000", zeros))
    # The pixel limit: exactly at it is fine.
    png = Png(source("grey8", 10, 10, rng), 8, 0)
    cases.append(counted_case("max-pixels-equal", png, max_pixels=100))
    return cases


# --------------------------------------------------------------------------- hostile cases


def _replace(parts: list[bytes], index: int, new: bytes | list[bytes]) -> list[bytes]:
    return parts[:index] + ([new] if isinstance(new, bytes) else new) + parts[index + 1 :]


def _bad_crc(part: bytes) -> bytes:
    return part[:-4] + struct.pack(">I", struct.unpack(">I", part[-4:])[0] ^ 0x00010000)


def hostile_cases(rng: np.random.Generator) -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    g = source("grey8", 16, 16, rng, "noise")
    png = Png(g, 8, 0, idat_split=3)
    good = png.build()
    parts = png.chunks()  # IHDR, IDAT x3, IEND

    # Truncation: in the signature, and at every offset of a small file.
    add(refused("empty-file", b"", "empty"))
    for size in range(1, 8):
        add(refused(f"truncated-signature-{size}", SIGNATURE[:size], "truncated"))
    tiny = Png(source("pal2", 3, 4, rng), 2, 3, before=[chunk(b"tEXt", b"a\x00b")], idat_split=2).build()
    for size in range(8, len(tiny)):
        add(refused(f"truncated-small-at-{size}", tiny[:size], "truncated"))
    offsets = [33, 34, 37, 41, 45, 60, len(good) - 12, len(good) - 11, len(good) - 1]
    for size in offsets:
        add(refused(f"truncated-at-{size}", good[:size], "truncated"))
    for size in (3, 13, 29, 71, 131, 200, 250):
        add(refused(f"truncated-inside-idat-{size}", good[: 8 + 25 + size], "truncated"))

    # A bad CRC in every kind of chunk, ancillary ones included.
    text = chunk(b"tEXt", b"k\x00v")
    actl = chunk(b"acTL", struct.pack(">II", 1, 0))
    unknown = chunk(b"prVt", b"private")
    full = Png(source("pal8", 9, 11, rng), 8, 3, before=[text, actl, unknown], after=[text], idat_split=3)
    fparts = full.chunks()
    names = [p[4:8].decode() for p in fparts]
    seen: dict[str, int] = {}
    for i, part in enumerate(fparts):
        label = f"{names[i]}{seen.get(names[i], 0)}"
        seen[names[i]] = seen.get(names[i], 0) + 1
        add(refused(f"bad-crc-{label}", full.build(_replace(fparts, i, _bad_crc(part))), "crc"))
    add(
        refused(
            "bad-crc-zero-length-idat", png.build([*parts[:2], chunk(b"IDAT", b"", crc=0), *parts[2:]]), "crc"
        )
    )
    add(
        refused(
            "bad-crc-crc-of-data-only",
            png.build(_replace(parts, 1, chunk(b"IDAT", _data(parts[1]), zlib.crc32(_data(parts[1]))))),
            "crc",
        )
    )

    # Bad IHDR fields, each rule (CRC fixed up).
    def with_ihdr(name: str, ihdr: bytes, base: Png = png, cause: str = "ihdr") -> None:
        add(refused(name, base.build(base.chunks(ihdr=ihdr)), cause))

    for w, h in ((0, 16), (16, 0), (0, 0), (1 << 31, 16), (16, 1 << 31), (0xFFFFFFFF, 1), (1, 0xFFFFFFFF)):
        with_ihdr(f"ihdr-size-{w}x{h}", ihdr_data(w, h, 8, 0))
    for ctype in (0, 2, 3, 4, 6):
        for depth in (0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 32, 255):
            if depth not in DEPTHS[ctype]:
                with_ihdr(f"ihdr-depth-{depth}-ctype-{ctype}", ihdr_data(16, 16, depth, ctype))
    for ctype in (1, 5, 7, 8, 255):
        with_ihdr(f"ihdr-ctype-{ctype}", ihdr_data(16, 16, 8, ctype))
    for comp in (1, 8, 255):
        with_ihdr(f"ihdr-compression-{comp}", ihdr_data(16, 16, 8, 0, comp=comp))
    for filt in (1, 255):
        with_ihdr(f"ihdr-filter-method-{filt}", ihdr_data(16, 16, 8, 0, filt=filt))
    for interlace in (2, 255):
        with_ihdr(f"ihdr-interlace-{interlace}", ihdr_data(16, 16, 8, 0, interlace))
    with_ihdr("ihdr-12-bytes", png.ihdr()[:12])
    with_ihdr("ihdr-14-bytes", png.ihdr() + b"\x00")
    with_ihdr("ihdr-0-bytes", b"")
    add(refused("first-chunk-text", png.build([text, *parts]), "ihdr"))
    add(refused("first-chunk-idat", png.build(parts[1:]), "ihdr"))
    add(refused("first-chunk-iend", png.build([chunk(b"IEND", b"")]), "ihdr"))
    add(refused("only-signature-and-iend-after-ihdr", png.build([parts[0], parts[-1]]), "no_idat"))
    add(refused("second-ihdr-before-idat", png.build([parts[0], parts[0], *parts[1:]]), "ihdr"))
    add(refused("second-ihdr-after-idat", png.build([*parts[:-1], parts[0], parts[-1]]), "ihdr"))
    other = chunk(b"IHDR", ihdr_data(8, 8, 8, 0))
    add(refused("second-ihdr-different", png.build([parts[0], other, *parts[1:]]), "ihdr"))

    # Unknown critical chunks and chunk types that are not letters.
    for kind in (b"ABCD", b"IDAt", b"PLTe", b"Iend", b"IHDr"):
        add(
            refused(
                f"unknown-critical-{kind.decode()}",
                png.build([parts[0], chunk(kind, b"x"), *parts[1:]]),
                "critical",
            )
        )
    add(
        refused(
            "unknown-critical-after-idat",
            png.build([*parts[:-1], chunk(b"ZZZZ", b""), parts[-1]]),
            "critical",
        )
    )
    for label, kind in (
        ("esc-clear", b"\x1b[2J"),
        ("nul", b"\x00\x00\x00\x00"),
        ("digit", b"tEX1"),
        ("high", b"t\xffXt"),
        ("space", b"tE t"),
        ("del", b"\x7fDAT"),
    ):
        add(
            refused(
                f"chunk-type-{label}", png.build([parts[0], chunk(kind, b"abc"), *parts[1:]]), "chunk_type"
            )
        )
    add(
        refused(
            "chunk-type-esc-after-idat",
            png.build([*parts[:-1], chunk(b"\x1b[2J", b""), parts[-1]]),
            "chunk_type",
        )
    )
    add(
        refused(
            "chunk-length-over-2^31",
            png.build([parts[0], struct.pack(">I", 1 << 31) + b"tEXt" + b"\x00" * 8, *parts[1:]]),
            "chunk_length",
        )
    )

    # Palettes.
    pal = Png(source("pal4", 7, 9, rng), 4, 3, palette=False)
    add(refused("palette-without-plte", pal.build(), "palette"))
    pal_after = pal.chunks()
    add(
        refused(
            "palette-plte-after-idat", pal.build([*pal_after[:-1], palette_chunk(), pal_after[-1]]), "palette"
        )
    )
    for kind, (ctype, depth) in (("grey8", (0, 8)), ("ga8", (4, 8)), ("grey2", (0, 2))):
        grey = Png(source(kind, 5, 6, rng), depth, ctype, palette=True)
        add(refused(f"plte-in-{kind}", grey.build(), "palette"))

    # IDAT: missing, not consecutive.
    add(refused("no-idat", png.build([parts[0], text, parts[-1]]), "no_idat"))
    add(refused("no-idat-palette", full.build([fparts[0], fparts[1], fparts[-1]]), "no_idat"))
    add(
        refused(
            "idat-not-consecutive-text",
            png.build([parts[0], parts[1], text, parts[2], parts[3], parts[4]]),
            "idat_order",
        )
    )
    add(
        refused(
            "idat-not-consecutive-unknown",
            png.build([parts[0], parts[1], parts[2], unknown, parts[3], parts[4]]),
            "idat_order",
        )
    )
    add(
        refused(
            "idat-not-consecutive-empty-after",
            png.build([*parts[:4], text, chunk(b"IDAT", b""), parts[4]]),
            "idat_order",
        )
    )
    add(
        refused(
            "idat-all-zero-length",
            png.build([parts[0], chunk(b"IDAT", b""), chunk(b"IDAT", b""), parts[-1]]),
            "short_stream",
        )
    )

    # The zlib stream: short, long, trailing bytes, Adler-32, deflate data, header.
    raw = png.raw()

    def with_stream(name: str, stream: bytes, cause: str, base: Png = png) -> None:
        add(refused(name, base.build(base.chunks(stream=stream)), cause))

    with_stream("stream-short-1-byte", compress(raw[:-1]), "size")
    with_stream("stream-short-1-row", compress(raw[: -(1 + 16)]), "size")
    with_stream("stream-empty-complete", compress(b""), "size")
    with_stream("stream-long-1-byte", compress(raw + b"\x00"), "size")
    with_stream("stream-long-1-row", compress(raw + raw[:17]), "size")
    with_stream("stream-long-double", compress(raw + raw), "size")
    stream = png.stream()
    for extra in (b"\x00", b"\x03\x00", stream):
        with_stream(f"stream-trailing-{len(extra)}-bytes", stream + extra, "trailing")
    add(
        refused(
            "stream-trailing-in-own-idat",
            png.build([parts[0], *png.chunks(stream)[1:-1], chunk(b"IDAT", b"\x00\x00"), parts[-1]]),
            "trailing",
        )
    )
    adler = struct.unpack(">I", stream[-4:])[0]
    with_stream("stream-bad-adler", stream[:-4] + struct.pack(">I", adler ^ 1), "zlib")
    with_stream("stream-adler-zero", stream[:-4] + b"\x00\x00\x00\x00", "zlib")
    with_stream("stream-no-adler", stream[:-4], "short_stream")
    for cut in (1, 2, 5, len(stream) // 2, len(stream) - 5):
        with_stream(f"stream-cut-{cut}", stream[:cut], "short_stream")
    with_stream("stream-bad-header-check", bytes([stream[0], stream[1] ^ 1]) + stream[2:], "zlib")
    with_stream("stream-method-7", bytes([0x77, _fcheck(0x77, 0)]) + stream[2:], "zlib")
    with_stream("stream-window-too-big", bytes([0x88, _fcheck(0x88, 0)]) + stream[2:], "zlib")
    with_stream(
        "stream-preset-dictionary",
        bytes([0x78, _fcheck(0x78, 0x20)]) + b"\x00\x00\x00\x01" + stream[2:],
        "zlib",
    )
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -15).compress(raw)
    with_stream("stream-raw-deflate", raw_deflate + zlib.compressobj(6, zlib.DEFLATED, -15).flush(), "zlib")
    gz = zlib.compressobj(6, zlib.DEFLATED, 31)
    with_stream("stream-gzip", gz.compress(raw) + gz.flush(), "zlib")
    with_stream("stream-reserved-block-type", stream[:2] + bytes([0x07]) + stream[3:], "zlib")
    stored = compress(raw, 0)
    # A stored block whose LEN/NLEN do not match.
    with_stream("stream-stored-len-nlen", stored[:5] + bytes([stored[5] ^ 0xFF]) + stored[6:], "zlib")
    # Deflate data flipped in the middle (the stream may still end; then the Adler-32 fails).
    for pos in (3, 10, len(stream) // 2):
        with_stream(
            f"stream-flip-{pos}", stream[:pos] + bytes([stream[pos] ^ 0x55]) + stream[pos + 1 :], "stream"
        )
    # Reordered IDAT chunks: every CRC right, the stream garbled.
    add(refused("idat-swapped", png.build([parts[0], parts[2], parts[1], parts[3], parts[4]]), "stream"))
    add(
        refused(
            "idat-duplicated",
            png.build([parts[0], parts[1], parts[1], parts[2], parts[3], parts[4]]),
            "stream",
        )
    )
    add(refused("idat-one-dropped", png.build([parts[0], parts[1], parts[3], parts[4]]), "stream"))

    # Bad filter bytes, in a plain image and in an interlaced pass.
    for kind, interlace in (
        ("grey8", 0),
        ("grey16", 0),
        ("pal2", 0),
        ("ga8", 0),
        ("grey8", 1),
        ("pal4", 1),
        ("rgb8", 0),
        ("rgba8", 1),
    ):
        ctype, depth = KINDS[kind]
        base = Png(source(kind, 11, 13, rng), depth, ctype, interlace, "mix")
        starts = row_starts(13, 11, depth, ctype, interlace)
        for bad in (5, 7, 255):
            braw = bytearray(base.raw())
            braw[starts[3]] = bad
            with_stream(f"filter-{bad}-{kind}-i{interlace}", compress(bytes(braw)), "filter", base)
        braw = bytearray(base.raw())
        braw[starts[-1]] = 5
        with_stream(f"filter-5-{kind}-i{interlace}-last-row", compress(bytes(braw)), "filter", base)
        braw = bytearray(base.raw())
        braw[starts[0]] = 5
        with_stream(f"filter-5-{kind}-i{interlace}-first-row", compress(bytes(braw)), "filter", base)

    # Memory follows the file: IHDR promising far more than the data can hold.
    bomb_ihdr = ihdr_data(1, 89_478_485, 8, 0)
    tiny_stream = compress(b"\x00\x00" * 4)[:12].ljust(12, b"\x00")
    file69 = SIGNATURE + chunk(b"IHDR", bomb_ihdr) + chunk(b"IDAT", tiny_stream) + chunk(b"IEND", b"")
    assert len(file69) == 69, len(file69)
    add(refused("bomb-69-bytes-1x89478485", file69, "memory"))
    add(refused("bomb-69-bytes-1x89478485-limit", file69, "limit", max_pixels=89_478_484))
    for label, (w, h, depth, ctype, interlace) in {
        "max-rgba16": (MAX_CHUNK_LENGTH, MAX_CHUNK_LENGTH, 16, 6, 0),
        "max-rgba16-adam7": (MAX_CHUNK_LENGTH, MAX_CHUNK_LENGTH, 16, 6, 1),
        "max-grey1": (MAX_CHUNK_LENGTH, MAX_CHUNK_LENGTH, 1, 0, 0),
        "wide-grey16": (MAX_CHUNK_LENGTH, 1, 16, 0, 0),
        "tall-pal1-adam7": (1, MAX_CHUNK_LENGTH, 1, 3, 1),
        "60000-square": (60000, 60000, 8, 0, 0),
    }.items():
        data = SIGNATURE + chunk(b"IHDR", ihdr_data(w, h, depth, ctype, interlace))
        if ctype == 3:
            data += palette_chunk(2)
        data += chunk(b"IDAT", compress(b"\x00" * 1000)) + chunk(b"IEND", b"")
        add(refused(f"bomb-header-{label}", data, "memory"))
    # An all-zero 2000x2000 image: deflate's best ratio (about 1030:1) is within the memory
    # rule, so it must be counted; with half its stream, the rule decides (computed, not guessed).
    zeros2k = Png(np.zeros((2000, 2000, 1), np.uint8), 8, 0, level=9)
    zraw = zeros2k.raw()
    zstream = compress(zraw, 9)
    assert len(zraw) <= INFLATE_RATIO * len(zstream) + INFLATE_SLACK
    half = compress(zraw[: len(zraw) // 2], 9)
    cause = "memory" if len(zraw) > INFLATE_RATIO * len(half) + INFLATE_SLACK else "size"
    add(refused("bomb-zeros-2000x2000-half-stream", zeros2k.build(zeros2k.chunks(stream=half)), cause))
    # The memory rule's boundary: implied == 1032 * payload + 64 KiB passes it (the stream, cut short,
    # is refused later); one byte more is refused by the rule. The payload is summed over every IDAT.
    for interlace in (0, 1):
        for payload in range(20, 40):
            target = INFLATE_RATIO * payload + INFLATE_SLACK
            widths = {implied_size(w, 1, 8, 0, interlace): w for w in range(target - 40, target + 40)}
            if target in widths and target + 1 in widths:
                break
        for label, implied in (("at", target), ("over", target + 1)):
            cut = compress(bytes(implied), 9)[:payload]
            data = SIGNATURE + chunk(b"IHDR", ihdr_data(widths[implied], 1, 8, 0, interlace))
            data += chunk(b"IDAT", cut[:7]) + chunk(b"IDAT", b"") + chunk(b"IDAT", cut[7:])
            data += chunk(b"IEND", b"")
            cause = "memory" if label == "over" else "stream_not_memory"
            add(refused(f"memory-rule-{label}-boundary-i{interlace}", data, cause))
    # A small stream inflating to far more than IHDR implies (16x16 image, 64 MiB of zeros).
    zeros = zlib.compressobj(9)
    bomb = b"".join(zeros.compress(b"\x00" * (1 << 20)) for _ in range(64)) + zeros.flush()
    add(refused("bomb-stream-64mib-for-16x16", png.build(png.chunks(stream=bomb)), "size"))
    add(refused("limit-over-by-one", Png(g, 8, 0).build(), "limit", max_pixels=255))
    add(refused("limit-colour", Png(source("rgb8", 4, 4, rng), 8, 2).build(), "limit", max_pixels=15))

    # Colour images are refused like the others when broken.
    colour = Png(source("rgb16", 6, 6, rng), 16, 2, 1, "mix")
    add(
        refused(
            "colour-bad-crc-idat",
            colour.build(_replace(colour.chunks(), 1, _bad_crc(colour.chunks()[1]))),
            "crc",
        )
    )
    add(
        refused(
            "colour-short-stream", colour.build(colour.chunks(stream=compress(colour.raw()[:-2]))), "size"
        )
    )
    return cases


def _data(part: bytes) -> bytes:
    return part[8:-4]


def _fcheck(cmf: int, flags: int) -> int:
    """The zlib FLG byte with ``flags`` (FLEVEL/FDICT bits) and a valid FCHECK for ``cmf``."""
    flg = flags
    return flg + (31 - (cmf * 256 + flg) % 31) % 31


def not_png_cases() -> list[Case]:
    return [
        Case("notpng-tiff-header", b"II*\x00" + b"\x00" * 60, "notpng"),
        Case("notpng-text", b"hello world, not an image\n", "notpng"),
        Case("notpng-signature-wrong-byte", SIGNATURE[:7] + b"X" + b"\x00" * 40, "notpng"),
        Case("notpng-jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 20, "notpng"),
    ]


def corpus(seed: int = 12) -> list[Case]:
    """Every case, valid then hostile then not-PNG (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    cases = valid_cases(rng) + hostile_cases(rng) + not_png_cases()
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases


# --------------------------------------------------------------------------- verdicts

Outcome = tuple[Any, ...]
Decoder = Callable[[bytes], Outcome]


def int64s(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i8").astype(np.int64)


def outcome_of(result: tuple[Any, ...]) -> Outcome:
    """A ``count_chunk`` result tuple as a decoder outcome."""
    code = result[0]
    if code == 0:
        return ("ok", int64s(result[6]), int64s(result[7]))
    if code == 1:
        return ("colour", result[6])
    if code == 2:
        return ("notpng", result[1])
    if code == 3:
        return ("refused", result[1])
    return ("oserror", *result[1:])


def check_outcome(case: Case, outcome: Outcome) -> None:
    """Raise AssertionError unless ``outcome`` is the verdict ``case`` expects."""
    where = f"{case.name}: got {_short(outcome)}"
    assert outcome[0] == case.verdict, f"{where}, expected {case.verdict} {case.cause}"
    if case.verdict == "ok":
        assert case.values is not None and case.counts is not None
        values, counts = np.asarray(outcome[1]), np.asarray(outcome[2])
        assert values.tolist() == case.values.tolist(), f"{where}: values differ"
        assert counts.tolist() == case.counts.tolist(), f"{where}: counts differ"
    elif case.verdict == "refused":
        message = outcome[1]
        assert isinstance(message, str) and message, where
        assert not CONTROL.search(message), f"{where}: raw control bytes in the message"
        assert "\n" not in message, where
        assert re.search(CAUSES[case.cause], message), f"{where}: message is not of kind {case.cause!r}"


def _short(outcome: Outcome) -> str:
    if outcome[0] == "ok":
        return f"ok values={np.asarray(outcome[1]).tolist()[:8]} counts={np.asarray(outcome[2]).tolist()[:8]}"
    return repr(outcome)[:300]


def check_decoder(decode: Decoder, cases: Iterable[Case]) -> list[str]:
    """Every case through ``decode``; the failures, one line each (empty: all verdicts right)."""
    failures = []
    for case in cases:
        try:
            check_outcome(case, decode(case.data))
        except AssertionError as exc:
            failures.append(str(exc))
    return failures


# --------------------------------------------------------------------------- reference reader


def _name(kind: bytes) -> str:
    return "".join(chr(b) if 0x20 < b < 0x7F else f"\\x{b:02x}" for b in kind)


def reference_count(data: bytes, max_pixels: int = -1, check_only: bool = False) -> tuple[Any, ...]:
    """A slow, plain reader of the API's rules returning ``count_chunk``-shaped tuples.

    Written for clarity, not speed: the fuzzer compares the compiled reader with it.
    """
    if not data:
        return (3, "empty file (0 bytes)")  # what the Python decoders say too
    if not data.startswith(SIGNATURE):
        if len(data) < 8 and SIGNATURE.startswith(data):
            return (3, f"truncated file (ends at byte {len(data)}, in the PNG signature)")
        return (2, "not a PNG file")
    size, position = len(data), 8
    header: tuple[int, ...] | None = None
    payload: list[bytes] = []
    idat_state = "before"
    palette = False
    while True:
        if position + 12 > size:
            return (3, f"truncated file (ends at byte {size}, before the IEND chunk)")
        length, kind = struct.unpack_from(">I4s", data, position)
        if length > MAX_CHUNK_LENGTH:
            return (3, f"truncated file (chunk at byte {position} claims {length} bytes)")
        if position + 12 + length > size:
            return (3, f"truncated file ({_name(kind)} chunk at byte {position} is cut short)")
        body = data[position + 8 : position + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack_from(">I", data, position + 8 + length)[0]:
            return (3, f"corrupt image data: bad CRC checksum in the {_name(kind)} chunk at byte {position}")
        if not all(65 <= b <= 90 or 97 <= b <= 122 for b in kind):
            return (3, f"corrupt image data: bad chunk type {_name(kind)} at byte {position}")
        if header is None:
            if kind != b"IHDR" or length != 13:
                return (3, "corrupt image data: the first chunk is not a 13-byte IHDR")
            header = struct.unpack(">IIBBBBB", body)
            w, h, depth, ctype, comp, filt, interlace = header
            if not (0 < w <= MAX_CHUNK_LENGTH and 0 < h <= MAX_CHUNK_LENGTH):
                return (3, f"corrupt image data: bad IHDR: image size {w}x{h}")
            if ctype not in DEPTHS or depth not in DEPTHS[ctype]:
                return (3, f"corrupt image data: bad IHDR: bit depth {depth} with colour type {ctype}")
            if comp or filt or interlace > 1:
                return (
                    3,
                    f"corrupt image data: bad IHDR: compression {comp}, filter {filt}, interlace {interlace}",
                )
            if max_pixels is not None and max_pixels >= 0 and w * h > max_pixels:
                return (3, f"image of {w}x{h} pixels is over the limit of {max_pixels} pixels")
        elif kind == b"IHDR":
            return (3, f"corrupt image data: a second IHDR chunk at byte {position}")
        elif kind == b"IDAT":
            if idat_state == "after":
                return (3, f"corrupt image data: IDAT chunks are not consecutive (byte {position})")
            if header[3] == 3 and not palette:
                return (3, "corrupt image data: palette image without a PLTE chunk before IDAT")
            idat_state = "in"
            payload.append(body)
        elif kind == b"PLTE":
            if header[3] in (0, 4):
                return (3, "corrupt image data: PLTE chunk in a grey image")
            if idat_state == "before":
                palette = True
        elif kind == b"IEND":
            break
        elif kind[0] & 0x20 == 0:
            return (3, f"corrupt image data: unknown critical chunk {_name(kind)}")
        if idat_state == "in" and kind != b"IDAT":
            idat_state = "after"
        position += 12 + length
    assert header is not None
    w, h, depth, ctype, _, _, interlace = header
    if idat_state == "before":
        return (3, "corrupt image data: no image data (IDAT chunk)")
    if ctype == 3 and not palette:
        return (3, "corrupt image data: palette image without a PLTE chunk")
    stream = b"".join(payload)
    implied = implied_size(w, h, depth, ctype, interlace)
    if implied > INFLATE_RATIO * len(stream) + INFLATE_SLACK:
        return (
            3,
            f"truncated file ({len(stream)} bytes of compressed image data cannot hold "
            f"the {implied} bytes IHDR implies)",
        )
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(stream, implied + 1)
    except zlib.error as exc:
        return (3, f"corrupt image data: invalid compressed image data ({exc})")
    if len(raw) > implied:
        return (3, f"corrupt image data: the image data holds more than the {implied} bytes IHDR implies")
    if not inflater.eof:
        try:
            more = inflater.decompress(inflater.unconsumed_tail, 1)
        except zlib.error as exc:
            return (3, f"corrupt image data: invalid compressed image data ({exc})")
        if more:
            return (3, f"corrupt image data: the image data holds more than the {implied} bytes IHDR implies")
        if not inflater.eof:
            return (3, "truncated file (the compressed image data is cut short)")
    if inflater.unused_data:
        return (3, "corrupt image data: data after the end of the compressed image stream")
    if len(raw) < implied:
        return (3, f"truncated file (image data holds {len(raw)} of the {implied} bytes IHDR implies)")
    band = _unfilter_band(raw, w, h, depth, ctype, interlace)
    if isinstance(band, str):
        return (3, band)
    if ctype in (2, 6):
        return (1, w, h, depth, ctype, interlace, "RGB colour image" if ctype == 2 else "RGBA colour image")
    if check_only:
        return (0, w, h, depth, ctype, interlace, b"", b"")
    values, counts = np.unique(band, return_counts=True)
    return (0, w, h, depth, ctype, interlace, values.astype("<i8").tobytes(), counts.astype("<i8").tobytes())


def _unfilter_band(raw: bytes, w: int, h: int, depth: int, ctype: int, interlace: int) -> np.ndarray | str:
    """The first sample of every pixel, or the message of the first bad filter byte."""
    channels = CHANNELS[ctype]
    bpp = bytes_per_pixel(depth, ctype)
    bands = []
    position = 0
    for x0, y0, dx, dy in passes(w, h, interlace):
        pw, ph = (w - x0 + dx - 1) // dx, (h - y0 + dy - 1) // dy
        stride = (pw * depth * channels + 7) // 8
        prior = bytearray(stride)
        for row in range(ph):
            ftype = raw[position]
            line = bytearray(raw[position + 1 : position + 1 + stride])
            position += 1 + stride
            if ftype > 4:
                where = f"row {row}" + (f" of pass {ADAM7.index((x0, y0, dx, dy)) + 1}" if interlace else "")
                return f"corrupt image data: bad filter type {ftype} in {where}"
            if ftype == 2:
                line = bytearray((np.frombuffer(line, np.uint8) + np.frombuffer(prior, np.uint8)).tobytes())
            elif ftype == 1:
                lanes = np.frombuffer(line, np.uint8).reshape(-1, bpp).astype(np.int64)
                line = bytearray((np.cumsum(lanes, axis=0) & 0xFF).astype(np.uint8).tobytes())
            elif ftype in (3, 4):
                _unfilter_slow(ftype, line, prior, bpp)
            prior = line
            bands.append(_samples(bytes(line), pw, depth, channels))
    return np.concatenate(bands) if bands else np.zeros(0, np.int64)


def _unfilter_slow(ftype: int, line: bytearray, prior: bytearray, bpp: int) -> None:
    """Average and Paeth, byte by byte (PNG specification 7.3, 9.2-9.4)."""
    for i in range(len(line)):
        a = line[i - bpp] if i >= bpp else 0
        b = prior[i]
        c = prior[i - bpp] if i >= bpp else 0
        if ftype == 3:
            line[i] = (line[i] + (a + b) // 2) & 0xFF
        else:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            line[i] = (line[i] + pred) & 0xFF


def _samples(line: bytes, width: int, depth: int, channels: int) -> np.ndarray:
    if depth == 16:
        values = np.frombuffer(line, ">u2").astype(np.int64)
    elif depth == 8:
        values = np.frombuffer(line, np.uint8).astype(np.int64)
    else:
        bits = np.unpackbits(np.frombuffer(line, np.uint8))
        usable = bits[: (len(bits) // depth) * depth].reshape(-1, depth).astype(np.int64)
        values = usable @ (1 << np.arange(depth - 1, -1, -1))
    return values[: width * channels : channels]
