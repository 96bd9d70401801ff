"""A plain, slow, pure-Python PNG reader of the compiled reader's rules (the fuzzer's second opinion).

:func:`reference_count` returns ``count_chunk``-shaped tuples. It is written for
clarity, not speed, and shares no code with segstats.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np
from pngforge import (
    ADAM7,
    CHANNELS,
    DEPTHS,
    MAX_CHUNK_LENGTH,
    SIGNATURE,
    bytes_per_pixel,
    implied_size,
    passes,
)

# The reader's memory rule: implied bytes above this many per IDAT payload byte (+64 KiB) are refused.
INFLATE_RATIO = 1032
INFLATE_SLACK = 64 * 1024


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
            # PNG specification 11.2.3: no PLTE in a grey image (colour types 0 and 4), at most
            # one, before the first IDAT, holding 1 to 256 entries of 3 bytes each.
            if header[3] in (0, 4):
                return (3, "corrupt image data: PLTE chunk in a grey image")
            if palette:
                return (3, f"corrupt image data: a second PLTE chunk (byte {position})")
            if idat_state != "before":
                return (3, f"corrupt image data: PLTE after the image data (byte {position})")
            if not (1 <= length // 3 <= 256 and length % 3 == 0):
                return (3, f"corrupt image data: PLTE of {length} bytes is not 1 to 256 RGB entries")
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
