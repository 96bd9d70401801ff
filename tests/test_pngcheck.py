"""segstats.pngcheck: chunk framing, CRC, IHDR, pixel limit and IDAT stream checks."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from segstats.decode import ReadOptions, decode_histogram
from segstats.errors import BadInputError
from segstats.pngcheck import (
    PNG_SIGNATURE,
    check_png_stream,
    check_png_structure,
    expected_raw_size,
)


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_idat_pieces(array: np.ndarray, pieces: int, *, interlace: int = 0) -> tuple[bytes, list[bytes]]:
    """PNG bytes of ``array`` (mode L) with its zlib stream split over ``pieces`` IDAT chunks."""
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buffer, format="PNG", interlace=interlace)
    data = buffer.getvalue()
    ihdr = data[8:33]
    stream = zlib.compress(zlib.decompress(_idat_stream(data)))
    size = -(-len(stream) // pieces)
    parts = [stream[i : i + size] for i in range(0, len(stream), size)]
    return ihdr, parts


def _idat_stream(data: bytes) -> bytes:
    out, position = b"", 8
    while position < len(data):
        (length,) = struct.unpack_from(">I", data, position)
        if data[position + 4 : position + 8] == b"IDAT":
            out += data[position + 8 : position + 8 + length]
        position += 12 + length
    return out


def assemble(ihdr: bytes, chunks: list[bytes]) -> bytes:
    return PNG_SIGNATURE + ihdr + b"".join(chunks) + chunk(b"IEND", b"")


# Adam7 passes as (row start, column start, row step, column step), written independently of pngcheck.
ADAM7_ROW_MAJOR = (
    (0, 0, 8, 8),
    (0, 4, 8, 8),
    (4, 0, 8, 4),
    (0, 2, 4, 4),
    (2, 0, 4, 2),
    (0, 1, 2, 2),
    (1, 0, 2, 1),
)
ARRAY = (np.arange(40 * 30).reshape(40, 30) * 7) % 5


def test_split_stream_is_valid_and_exact():
    ihdr, parts = png_with_idat_pieces(ARRAY, 3)
    data = assemble(ihdr, [chunk(b"IDAT", p) for p in parts])
    check_png_structure(data, "x.png")
    check_png_stream(data, "x.png")
    histogram = decode_histogram(data, "x.png")
    assert histogram.counts.tolist() == np.bincount(ARRAY.ravel()).tolist()


@pytest.mark.parametrize(
    ("arrange", "cause"),
    [
        (
            lambda p: [p[0], p[1], p[1], p[2]],
            "invalid compressed image data|data after the end|more than the",
        ),
        (lambda p: [p[1], p[0], p[2]], "invalid compressed image data"),
        (lambda p: [p[0], p[1]], "cut short"),
        (lambda p: [*p, zlib.compress(b"extra")], "data after the end"),
    ],
    ids=["duplicated", "swapped", "missing-last", "trailing-stream"],
)
def test_reordered_idat_is_refused_although_pillow_may_accept_it(arrange, cause):
    ihdr, parts = png_with_idat_pieces(ARRAY, 3)
    data = assemble(ihdr, [chunk(b"IDAT", p) for p in arrange(parts)])
    check_png_structure(data, "x.png")  # the chunks themselves are fine
    with pytest.raises(BadInputError, match=cause):
        check_png_stream(data, "x.png")


def test_idat_not_consecutive():
    ihdr, parts = png_with_idat_pieces(ARRAY, 2)
    data = assemble(ihdr, [chunk(b"IDAT", parts[0]), chunk(b"tEXt", b"a\x00b"), chunk(b"IDAT", parts[1])])
    with pytest.raises(BadInputError, match="not consecutive"):
        check_png_stream(data, "x.png")


def test_wrong_size_for_ihdr():
    ihdr, _ = png_with_idat_pieces(ARRAY, 1)
    raw = zlib.decompress(_idat_stream(assemble(ihdr, [chunk(b"IDAT", zlib.compress(b"\0" * 10))])))
    data = assemble(ihdr, [chunk(b"IDAT", zlib.compress(raw))])
    check_png_stream(data, "x.png")  # one IDAT: its CRC vouches for the stream; Pillow checks the rest
    with pytest.raises(BadInputError, match="truncated"):
        decode_histogram(data, "x.png", ReadOptions(decoder="pillow"))
    with pytest.raises(
        BadInputError, match=r"truncated file \(image data holds 10 of the 1240 bytes IHDR implies\)"
    ):
        check_png_stream(data, "x.png", single_idat=True)


def test_pixel_limit_is_checked_before_inflating():
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    data = PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", b"not even zlib") + chunk(b"IEND", b"")
    with pytest.raises(BadInputError, match="100000x100000 = 10000000000 pixels is over the limit of 5"):
        check_png_structure(data, "bomb.png", max_pixels=5)


def test_ihdr_must_come_first():
    data = PNG_SIGNATURE + chunk(b"tEXt", b"a\x00b") + chunk(b"IEND", b"")
    with pytest.raises(BadInputError, match="first chunk is not a 13-byte IHDR"):
        check_png_structure(data, "x.png")


@pytest.mark.parametrize("mode", ["1", "L", "P", "I;16", "LA", "RGB", "RGBA"])
def test_expected_size_matches_real_files(mode):
    image = Image.fromarray((ARRAY * 50).astype(np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    width, height, depth, colour, _, _, lace = struct.unpack_from(">IIBBBBB", data, 16)
    assert expected_raw_size(width, height, depth, colour, lace) == len(zlib.decompress(_idat_stream(data)))
    check_png_structure(data, "x.png")
    check_png_stream(data, "x.png")


@pytest.mark.parametrize(("height", "width"), [(1, 1), (3, 5), (9, 17), (40, 30)])
def test_interlaced_png_size_and_counts(height, width):
    """Adam7 (Pillow cannot write it): pass images by slicing, rows with filter byte 0."""
    array = (np.arange(height * width).reshape(height, width) * 3) % 7
    raw = b""
    for y0, x0, dy, dx in ADAM7_ROW_MAJOR:
        raw += b"".join(b"\0" + row.astype(np.uint8).tobytes() for row in array[y0::dy, x0::dx] if row.size)
    assert expected_raw_size(width, height, 8, 0, 1) == len(raw)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)
    data = PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    histogram = decode_histogram(data, "adam7.png")
    assert dict(zip(histogram.values.tolist(), histogram.counts.tolist(), strict=True)) == {
        int(v): int(c) for v, c in zip(*np.unique(array, return_counts=True), strict=True)
    }


def test_non_png_is_left_to_the_decoder():
    check_png_structure(b"II*\x00 a tiff", "x.tif")
    check_png_stream(b"II*\x00 a tiff", "x.tif")
    with pytest.raises(BadInputError, match="in the PNG signature"):
        check_png_structure(PNG_SIGNATURE[:3], "x.png")
