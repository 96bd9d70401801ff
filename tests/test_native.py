"""segstats._native, the compiled label-PNG reader: counts against np.unique, every refusal rule.

The PNGs are written by a tiny encoder in this file (zlib + struct + numpy, every
filter type applied per row, bit depths 1-16, colour types 0/2/3/4/6, Adam7 by
our own split), independent of the C code and of Pillow. Counts are checked
against np.unique of the source array; the difference kernel against the plain
path, and libdeflate against zlib.

Build the module first: ``python setup.py build_ext --inplace``.
"""

from __future__ import annotations

import itertools
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Sequence

import numpy as np
import pytest

import segstats._native as _native

if not hasattr(_native, "count_chunk"):  # the source folder imports as an empty namespace package
    raise ImportError("segstats._native is not built: run python setup.py build_ext --inplace")

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7: x start, y start, x step, y step (PNG specification, 8.2)
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
# every counted kind: (colour type, bit depth)
COUNTED_KINDS = [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (3, 1), (3, 2), (3, 4), (3, 8), (4, 8), (4, 16)]
HAS_LIBDEFLATE = _native.set_inflate("auto") == "libdeflate"


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
    assert result[0] == 0, result
    values = np.frombuffer(result[6], dtype="<i8").tolist()
    counts = np.frombuffer(result[7], dtype="<i8").tolist()
    return values, counts


def count_one(data: bytes, max_pixels: int | None = None, **kwargs: bool) -> tuple:
    (result,) = _native.count_chunk([data], max_pixels, **kwargs)
    return result


@pytest.fixture
def zlib_inflate():
    """Inflate with zlib for the test, then back to what the process chose."""
    _native.set_inflate("zlib")
    yield
    _native.set_inflate("auto")


def all_ways(data: bytes) -> list[tuple]:
    """The result of every path: fast/plain x libdeflate/zlib."""
    results = []
    for backend in ("auto", "zlib"):
        _native.set_inflate(backend)
        try:
            results.append(count_one(data))
            results.append(count_one(data, plain=True))
        finally:
            _native.set_inflate("auto")
    return results


# ------------------------------------------------------------------ counting
def fixed_filter(kind: int) -> Callable[[np.random.Generator], FilterChoice]:
    return lambda rng: lambda y: kind


FILTER_STRATEGIES: dict[str, Callable[[np.random.Generator], FilterChoice]] = {
    **{f"filter{k}": fixed_filter(k) for k in range(5)},
    "mixed": lambda rng: (lambda choices: lambda y: int(choices[y % len(choices)]))(rng.integers(0, 5, 997)),
}


@pytest.mark.parametrize("interlace", [0, 1])
@pytest.mark.parametrize(("color", "depth"), COUNTED_KINDS)
@pytest.mark.parametrize("strategy", sorted(FILTER_STRATEGIES))
def test_counts_match_np_unique(color: int, depth: int, interlace: int, strategy: str) -> None:
    rng = np.random.default_rng([color, depth, interlace, len(strategy), ord(strategy[-1])])
    top = (1 << depth) - 1
    for height, width in [(23, 37), (1, 1), (9, 8), (5, 17), (13, 64)]:
        grey = drifting_mask(rng, height, width, top)
        if color == 4:
            alpha = rng.integers(0, top + 1, grey.shape)
            pixels = np.stack([grey, alpha], axis=2)
        else:
            pixels = grey
        data = make_png(pixels, depth, color, interlace, FILTER_STRATEGIES[strategy](rng))
        expected = reference(grey)
        for result in all_ways(data):
            assert result[:6] == (0, width, height, depth, color, interlace)
            assert counted(result) == expected, (height, width)


@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("strategy", sorted(FILTER_STRATEGIES))
def test_kernel_matches_plain_on_larger_masks(depth: int, strategy: str) -> None:
    """The difference kernel's word shortcuts (runs, tails, Paeth sync) on wider drifting masks."""
    rng = np.random.default_rng([depth, ord(strategy[-1])])
    top = 255 if depth == 8 else 65535
    for width in (203, 256, 1000):
        grey = drifting_mask(
            rng, 120, width, top if rng.random() < 0.5 else 20, regions=int(rng.integers(1, 12))
        )
        data = make_png(grey, depth, 0, 0, FILTER_STRATEGIES[strategy](rng), idat_splits=[5, 100])
        results = all_ways(data)
        assert counted(results[0]) == reference(grey)
        assert all(result == results[0] for result in results)


def test_palette_16bit_values_and_constant_image() -> None:
    """Index 0 only, 65535 only, and all 65536 16-bit values (every histogram block)."""
    for grey, depth, color in [
        (np.zeros((7, 9), np.int64), 8, 3),
        (np.full((4, 11), 65535), 16, 0),
        (np.arange(65536).reshape(256, 256), 16, 0),
    ]:
        for result in all_ways(make_png(grey, depth, color)):
            assert counted(result) == reference(grey)


def test_pillow_written_masks_match(tmp_path) -> None:
    """Files written by another encoder (Pillow's adaptive filters) count the same."""
    from PIL import Image

    rng = np.random.default_rng(7)
    paths = []
    arrays = []
    for index, mode in enumerate(["L", "P", "I;16", "L"]):
        array = drifting_mask(rng, 61, 83 + index, 255 if mode != "I;16" else 4000)
        if mode == "I;16":
            image = Image.fromarray(array.astype(np.uint16))
        else:
            image = Image.fromarray(array.astype(np.uint8), mode="L")
            if mode == "P":
                image = image.convert("P")
                array = np.asarray(image).astype(np.int64)
        path = tmp_path / f"m{index}.png"
        image.save(path, interlace=index == 3)
        paths.append(str(path))
        arrays.append(array)
    for result, array in zip(_native.count_chunk(paths, None), arrays, strict=True):
        assert counted(result) == reference(array)


def test_colour_images_are_checked_not_counted() -> None:
    rng = np.random.default_rng(3)
    for color, depth, reason in [
        (2, 8, "RGB colour image"),
        (6, 8, "RGBA colour image"),
        (2, 16, "RGB colour image"),
    ]:
        pixels = rng.integers(0, 1 << depth, (6, 5, CHANNELS[color]))
        for interlace in (0, 1):
            data = make_png(pixels, depth, color, interlace)
            assert count_one(data) == (1, 5, 6, depth, color, interlace, reason)
            assert count_one(data, check_only=True) == (1, 5, 6, depth, color, interlace, reason)
    # a colour image with a bad filter byte is refused like any other
    stream = bytearray(scanlines(rng.integers(0, 256, (3, 2, 3)), 8, 0, lambda y: 0))
    stream[7] = 9
    assert (
        count_one(make_png(np.zeros((3, 2, 3), np.int64), 8, 2, stream=zlib.compress(bytes(stream))))[0] == 3
    )


def test_check_only_checks_without_counting() -> None:
    grey = drifting_mask(np.random.default_rng(1), 10, 10, 255)
    assert count_one(make_png(grey, 8, 0), check_only=True) == (0, 10, 10, 8, 0, 0, b"", b"")


def test_ancillary_chunks_split_idat_and_trailing_bytes_are_ignored() -> None:
    grey = drifting_mask(np.random.default_rng(2), 30, 41, 255)
    apng = chunk(b"acTL", struct.pack(">II", 1, 0)) + chunk(b"fcTL", bytes(26))
    data = make_png(
        grey,
        8,
        3,
        before_idat=chunk(b"tEXt", b"Comment\x00hello") + apng,
        after_idat=chunk(b"zzZz", b"whatever") + chunk(b"fdAT", bytes(8)),
        idat_splits=[0, 1, 1, 2, 50],  # empty IDAT chunks too
    )
    for result in all_ways(data + b"bytes after IEND are not read"):
        assert counted(result) == reference(grey)


def test_items_paths_and_buffers(tmp_path) -> None:
    grey = drifting_mask(np.random.default_rng(4), 12, 13, 9)
    data = make_png(grey, 8, 0)
    path = tmp_path / "m.png"
    path.write_bytes(data)
    results = _native.count_chunk(
        [
            str(path),
            data,
            bytearray(data),
            memoryview(data),
            np.frombuffer(data, np.uint8),
            str(tmp_path / "gone"),
        ],
        -1,
    )
    for result in results[:5]:
        assert counted(result) == reference(grey)
    code, errno_value, words = results[5]
    assert (code, errno_value) == (4, 2) and isinstance(words, str)
    assert _native.count_chunk([str(tmp_path)], None)[0][0] == 4  # a directory: the OS says why
    assert _native.count_chunk([], None) == []


def test_bad_arguments_raise_type_error() -> None:
    with pytest.raises(TypeError):
        _native.count_chunk("not a list", None)
    with pytest.raises(TypeError):
        _native.count_chunk([3], None)
    with pytest.raises(TypeError):
        _native.count_chunk([b""], "many")
    with pytest.raises(ValueError):
        _native.count_chunk([b""], -5)


def test_inflate_backend_env_var() -> None:
    code = "import segstats._native as n; print(n.inflate_backend())"
    # the folder holding this very module (a source checkout or an installed wheel)
    where = os.path.dirname(os.path.dirname(os.path.abspath(_native.__file__)))
    env = {**os.environ, "SEGSTATS_INFLATE": "zlib", "PYTHONPATH": where}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "zlib"
    assert _native.inflate_backend() in ("libdeflate", "zlib")


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


def test_not_png() -> None:
    assert count_one(b"II*\x00 a TIFF file") == (2, "not a PNG file")
    assert count_one(b"\x89PNG\r\n\x1a\x0b and more") == (2, "not a PNG file")
    assert count_one(b"\x89PX") == (2, "not a PNG file")
    assert count_one(b"") == (3, "empty file (0 bytes)")


def test_one_bad_item_does_not_spoil_the_others() -> None:
    grey = drifting_mask(np.random.default_rng(5), 40, 50, 65535)
    good16 = make_png(grey, 16, 0)
    results = _native.count_chunk([good16, good_png()[:-5], good_png(), b"GIF", good16], None)
    assert [r[0] for r in results] == [0, 3, 0, 2, 0]
    assert counted(results[0]) == counted(results[4]) == reference(grey)
    assert counted(results[2]) == reference(GREY)
