"""segstats._native: one case per refusal rule of the spec (native_api: "One verdict"), each with
its message, under libdeflate and zlib, counting or check_only.

Build the module first: ``python setup.py build_ext --inplace``.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from pngwriter import SIGNATURE, chunk, counted, drifting_mask, ihdr, make_png, reference, scanlines

import segstats._native as _native

if not hasattr(_native, "count_chunk"):  # the source folder imports as an empty namespace package
    raise ImportError("segstats._native is not built: run python setup.py build_ext --inplace")


def count_one(data: bytes, max_pixels: int | None = None, **kwargs: bool) -> tuple:
    (result,) = _native.count_chunk([data], max_pixels, **kwargs)
    return result


# ------------------------------------------------------------------ refusals
GREY = np.arange(48).reshape(6, 8) % 7


def good_png() -> bytes:
    return make_png(GREY, 8, 0, before_idat=chunk(b"tEXt", b"k\x00v"))


def replace_chunk(data: bytes, kind: bytes, new: bytes) -> bytes:
    """``data`` with its first ``kind`` chunk replaced by the bytes ``new``."""
    at = data.index(kind) - 4
    (length,) = struct.unpack_from(">I", data, at)
    return data[:at] + new + data[at + 12 + length :]


def with_stream(stream: bytes, width: int = 8, height: int = 6) -> bytes:
    return SIGNATURE + ihdr(width, height, 8, 0) + chunk(b"IDAT", stream) + chunk(b"IEND")


STREAM = zlib.compress(scanlines(GREY, 8, 0, lambda y: y % 5))
TEXT_AT = 33  # the tEXt chunk's offset in good_png(): signature 8 + IHDR 25
IDAT_AT = 33 + 15


def refusals() -> list[tuple[str, bytes, str]]:
    """(rule, data, expected message) for every refusal rule of the spec."""
    good = good_png()
    text = good[TEXT_AT : TEXT_AT + 15]
    no_iend = good[:-12]
    huge_length = good[:TEXT_AT] + struct.pack(">I", 1 << 31) + good[TEXT_AT + 4 :]
    bad_crc = good[: TEXT_AT + 11] + bytes([good[TEXT_AT + 11] ^ 1]) + good[TEXT_AT + 12 :]
    idat_crc = bytearray(good)
    idat_crc[IDAT_AT + 8] ^= 0xFF  # a byte of the IDAT data
    bad_type = good[: TEXT_AT + 5] + b"\x01" + good[TEXT_AT + 6 :]
    adler = bytearray(STREAM)
    adler[-1] ^= 1
    header = bytearray(STREAM)
    header[0] = 0x79  # CM 9
    bigger = zlib.compress(scanlines(np.zeros((7, 8), np.int64), 8, 0, lambda y: 0))
    bad_filter = bytearray(scanlines(GREY, 8, 0, lambda y: 0))
    bad_filter[2 * 9] = 7
    interlaced = bytearray(scanlines(GREY, 8, 1, lambda y: 0))
    interlaced[-9] = 5  # the last pass (7) has 3 rows of 8 bytes + filter byte: row 2 of pass 7
    return [
        ("truncated signature", SIGNATURE[:5], "truncated file (ends at byte 5, in the PNG signature)"),
        ("signature only", SIGNATURE, "truncated file (ends at byte 8, before the IHDR chunk)"),
        (
            "chunk cut short",
            good[: IDAT_AT + 20],
            f"truncated file (IDAT chunk at byte {IDAT_AT} needs {len(STREAM) + 12} bytes, "
            f"the file ends 20 bytes after it starts)",
        ),
        ("ends before IEND", no_iend, f"truncated file (ends at byte {len(no_iend)}, before the IEND chunk)"),
        ("ends before IDAT", good[:TEXT_AT], "truncated file (ends at byte 33, before the IDAT chunk)"),
        (
            "chunk length over 2^31-1",
            huge_length,
            f"corrupt image data: chunk tEXt at byte {TEXT_AT} claims 2147483648 bytes",
        ),
        (
            "bad CRC, ancillary",
            bad_crc,
            f"corrupt image data: bad CRC checksum in the tEXt chunk at byte {TEXT_AT}",
        ),
        (
            "bad CRC, IDAT",
            bytes(idat_crc),
            f"corrupt image data: bad CRC checksum in the IDAT chunk at byte {IDAT_AT}",
        ),
        ("type not a letter", bad_type, f"corrupt image data: bad chunk type 't\\x01Xt' at byte {TEXT_AT}"),
        (
            "first chunk not IHDR",
            SIGNATURE + text + good[8:],
            "corrupt image data: the first chunk is tEXt of 3 bytes, not IHDR",
        ),
        (
            "IHDR of 12 bytes",
            replace_chunk(good, b"IHDR", chunk(b"IHDR", bytes(12))),
            "corrupt image data: the first chunk is IHDR of 12 bytes, not IHDR",
        ),
        (
            "second IHDR",
            replace_chunk(good, b"tEXt", ihdr(8, 6, 8, 0)),
            f"corrupt image data: a second IHDR chunk at byte {TEXT_AT}",
        ),
        (
            "width 0",
            replace_chunk(good, b"IHDR", ihdr(0, 6, 8, 0)),
            "corrupt image data: bad IHDR: image size 0x6",
        ),
        (
            "height 0",
            replace_chunk(good, b"IHDR", ihdr(8, 0, 8, 0)),
            "corrupt image data: bad IHDR: image size 8x0",
        ),
        (
            "width over 2^31-1",
            replace_chunk(good, b"IHDR", ihdr(1 << 31, 6, 8, 0)),
            "corrupt image data: bad IHDR: image size 2147483648x6",
        ),
        (
            "bit depth 3 grey",
            replace_chunk(good, b"IHDR", ihdr(8, 6, 3, 0)),
            "corrupt image data: bad IHDR: bit depth 3 with colour type 0",
        ),
        (
            "bit depth 16 palette",
            replace_chunk(make_png(GREY, 8, 3), b"IHDR", ihdr(8, 6, 16, 3)),
            "corrupt image data: bad IHDR: bit depth 16 with colour type 3",
        ),
        (
            "bit depth 4 grey+alpha",
            replace_chunk(good, b"IHDR", ihdr(8, 6, 4, 4)),
            "corrupt image data: bad IHDR: bit depth 4 with colour type 4",
        ),
        (
            "colour type 5",
            replace_chunk(good, b"IHDR", ihdr(8, 6, 8, 5)),
            "corrupt image data: bad IHDR: colour type 5",
        ),
        (
            "compression 1",
            replace_chunk(good, b"IHDR", ihdr(8, 6, 8, 0, compression=1)),
            "corrupt image data: bad IHDR: compression 1, filter method 0, interlace 0",
        ),
        (
            "filter method 1",
            replace_chunk(good, b"IHDR", chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 6, 8, 0, 0, 1, 0))),
            "corrupt image data: bad IHDR: compression 0, filter method 1, interlace 0",
        ),
        (
            "interlace 2",
            replace_chunk(good, b"IHDR", ihdr(8, 6, 8, 0, interlace=2)),
            "corrupt image data: bad IHDR: compression 0, filter method 0, interlace 2",
        ),
        (
            "unknown critical chunk",
            replace_chunk(good, b"tEXt", chunk(b"XyZw", b"")),
            f"corrupt image data: unknown critical chunk XyZw at byte {TEXT_AT}",
        ),
        (
            "palette without PLTE",
            replace_chunk(good, b"IHDR", ihdr(8, 6, 8, 3)),
            "corrupt image data: colour type 3 (palette) without a PLTE chunk before the image data",
        ),
        (
            "PLTE after IDAT only",
            make_png(GREY, 8, 0, after_idat=chunk(b"PLTE", bytes(6))).replace(
                ihdr(8, 6, 8, 0), ihdr(8, 6, 8, 3)
            ),
            "corrupt image data: colour type 3 (palette) without a PLTE chunk before the image data",
        ),
        (
            "PLTE in a grey image",
            replace_chunk(good, b"tEXt", chunk(b"PLTE", bytes(6))),
            f"corrupt image data: a PLTE chunk in a grey image (colour type 0) at byte {TEXT_AT}",
        ),
        (
            "PLTE in a grey+alpha image",
            make_png(np.zeros((2, 2, 2), np.int64), 8, 4, before_idat=chunk(b"PLTE", bytes(6))),
            f"corrupt image data: a PLTE chunk in a grey image (colour type 4) at byte {TEXT_AT}",
        ),
        (
            "no IDAT",
            SIGNATURE + ihdr(8, 6, 8, 0) + chunk(b"IEND"),
            "corrupt image data: no image data (IDAT chunk)",
        ),
        (
            "IDAT not consecutive",
            make_png(GREY, 8, 0, idat_splits=[10], after_idat=b"").replace(
                chunk(b"IDAT", STREAM[10:]), text + chunk(b"IDAT", STREAM[10:])
            ),
            "corrupt image data: IDAT chunks are not consecutive "
            f"(another IDAT chunk at byte {33 + 22 + 15})",
        ),
        (
            "compressed data cannot hold IHDR's size",
            SIGNATURE + ihdr(100000, 100000, 8, 0) + chunk(b"IDAT", STREAM) + chunk(b"IEND"),
            f"truncated file ({len(STREAM)} bytes of compressed image data cannot hold the "
            f"{100000 * 100001} bytes IHDR implies)",
        ),
        (
            "invalid deflate data",
            with_stream(STREAM[:2] + b"\xff" * 20),
            "corrupt image data: invalid compressed image data (",
        ),
        (
            "bad zlib header",
            with_stream(bytes(header)),
            "corrupt image data: invalid compressed image data (",
        ),
        (
            "bad Adler-32",
            with_stream(bytes(adler)),
            "corrupt image data: invalid compressed image data (incorrect data check)",
        ),
        (
            "stream ends early",
            with_stream(STREAM[:-12]),
            "truncated file (image data holds ",
        ),
        (
            "stream ends early, after the pixels",
            with_stream(STREAM[:-2]),
            "truncated file (the compressed image data ends before the end of its stream)",
        ),
        (
            "more bytes than IHDR implies",
            with_stream(bigger),
            "corrupt image data: invalid compressed image data "
            "(more image data than the 54 bytes IHDR implies)",
        ),
        (
            "bytes after the end of the stream",
            with_stream(STREAM + b"\x00\x01\x02"),
            "corrupt image data: 3 bytes after the end of the compressed image data",
        ),
        (
            "bad filter type",
            with_stream(zlib.compress(bytes(bad_filter))),
            "corrupt image data: bad filter type 7 in row 2",
        ),
        (
            "bad filter type, interlaced",
            SIGNATURE
            + ihdr(8, 6, 8, 0, 1)
            + chunk(b"IDAT", zlib.compress(bytes(interlaced)))
            + chunk(b"IEND"),
            "corrupt image data: bad filter type 5 in row 2 of interlace pass 7",
        ),
    ]


@pytest.mark.parametrize(("rule", "data", "message"), refusals(), ids=[rule for rule, _, _ in refusals()])
def test_refusals(rule: str, data: bytes, message: str) -> None:
    for backend in ("auto", "zlib"):
        _native.set_inflate(backend)
        try:
            for check_only in (False, True):
                result = count_one(data, check_only=check_only)
                assert result[0] == 3, (rule, result)
                assert result[1].startswith(message), (rule, result[1])
                assert result[1].isprintable() and "\n" not in result[1]
        finally:
            _native.set_inflate("auto")


def test_good_png_of_the_refusal_cases_counts() -> None:
    """The unbroken file the refusal cases are made from is counted (they fail for their cause)."""
    assert counted(count_one(good_png())) == reference(GREY)
    assert counted(count_one(with_stream(STREAM))) == reference(GREY)


def test_pixel_limit() -> None:
    data = good_png()
    assert count_one(data, 48)[0] == 0
    assert count_one(data, 47) == (
        3,
        "image of 8x6 = 48 pixels is over the limit of 47 pixels (decompression bomb?)",
    )
    assert count_one(data, None)[0] == count_one(data, -1)[0] == 0


def test_one_bad_item_does_not_spoil_the_others() -> None:
    grey = drifting_mask(np.random.default_rng(5), 40, 50, 65535)
    good16 = make_png(grey, 16, 0)
    results = _native.count_chunk([good16, good_png()[:-5], good_png(), b"GIF", good16], None)
    assert [r[0] for r in results] == [0, 3, 0, 2, 0]
    assert counted(results[0]) == counted(results[4]) == reference(grey)
    assert counted(results[2]) == reference(GREY)
