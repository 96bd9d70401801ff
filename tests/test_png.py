"""segstats.png: the one chunk walker (framing, CRC, IHDR, pixel limit, IDAT stream), every decoder."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from segstats.decode import ReadOptions, decode_histogram
from segstats.errors import BadInputError
from segstats.png import PNG_SIGNATURE, check

DECODERS = ("auto", "fast", "pillow")


def refused(data: bytes, cause: str, **options) -> None:
    """Every decoder, and the check alone, refuse ``data`` with ``cause``."""
    with pytest.raises(BadInputError, match=cause):
        check(data, "x.png", options.get("max_pixels"))
    for decoder in DECODERS:
        with pytest.raises(BadInputError, match=cause):
            decode_histogram(data, "x.png", ReadOptions(decoder=decoder, **options))


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
    assert check(data, "x.png", None) is not None
    for decoder in DECODERS:
        histogram = decode_histogram(data, "x.png", ReadOptions(decoder=decoder))
        assert histogram.counts.tolist() == np.bincount(ARRAY.ravel()).tolist()


@pytest.mark.parametrize(
    ("arrange", "cause"),
    [
        (
            lambda p: [p[0], p[1], p[1], p[2]],
            "invalid compressed image data|data after the end|more than the|more image data",
        ),
        (lambda p: [p[1], p[0], p[2]], "invalid compressed image data"),
        (lambda p: [p[0], p[1]], "truncated"),
        (lambda p: [*p, zlib.compress(b"extra")], "after the end of the compressed image"),
    ],
    ids=["duplicated", "swapped", "missing-last", "trailing-stream"],
)
def test_reordered_idat_is_refused_although_pillow_may_accept_it(arrange, cause):
    ihdr, parts = png_with_idat_pieces(ARRAY, 3)
    data = assemble(ihdr, [chunk(b"IDAT", p) for p in arrange(parts)])
    refused(data, cause)  # every chunk and CRC is fine: the stream is not


def test_idat_not_consecutive():
    ihdr, parts = png_with_idat_pieces(ARRAY, 2)
    data = assemble(ihdr, [chunk(b"IDAT", parts[0]), chunk(b"tEXt", b"a\x00b"), chunk(b"IDAT", parts[1])])
    refused(data, "not consecutive")


def test_wrong_size_for_ihdr():
    ihdr, _ = png_with_idat_pieces(ARRAY, 1)
    raw = zlib.decompress(_idat_stream(assemble(ihdr, [chunk(b"IDAT", zlib.compress(b"\0" * 10))])))
    data = assemble(ihdr, [chunk(b"IDAT", zlib.compress(raw))])
    # a complete zlib stream of 10 bytes where IHDR implies 1240: Pillow alone counts the
    # missing rows as class 0; every decoder refuses it
    refused(data, "truncated")


def test_pixel_limit_is_checked_before_inflating():
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    data = PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", b"not even zlib") + chunk(b"IEND", b"")
    refused(data, "100000x100000 = 10000000000 pixels is over the limit of 5", max_pixels=5)


def test_ihdr_must_come_first():
    data = PNG_SIGNATURE + chunk(b"tEXt", b"a\x00b") + chunk(b"IEND", b"")
    refused(data, "first chunk is tEXt")


@pytest.mark.parametrize("mode", ["1", "L", "P", "I;16", "LA", "RGB", "RGBA"])
def test_expected_size_matches_real_files(mode):
    image = Image.fromarray((ARRAY * 50).astype(np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    info = check(data, "x.png", None)
    assert info is not None and (info.width, info.height) == (30, 40)


@pytest.mark.parametrize(("height", "width"), [(1, 1), (3, 5), (9, 17), (40, 30)])
def test_interlaced_png_size_and_counts(height, width):
    """Adam7 (Pillow cannot write it): pass images by slicing, rows with filter byte 0."""
    array = (np.arange(height * width).reshape(height, width) * 3) % 7
    raw = b""
    for y0, x0, dy, dx in ADAM7_ROW_MAJOR:
        raw += b"".join(b"\0" + row.astype(np.uint8).tobytes() for row in array[y0::dy, x0::dx] if row.size)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)
    data = PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    for decoder in DECODERS:
        histogram = decode_histogram(data, "adam7.png", ReadOptions(decoder=decoder))
        assert dict(zip(histogram.values.tolist(), histogram.counts.tolist(), strict=True)) == {
            int(v): int(c) for v, c in zip(*np.unique(array, return_counts=True), strict=True)
        }


def test_non_png_is_left_to_the_decoder():
    assert check(b"II*\x00 a tiff", "x.tif", None) is None
    refused(PNG_SIGNATURE[:3], "truncated")


# Found by scripts/fuzz_native.sh (FUZZ_FINDINGS of the corpus helper): files the native rules
# accept that Pillow alone refuses, and the PLTE rules of the PNG specification (11.2.3).
EMPTY_ACTL = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55000000006163544c49f2afe8"
    "0000000a49444154789c636000000002000148afa4710000000049454e44ae426082"
)
EMPTY_FDAT = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b550000000a49444154789c6360"
    "00000002000148afa4710000000066644154f5b3ff960000000049454e44ae426082"
)


@pytest.mark.parametrize("data", [EMPTY_ACTL, EMPTY_FDAT], ids=["empty-acTL", "empty-fdAT"])
def test_malformed_ancillary_chunks_are_not_interpreted_under_any_decoder(data):
    with pytest.raises(ValueError):  # Pillow alone refuses these APNG chunks
        Image.open(io.BytesIO(data)).load()
    for decoder in DECODERS:
        histogram = decode_histogram(data, "x.png", ReadOptions(decoder=decoder))
        assert (histogram.values.tolist(), histogram.counts.tolist()) == ([0], [1]), decoder


def _palette_png(plte: bytes, *, before_plte: bytes = b"", after_idat: bytes = b"") -> bytes:
    header = struct.pack(">IIBBBBB", 2, 1, 8, 3, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\0\0\1"))
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + before_plte
        + chunk(b"PLTE", plte)
        + idat
        + after_idat
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("data", "cause"),
    [
        (_palette_png(b""), "a PLTE chunk of 0 bytes"),
        (_palette_png(b"\0" * 4), "a PLTE chunk of 4 bytes"),
        (_palette_png(b"\0" * 771), "a PLTE chunk of 771 bytes"),
        (_palette_png(b"\0" * 6, before_plte=chunk(b"PLTE", b"\0" * 6)), "a second PLTE chunk"),
        (_palette_png(b"\0" * 6, after_idat=chunk(b"PLTE", b"\0" * 6)), "a second PLTE chunk"),
    ],
)
def test_invalid_palettes_are_refused_by_every_decoder(data, cause):
    refused(data, cause)


def test_a_valid_palette_of_256_entries_counts():
    data = _palette_png(bytes(range(256)) * 3)
    for decoder in DECODERS:
        histogram = decode_histogram(data, "x.png", ReadOptions(decoder=decoder))
        assert dict(zip(histogram.values.tolist(), histogram.counts.tolist(), strict=True)) == {0: 1, 1: 1}
