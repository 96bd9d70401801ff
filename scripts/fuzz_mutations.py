"""The mutations of scripts/fuzz_native.py: raw bytes, chunks, IHDR fields, scanlines.

Chunk-level and scanline mutations keep the framing parseable and fix CRCs up,
so that what they change reaches IHDR checks, inflate and the unfilter/count
kernels instead of stopping at the first CRC check.
"""

from __future__ import annotations

import os
import random
import struct
import sys
import zlib
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

import numpy as np
import pngcorpus as pc

# Scanlines above this size are not inflated and recompressed by a mutation (bombs, big seeds).
RAW_LIMIT = 1 << 21


# --------------------------------------------------------------------------- chunk helpers


def parse_chunks(data: bytes) -> list[list[Any]] | None:
    """[length, type, body, crc] of each chunk (lenient; None if the framing is broken)."""
    if not data.startswith(pc.SIGNATURE):
        return None
    out, position = [], 8
    while position + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        if position + 12 + length > len(data):
            return None
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack_from(">I", data, position + 8 + length)
        out.append([length, kind, body, crc])
        position += 12 + length
    return out if position == len(data) else None


def join_chunks(chunks: list[list[Any]], fix_crc: bool) -> bytes:
    parts = [pc.SIGNATURE]
    for length, kind, body, crc in chunks:
        value = zlib.crc32(kind + body) if fix_crc else crc
        parts.append(
            struct.pack(">I4s", length & 0xFFFFFFFF, kind) + body + struct.pack(">I", value & 0xFFFFFFFF)
        )
    return b"".join(parts)


def fresh(kind: bytes, body: bytes) -> list[Any]:
    return [len(body), kind, body, zlib.crc32(kind + body)]


def idat_run(chunks: list[list[Any]]) -> tuple[int, int] | None:
    """First and one-past-last index of the first run of IDAT chunks."""
    first = next((i for i, c in enumerate(chunks) if c[1] == b"IDAT"), None)
    if first is None:
        return None
    last = first
    while last < len(chunks) and chunks[last][1] == b"IDAT":
        last += 1
    return first, last


# --------------------------------------------------------------------------- mutations

INTERESTING32 = [0, 1, 2, 7, 8, 13, 255, 256, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


def m_bitflip(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 8))):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def m_byte(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    out[rng.randrange(len(out))] = rng.choice((0, 1, 4, 5, 0x7F, 0x80, 0xFF, rng.randrange(256)))
    return bytes(out)


def m_insert(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + bytes(rng.randrange(256) for _ in range(rng.choice((1, 2, 4, 12, 64)))) + data[i:]


def m_delete(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 2:
        return data
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.choice((1, 2, 4, 12, 64)) :]


def m_truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def m_duplicate(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.choice((1, 4, 16, 100)))
    return data[:j] + data[i:j] + data[j:]


def m_chunks(rng: random.Random, data: bytes) -> bytes | None:
    chunks = parse_chunks(data)
    if not chunks:
        return None
    op = rng.randrange(9)
    i = rng.randrange(len(chunks))
    if op == 0:  # length field edit (CRC then fixed over the old body)
        chunks[i][0] = rng.choice([*INTERESTING32, chunks[i][0] + rng.choice((-1, 1))])
    elif op == 1:
        del chunks[i]
    elif op == 2:
        chunks.insert(rng.randrange(len(chunks) + 1), list(chunks[i]))
    elif op == 3:
        j = rng.randrange(len(chunks))
        chunks[i], chunks[j] = chunks[j], chunks[i]
    elif op == 4:
        kind = rng.choice(
            [b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tEXt", b"acTL", b"fdAT", b"ABCD", b"prVt", b"\x1b[2J"]
        )
        body = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 3, 13, 30))))
        chunks.insert(rng.randrange(len(chunks) + 1), fresh(kind, body))
    elif op == 5:  # mutate a chunk body
        body = m_bitflip(rng, chunks[i][2]) if rng.random() < 0.5 else m_byte(rng, chunks[i][2])
        chunks[i] = fresh(chunks[i][1], body)
    elif op == 6:  # chunk type byte
        kind = bytearray(chunks[i][1])
        kind[rng.randrange(4)] ^= rng.choice((0x20, 0x01, 0x80))
        chunks[i][1] = bytes(kind)
    else:  # split or merge the IDAT run
        run = idat_run(chunks)
        if run is None:
            return None
        first, last = run
        stream = b"".join(c[2] for c in chunks[first:last])
        sizes = rng.choice(([1], [rng.randrange(1, 64)], [len(stream) or 1], [0, 5], [3, 0, 1]))
        pieces = []
        pos = 0
        while pos < len(stream):
            size = sizes[len(pieces) % len(sizes)]
            pieces.append(stream[pos : pos + size])
            pos += size
            if len(pieces) > 4000:
                pieces.append(stream[pos:])
                break
        chunks[first:last] = [fresh(b"IDAT", p) for p in pieces or [b""]]
    return join_chunks(chunks, fix_crc=op != 0 or rng.random() < 0.5)


def m_ihdr(rng: random.Random, data: bytes) -> bytes | None:
    chunks = parse_chunks(data)
    if not chunks or chunks[0][1] != b"IHDR" or len(chunks[0][2]) != 13:
        return None
    w, h, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][2])
    field = rng.randrange(6)
    if field == 0:
        w = rng.choice([*INTERESTING32, w + 1, max(0, w - 1), w * 2])
    elif field == 1:
        h = rng.choice([*INTERESTING32, h + 1, max(0, h - 1), h * 2])
    elif field == 2:
        depth = rng.choice((1, 2, 4, 8, 16, 0, 3, 32, rng.randrange(256)))
    elif field == 3:
        ctype = rng.choice((0, 2, 3, 4, 6, 1, 5, 7, rng.randrange(256)))
    elif field == 4:
        interlace = rng.choice((0, 1, 2, 255))
    else:
        comp, filt = rng.choice(((0, 0), (1, 0), (0, 1)))
    body = struct.pack(">IIBBBBB", w & 0xFFFFFFFF, h & 0xFFFFFFFF, depth, ctype, comp, filt, interlace)
    chunks[0] = fresh(b"IHDR", body)
    return join_chunks(chunks, fix_crc=True)


def m_scanlines(rng: random.Random, data: bytes) -> bytes | None:
    """Inflate the IDAT stream, mutate the scanlines, compress again (the kernel sees the change)."""
    chunks = parse_chunks(data)
    run = idat_run(chunks) if chunks else None
    if not chunks or run is None:
        return None
    first, last = run
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(b"".join(c[2] for c in chunks[first:last]), RAW_LIMIT)
    except zlib.error:
        return None
    if not raw or not inflater.eof:  # broken, or a bomb: not worth recompressing
        return None
    out = bytearray(raw)
    op = rng.randrange(6)
    if op == 0:  # pixel bytes
        for _ in range(rng.choice((1, 3, 20))):
            out[rng.randrange(len(out))] = rng.randrange(256)
    elif op == 1:  # a run of equal bytes (the word-skipping paths)
        i = rng.randrange(len(out))
        out[i : i + 64] = bytes([rng.randrange(256)]) * len(out[i : i + 64])
    elif op == 2:  # one byte more or less
        out = out + b"\x00" if rng.random() < 0.5 else out[:-1]
    elif op == 3:  # a valid filter byte changed to another valid one: still a valid image
        header = chunks[0][2]
        if chunks[0][1] == b"IHDR" and len(header) == 13:
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", header)
            if ctype in pc.DEPTHS and depth in pc.DEPTHS[ctype] and interlace < 2 and w * h < 1 << 20:
                starts = pc.row_starts(w, h, depth, ctype, interlace)
                for start in rng.sample(starts, min(len(starts), 3)):
                    if start < len(out):
                        out[start] = rng.randrange(5)
    elif op == 4:  # a bad filter byte
        out[rng.randrange(len(out))] = rng.choice((5, 6, 255))
    else:  # random content of the right size, valid filter bytes: a new valid image
        header = chunks[0][2]
        if chunks[0][1] == b"IHDR" and len(header) == 13:
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", header)
            if ctype in pc.DEPTHS and depth in pc.DEPTHS[ctype] and interlace < 2 and w * h < 1 << 18:
                out = bytearray(rng.randbytes(len(raw)))
                for start in pc.row_starts(w, h, depth, ctype, interlace):
                    if start < len(out):
                        out[start] = rng.randrange(5)
    level = rng.choice((0, 1, 6, 9))
    strategy = rng.choice((zlib.Z_DEFAULT_STRATEGY, zlib.Z_RLE, zlib.Z_FIXED, zlib.Z_HUFFMAN_ONLY))
    stream = pc.compress(bytes(out), level, strategy)
    pieces = pc.split(stream, rng.choice((1, 1, 2, 5, [1], [rng.randrange(1, 100)])))
    chunks[first:last] = [fresh(b"IDAT", p) for p in pieces]
    return join_chunks(chunks, fix_crc=True)


def m_new_image(rng: random.Random, data: bytes) -> bytes:
    """A fresh small valid image of a random kind (so every kind keeps being exercised)."""
    kind = rng.choice(list(pc.KINDS))
    ctype, depth = pc.KINDS[kind]
    height, width = rng.randrange(1, 40), rng.randrange(1, 70)
    np_rng = np.random.default_rng(rng.randrange(1 << 30))
    style = rng.choice(("noise", "blocky", "sparse"))
    filters: Any = rng.choice((0, 1, 2, 3, 4, "mix"))
    png = pc.Png(pc.source(kind, height, width, np_rng, style), depth, ctype, rng.randrange(2), filters)
    png.idat_split = rng.choice((1, 1, 3, [1], [7]))
    return png.build()


MUTATIONS: list[tuple[Callable[..., bytes | None], int]] = [
    (m_bitflip, 10),
    (m_byte, 6),
    (m_insert, 3),
    (m_delete, 3),
    (m_truncate, 3),
    (m_duplicate, 2),
    (m_chunks, 14),
    (m_ihdr, 8),
    (m_scanlines, 16),
    (m_new_image, 3),
]


def fix_all_crcs(data: bytes) -> bytes:
    chunks = parse_chunks(data)
    return join_chunks(chunks, fix_crc=True) if chunks else data


def mutate(rng: random.Random, data: bytes) -> bytes:
    functions, weights = zip(*MUTATIONS, strict=True)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        new = rng.choices(functions, weights)[0](rng, data)
        if new is not None:
            data = new
    if rng.random() < 0.6:  # most mutations then get past the CRC check, to IHDR, inflate, the kernel
        data = fix_all_crcs(data)
    return data
