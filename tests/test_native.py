"""segstats._native, the compiled label-PNG reader: counts against np.unique.

The PNGs are written by tests/pngwriter.py (every filter type per row, bit depths
1-16, colour types 0/2/3/4/6, our own Adam7 split), independent of the C code and
of Pillow. Counts are checked against np.unique of the source array; the
difference kernel against the plain path, and libdeflate against zlib. The
refusal rules are in test_native_refusals.py.

Build the module first: ``python setup.py build_ext --inplace``.
"""

from __future__ import annotations

import ctypes.util
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from pngwriter import (
    CHANNELS,
    COUNTED_KINDS,
    FilterChoice,
    chunk,
    counted,
    drifting_mask,
    make_png,
    reference,
    scanlines,
)

import segstats._native as _native

if not hasattr(_native, "count_chunk"):  # the source folder imports as an empty namespace package
    raise ImportError("segstats._native is not built: run python setup.py build_ext --inplace")


def count_one(data: bytes, max_pixels: int | None = None, **kwargs: bool) -> tuple:
    (result,) = _native.count_chunk([data], max_pixels, **kwargs)
    return result


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


@pytest.mark.parametrize("density", ["sparse", "dense", "runs"])
def test_rows_that_are_all_sub_across_block_and_segment_edges(density: str) -> None:
    """8-bit images whose every row is Sub-filtered take their own path (non-zero offsets listed
    per 64-byte block, rows cut in 2,048-byte segments): widths on each side of those edges, and
    rows with few, many (over four a block) and every byte non-zero, against np.unique."""
    rng = np.random.default_rng([ord(density[0]), 7])
    for width in (1, 7, 8, 63, 64, 65, 127, 128, 129, 680, 2047, 2048, 2049, 4096, 4161):
        height = 3 if width > 2000 else 6
        if density == "dense":  # every sample differs from its left neighbour: each byte non-zero
            grey = np.cumsum(rng.integers(1, 256, (height, width)), axis=1) % 256
        elif density == "sparse":  # a few changes a row, some of them at the block edges
            grey = np.zeros((height, width), dtype=np.int64)
            for row in grey:
                for edge in {*rng.integers(0, width, 3).tolist(), 63, 64, 2047, 2048}:
                    if edge < width:
                        row[edge:] = rng.integers(0, 256)
        else:  # runs of 1-9 samples: 5-60 changes a block
            grey = np.repeat(rng.integers(0, 256, (height, width)), rng.integers(1, 10, width), axis=1)[
                :, :width
            ]
        data = make_png(grey, 8, 0, 0, fixed_filter(1)(rng))
        results = all_ways(data)
        assert counted(results[0]) == reference(grey), width
        assert all(result == results[0] for result in results), width


def test_palette_16bit_values_and_constant_image() -> None:
    """Index 0 only, 65535 only, and all 65536 16-bit values (every histogram block)."""
    for grey, depth, color in [
        (np.zeros((7, 9), np.int64), 8, 3),
        (np.full((4, 11), 65535), 16, 0),
        (np.arange(65536).reshape(256, 256), 16, 0),
    ]:
        for result in all_ways(make_png(grey, depth, color)):
            assert counted(result) == reference(grey)


# ------------------------------------------------------------------ dense rows
def test_dense_rows_hold_the_same_counts_as_the_arrays() -> None:
    """count_chunk(dense=M): each counted file whose values fit 256 bins goes to its row.

    Every counted kind x interlace, plus a 16-bit file holding only small values (a
    row) and one holding 300 (the arrays): against np.unique of the source.
    """
    rng = np.random.default_rng(7)
    items, sources = [], []
    for color, depth in COUNTED_KINDS:
        for interlace in (0, 1):
            top = min((1 << depth) - 1, 255 if depth < 16 else 65535)
            grey = drifting_mask(rng, 11, 29, top)
            pixels = np.stack([grey, grey], axis=2) if color == 4 else grey
            items.append(make_png(pixels, depth, color, interlace, FILTER_STRATEGIES["mixed"](rng)))
            sources.append(grey)
    small16 = rng.integers(0, 256, (6, 7))
    items.append(make_png(small16, 16, 0))
    sources.append(small16)
    items += [b"not a png", make_png(np.zeros((2, 2, 3), np.int64), 8, 2)]  # refused / colour: no row
    dense = np.zeros((len(items), 256), np.int64)
    results = _native.count_chunk(items, None, dense=dense)
    assert [r[0] for r in results[-2:]] == [2, 1] and not dense[-2:].any()
    for row, (result, grey) in enumerate(zip(results[: len(sources)], sources, strict=True)):
        values, counts = reference(grey)
        if max(values) < 256:
            assert result[0] == 5 and result[1:3] == (grey.shape[1], grey.shape[0])
            assert np.flatnonzero(dense[row]).tolist() == values
            assert dense[row][values].tolist() == counts
        else:  # a 16-bit file with values >= 256: the arrays, and its row untouched
            assert counted(result) == (values, counts) and not dense[row].any()
    assert any(r[0] == 0 for r in results), "the 16-bit files with large values took the array path"


def test_a_dense_matrix_of_the_wrong_shape_or_type_is_refused_before_reading(tmp_path) -> None:
    data = make_png(np.zeros((3, 3), np.int64), 8, 0)
    for bad in (np.zeros((1, 256), np.int64), np.zeros((2, 256), np.int32), np.zeros((2, 256))):
        with pytest.raises(ValueError, match="dense must be"):
            _native.count_chunk([data, data], None, dense=bad)
    with pytest.raises(BufferError):
        _native.count_chunk([data], None, dense=bytes(2048))  # not writable
    with pytest.raises(ValueError, match="C-contiguous"):  # numpy's own words
        _native.count_chunk([data], None, dense=np.zeros((256, 2), np.int64)[:, 0])


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


def test_libdeflate_is_loaded_where_installed() -> None:
    if ctypes.util.find_library("deflate") is None:
        pytest.skip("no libdeflate runtime library on this machine")
    assert _native.set_inflate("auto") == "libdeflate"


def test_not_png() -> None:
    assert count_one(b"II*\x00 a TIFF file") == (2, "not a PNG file")
    assert count_one(b"\x89PNG\r\n\x1a\x0b and more") == (2, "not a PNG file")
    assert count_one(b"\x89PX") == (2, "not a PNG file")
    assert count_one(b"") == (3, "empty file (0 bytes)")
