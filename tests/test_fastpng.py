"""The fused PNG reader (segstats.fastpng) against Pillow and a brute-force count.

PNGs with forced filters are written by a tiny encoder in this file (filters
from the PNG specification, section 9, written independently of the reader),
so every filter type and every row width is exercised, not only what Pillow's
encoder happens to choose.
"""

from __future__ import annotations

import glob
import io
import itertools
import os
import re
import struct
import subprocess
import sys
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from labelmasks import write_mask
from PIL import Image
from typer.testing import CliRunner

from segstats import fastpng
from segstats.cli import app
from segstats.decode import ReadOptions, decode_histogram, read_value_histogram
from segstats.errors import BadInputError, UsageError

pytestmark = pytest.mark.skipif(not fastpng.available(), reason="numba is not installed")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = sorted(glob.glob(os.path.join(ROOT, "sample_masks", "*.png")))
# (bit depth, colour type) of each supported kind, and the largest value it holds
KINDS = {"L": (8, 0, 256), "P": (8, 3, 256), "I;16": (16, 0, 65536)}
# Row widths: 1 and 3 (shorter than a word), 8/9/17 (word edges), 1023 (odd, long)
WIDTHS = (1, 3, 8, 9, 17, 1023)


# ------------------------------------------------------------------ a tiny PNG encoder
def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def ihdr(width: int, height: int, depth: int, color: int, interlace: int = 0) -> bytes:
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, interlace))


def filter_rows(rows: np.ndarray, bpp: int, filters: list[int]) -> bytes:
    """Filter each row of bytes with its filter type (PNG specification, 9.2-9.4)."""
    out = bytearray()
    prev = np.zeros(rows.shape[1], dtype=np.int64)
    for row, ftype in zip(rows.astype(np.int64), filters, strict=True):
        a = np.zeros_like(row)
        a[bpp:] = row[:-bpp]
        b = prev
        c = np.zeros_like(row)
        c[bpp:] = prev[:-bpp]
        p = a + b - c
        pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        predictor = [np.zeros_like(row), a, b, (a + b) // 2, paeth][ftype]
        out.append(ftype)
        out += ((row - predictor) % 256).astype(np.uint8).tobytes()
        prev = row
    return bytes(out)


def encode_png(
    array: np.ndarray,
    mode: str,
    filters: int | str | list[int] = 0,
    *,
    idat_parts: int = 1,
    extra: bytes = b"",
    rng: np.random.Generator | None = None,
) -> bytes:
    """A PNG of ``array`` (mode L, P or I;16) whose rows use ``filters``.

    ``filters``: one type for every row, a list (one per row), or "mixed"
    (random per row). ``idat_parts`` splits the zlib stream over several IDAT
    chunks (one of them empty); ``extra`` is inserted before the first IDAT.
    """
    height, width = array.shape
    depth, color, _ = KINDS[mode]
    if depth == 16:
        rows = np.frombuffer(array.astype(">u2").tobytes(), dtype=np.uint8).reshape(height, 2 * width)
    else:
        rows = array.astype(np.uint8)
    if filters == "mixed":
        filters = list((rng or np.random.default_rng(0)).integers(0, 5, size=height))
    elif isinstance(filters, int):
        filters = [filters] * height
    stream = zlib.compress(filter_rows(rows, depth // 8, list(filters)))
    cuts = sorted({0, len(stream), *np.linspace(0, len(stream), idat_parts + 1).astype(int).tolist()})
    idats = [stream[i:j] for i, j in itertools.pairwise(cuts)]
    if idat_parts > 1:
        idats.insert(1, b"")  # an empty IDAT chunk is valid
    body = ihdr(width, height, depth, color)
    if color == 3:
        body += chunk(b"PLTE", bytes((37 * i) % 256 for i in range(768)))
    body += extra + b"".join(chunk(b"IDAT", part) for part in idats) + chunk(b"IEND", b"")
    return fastpng.PNG_SIGNATURE + body


# ------------------------------------------------------------------ helpers
def counts(histogram) -> dict[int, int]:
    return dict(zip(histogram.values.tolist(), histogram.counts.tolist(), strict=True))


def brute(array: np.ndarray) -> dict[int, int]:
    return dict(sorted(Counter(int(v) for v in array.ravel().tolist()).items()))


def assert_identical(data: bytes, array: np.ndarray | None = None) -> None:
    """Fast path == Pillow path, field by field (and == a brute-force count when given)."""
    fast = fastpng.decode_histogram(data, "x.png", None)
    slow = decode_histogram(data, "x.png", ReadOptions(decoder="pillow"))
    assert fast.values.dtype == slow.values.dtype and fast.counts.dtype == slow.counts.dtype
    assert np.array_equal(fast.values, slow.values)
    assert np.array_equal(fast.counts, slow.counts)
    assert (fast.width, fast.height, fast.mode) == (slow.width, slow.height, slow.mode)
    if array is not None:
        assert counts(fast) == brute(array)


def patterns(rng: np.random.Generator, height: int, width: int, high: int) -> list[np.ndarray]:
    """Noise (byte-by-byte paths) and piecewise-constant masks (word-at-a-time paths)."""
    noise = rng.integers(0, high, size=(height, width))
    blocks = rng.integers(0, min(high, 7), size=(max(1, height // 3), max(1, width // 5)))
    blocky = np.repeat(np.repeat(blocks, 3, axis=0), 5, axis=1)[:height, :width]
    blocky = np.pad(blocky, ((0, height - blocky.shape[0]), (0, width - blocky.shape[1])), mode="edge")
    constant = np.full((height, width), high - 1)
    stripes = np.zeros((height, width), dtype=np.int64)
    stripes[:, width // 2 :] = high // 3  # flat rows above with an edge: Paeth/Average word checks
    stripes[height // 2 :, : max(1, width // 3)] = 1
    return [noise, blocky, constant, stripes]


# ------------------------------------------------------------------ identity with Pillow
@pytest.mark.parametrize("path", SAMPLES, ids=os.path.basename)
def test_every_sample_identical_under_auto(path):
    auto = read_value_histogram(path)
    pillow = read_value_histogram(path, ReadOptions(decoder="pillow"))
    assert counts(auto) == counts(pillow) and auto.mode == pillow.mode
    assert (auto.width, auto.height) == (pillow.width, pillow.height)


def test_samples_of_supported_kinds_take_the_fast_path():
    taken = 0
    for path in SAMPLES:
        with open(path, "rb") as handle:
            data = handle.read()
        try:
            fastpng.parse_png(data, path, None)
        except fastpng.Unsupported:
            continue  # 2-bit palette files (Pillow packs small palettes): Pillow reads them
        assert_identical(data)
        taken += 1
    assert taken >= len(SAMPLES) // 2


@pytest.mark.parametrize("mode", sorted(KINDS))
@pytest.mark.parametrize("filters", [0, 1, 2, 3, 4, "mixed"])
def test_forced_filters_every_kind_and_width(mode, filters):
    rng = np.random.default_rng([len(mode), hash(str(filters)) % 1000])
    high = KINDS[mode][2]
    for width in WIDTHS:
        for height in (1, 5):
            for array in patterns(rng, height, width, high):
                assert_identical(encode_png(array, mode, filters, rng=rng), array)


def drifting_mask(rng: np.random.Generator, height: int, width: int, high: int) -> np.ndarray:
    """Rows that repeat the row above with a few changes (some reverted later): the kernel
    counts only where a sample changes, weighted by the rows left, so this is its hard case."""
    rows = [rng.integers(0, min(high, 5), size=width)]
    for _ in range(height - 1):
        row = rows[-1].copy()
        for _ in range(int(rng.integers(0, 4))):
            start = int(rng.integers(0, width))
            stop = min(width, start + int(rng.integers(1, 20)))
            row[start:stop] = rng.integers(0, high) if rng.random() < 0.7 else rows[0][start:stop]
        if high > 256 and rng.random() < 0.3:
            row[int(rng.integers(0, width))] ^= 1  # 16-bit: only the low byte changes
        rows.append(row)
    return np.stack(rows)


@pytest.mark.parametrize("mode", sorted(KINDS))
@pytest.mark.parametrize("filters", [0, 1, 2, 3, 4, "mixed"])
def test_forced_filters_rows_that_drift(mode, filters):
    rng = np.random.default_rng([len(mode), 17, hash(str(filters)) % 1000])
    high = KINDS[mode][2]
    for width in (1, 7, 8, 9, 23, 64, 130):
        for height in (2, 37):
            array = drifting_mask(rng, height, width, high)
            assert_identical(encode_png(array, mode, filters, rng=rng), array)


@pytest.mark.parametrize("mode", sorted(KINDS))
def test_pillow_written_masks(tmp_path, mode):
    rng = np.random.default_rng(7)
    high = KINDS[mode][2]
    for width, height in [(1, 1), (1, 7), (3, 1), (1023, 2), (64, 48)]:
        for array in patterns(rng, height, width, high):
            path = write_mask(tmp_path / "m.png", array, mode)
            with open(path, "rb") as handle:
                assert_identical(handle.read(), array)


def test_16_bit_values_are_big_endian_and_all_bins_reachable():
    array = np.array([[0, 1, 256, 65535, 65280, 255, 258, 1]], dtype=np.int64)
    for ftype in range(5):
        assert counts(fastpng.decode_histogram(encode_png(array, "I;16", ftype), "x", None)) == brute(array)


def test_split_idat_and_ancillary_chunks():
    rng = np.random.default_rng(3)
    array = patterns(rng, 9, 33, 256)[1]
    text = chunk(b"tEXt", b"Comment\x00made by a test") + chunk(b"tRNS", b"\x00\x05")
    assert_identical(encode_png(array, "L", "mixed", idat_parts=4, extra=text, rng=rng), array)


def test_zlib_fallback_when_libdeflate_is_missing(monkeypatch):
    rng = np.random.default_rng(4)
    array = patterns(rng, 20, 50, 256)[1]
    data = encode_png(array, "L", "mixed", rng=rng)
    monkeypatch.setattr(fastpng, "_CODEC", [None])
    assert counts(fastpng.decode_histogram(data, "x", None)) == brute(array)
    with pytest.raises(BadInputError, match="truncated"):
        fastpng.decode_histogram(_restream(data, lambda s: s[: len(s) // 2]), "x.png", None)
    with pytest.raises(BadInputError, match="more image data"):
        fastpng.decode_histogram(
            _restream(data, lambda s: zlib.compress(zlib.decompress(s) + b"\0" * 99)), "x", None
        )


def test_threads_give_identical_results():
    rng = np.random.default_rng(5)
    blobs = [encode_png(a, "L", "mixed", rng=rng) for a in patterns(rng, 64, 257, 256) * 4]
    expected = [counts(fastpng.decode_histogram(b, "x", None)) for b in blobs]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda b: counts(fastpng.decode_histogram(b, "x", None)), blobs * 3))
    assert got == expected * 3


# ------------------------------------------------------------------ corrupt and hostile files
def _restream(data: bytes, change) -> bytes:
    """``data`` with its zlib stream replaced by ``change(stream)`` in one IDAT chunk."""
    offset, parts, kept = 8, [], []
    while offset < len(data):
        (length,) = struct.unpack_from(">I", data, offset)
        kind = data[offset + 4 : offset + 8]
        (parts if kind == b"IDAT" else kept).append((kind, data[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    stream = change(b"".join(body for _, body in parts))
    out = fastpng.PNG_SIGNATURE
    for kind, body in kept:
        if kind == b"IEND":
            out += chunk(b"IDAT", stream)
        out += chunk(kind, body)
    return out


@pytest.fixture
def good_png() -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(11)
    array = patterns(rng, 24, 40, 256)[1]
    return encode_png(array, "L", "mixed", rng=rng), array


def _check_bad(data: bytes, pattern: str) -> str:
    for decoder in ("auto", "fast"):
        with pytest.raises(BadInputError, match=pattern) as info:
            decode_histogram(data, "bad.png", ReadOptions(decoder=decoder))
        assert info.value.path == "bad.png"
    return info.value.cause


def test_bad_crc_in_every_chunk_is_an_error(good_png):
    data, _ = good_png
    for name in (b"IHDR", b"IDAT", b"IEND"):
        at = data.index(name)
        (length,) = struct.unpack_from(">I", data, at - 4)
        broken = bytearray(data)
        broken[at + 4 + length] ^= 0x40  # first byte of the stored CRC
        cause = _check_bad(
            bytes(broken), f"corrupt image data: bad CRC checksum in the {name.decode()} chunk"
        )
        assert "byte" in cause
    broken = bytearray(data)
    broken[data.index(b"IDAT") + 6] ^= 1  # a flipped bit inside the compressed data
    _check_bad(bytes(broken), "bad CRC")


def test_truncation_at_every_offset_is_a_clean_error(good_png):
    data, _ = good_png
    for end in range(1, len(data)):
        with pytest.raises(BadInputError, match="truncated|corrupt|not an image") as info:
            decode_histogram(data[:end], "cut.png")
        if end >= 8:
            assert "truncated" in info.value.cause, (end, info.value.cause)


def test_truncated_stream_inside_a_whole_chunk(good_png):
    data, _ = good_png
    _check_bad(_restream(data, lambda s: s[: len(s) // 2]), "truncated|corrupt")
    _check_bad(_restream(data, lambda s: s[:-4]), "truncated|corrupt")  # no Adler-32


def test_too_much_data_and_bad_filter_type(good_png):
    data, array = good_png
    raw = zlib.decompress(_restream(data, lambda s: s)[data.index(b"IDAT") + 4 : -12])
    _check_bad(_restream(data, lambda s: zlib.compress(raw + b"\0" * 41)), "more image data")
    bad = bytearray(raw)
    bad[3 * (array.shape[1] + 1)] = 5  # row 3's filter type
    _check_bad(_restream(data, lambda s: zlib.compress(bytes(bad))), "bad filter type 5 in row 3")
    _check_bad(_restream(data, lambda s: b"\x78\x9c garbage"), "corrupt image data: invalid compressed")


@pytest.mark.parametrize(
    ("fields", "cause"),
    [
        ((0, 5, 8, 0), "image size 0x5"),
        ((5, 0, 8, 0), "image size 5x0"),
        ((5, 5, 7, 0), "bit depth 7 with colour type 0"),
        ((5, 5, 16, 3), "bit depth 16 with colour type 3"),
        ((5, 5, 8, 5), "bit depth 8 with colour type 5"),
    ],
)
def test_bad_ihdr(good_png, fields, cause):
    data, _ = good_png
    end = 8 + 25
    broken = fastpng.PNG_SIGNATURE + ihdr(*fields) + data[end:]
    _check_bad(broken, f"corrupt image data: bad IHDR: {cause}")


def test_ihdr_must_come_first_and_whole(good_png):
    data, _ = good_png
    first = fastpng.PNG_SIGNATURE + chunk(b"tEXt", b"a\x00b") + data[8:]
    _check_bad(first, "first chunk is tEXt")
    short = fastpng.PNG_SIGNATURE + chunk(b"IHDR", data[16:28]) + data[33:]
    _check_bad(short, "first chunk is IHDR of 12 bytes")
    no_idat = fastpng.PNG_SIGNATURE + data[8:33] + chunk(b"IEND", b"")
    _check_bad(no_idat, "no image data")
    huge = data[:33] + struct.pack(">I", 1 << 31) + b"IDAT" + data[41:]
    _check_bad(huge, "claims")


def test_pixel_limit_from_a_crafted_header_before_inflating():
    # 60000 x 60000 = 3.6e9 pixels, a few bytes of data: refused from IHDR alone
    data = fastpng.PNG_SIGNATURE + ihdr(60000, 60000, 8, 0) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
    data += chunk(b"IEND", b"")
    message = "image of 60000x60000 = 3600000000 pixels is over the limit of 89478485 pixels"
    _check_bad(data, message)
    with pytest.raises(BadInputError, match="over the limit of 1000 pixels"):
        decode_histogram(data, "bad.png", ReadOptions(max_pixels=1000))
    # without a limit, the size is still checked against what the data can hold: no 3.6 GB buffer
    with pytest.raises(BadInputError, match="truncated file .* cannot hold"):
        decode_histogram(data, "bad.png", ReadOptions(max_pixels=None))


def test_pixel_limit_same_message_as_pillow(tmp_path):
    path = write_mask(tmp_path / "big.png", np.zeros((10, 10)), "L")
    messages = set()
    for decoder in ("fast", "pillow"):
        with pytest.raises(BadInputError) as info:
            read_value_histogram(path, ReadOptions(decoder=decoder, max_pixels=99))
        messages.add(str(info.value))
    assert len(messages) == 1 and "over the limit of 99 pixels" in messages.pop()


# ------------------------------------------------------------------ fallback to Pillow
def _pillow_png(image: Image.Image, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=save.pop("format", "PNG"), **save)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: _pillow_png(Image.new("1", (9, 4), 1)), "bit depth 1 with colour type 0"),
        (lambda: _pillow_png(Image.new("P", (9, 4), 2)), "bit depth 1 with colour type 3"),
        (lambda: _pillow_png(Image.new("L", (9, 4), 3), format="TIFF"), "not a PNG"),
        (lambda: _pillow_png(Image.new("RGB", (9, 4))), "bit depth 8 with colour type 2"),
        (lambda: _pillow_png(Image.new("LA", (9, 4))), "bit depth 8 with colour type 4"),
    ],
)
def test_unsupported_kinds_fall_back_silently_under_auto(make, reason):
    data = make()
    with pytest.raises(fastpng.Unsupported, match=reason):
        fastpng.decode_histogram(data, "x", None)
    try:
        expected = counts(decode_histogram(data, "x.png", ReadOptions(decoder="pillow")))
    except BadInputError as exc:  # RGB / LA: the Pillow path's own error, under auto too
        with pytest.raises(BadInputError, match=re.escape(exc.cause)):
            decode_histogram(data, "x.png")
    else:
        assert counts(decode_histogram(data, "x.png")) == expected
    with pytest.raises(BadInputError, match=f"not readable by the fast decoder .*{reason}.*--decoder auto"):
        decode_histogram(data, "x.png", ReadOptions(decoder="fast"))


def test_interlaced_and_animated_fall_back(good_png):
    data, _ = good_png
    header = fastpng.PNG_SIGNATURE + ihdr(40, 24, 8, 0, interlace=1)
    with pytest.raises(fastpng.Unsupported, match="interlaced"):
        fastpng.parse_png(header + data[33:], "x", None)
    animated = data[:33] + chunk(b"acTL", struct.pack(">II", 1, 0)) + data[33:]
    with pytest.raises(fastpng.Unsupported, match="animated"):
        fastpng.parse_png(animated, "x", None)
    assert fastpng.read_fast(animated, "x", None, required=False) is None


def test_unknown_decoder_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown decoder 'turbo'"):
        ReadOptions(decoder="turbo")


def test_fast_without_numba_is_a_usage_error_and_auto_falls_back(monkeypatch, good_png):
    data, array = good_png
    monkeypatch.setattr(fastpng, "_KERNEL", [None])
    assert counts(decode_histogram(data, "x.png")) == brute(array)
    with pytest.raises(UsageError, match=r"--decoder fast needs numba .*segstats\[fast\]"):
        decode_histogram(data, "x.png", ReadOptions(decoder="fast"))


# ------------------------------------------------------------------ CLI, imports, cache
def test_decoder_flag_on_scan_and_weights(tmp_path):
    folder = tmp_path / "labels"
    folder.mkdir()
    rng = np.random.default_rng(8)
    for index in range(6):
        write_mask(folder / f"m{index}.png", patterns(rng, 30, 41, 3)[1], "L")
    runner = CliRunner()
    outputs = {}
    for decoder in ("auto", "fast", "pillow"):
        result = runner.invoke(app, ["weights", str(folder), "-k", "3", "--decoder", decoder, "-q"])
        assert result.exit_code == 0, result.output
        outputs[decoder] = result.stdout
        out = tmp_path / f"{decoder}.json"
        result = runner.invoke(
            app, ["scan", str(folder), "-k", "3", "--decoder", decoder, "-o", str(out), "-q"]
        )
        assert result.exit_code == 0, result.output
        outputs[decoder + "-scan"] = out.read_text()
    assert outputs["auto"] == outputs["fast"] == outputs["pillow"]
    assert outputs["auto-scan"] == outputs["fast-scan"] == outputs["pillow-scan"]
    result = runner.invoke(app, ["scan", str(folder), "--decoder", "turbo", "-o", str(tmp_path / "x.json")])
    assert result.exit_code == 2 and "unknown decoder 'turbo'" in result.output


def test_decoder_fast_names_the_file_it_cannot_read(tmp_path):
    Image.new("P", (8, 8), 1).save(tmp_path / "two.png")  # Pillow writes 1-bit palette PNGs
    result = CliRunner().invoke(
        app, ["scan", str(tmp_path), "--decoder", "fast", "-o", str(tmp_path / "s.json")]
    )
    assert result.exit_code == 2
    assert "two.png: not readable by the fast decoder" in result.output
    assert not (tmp_path / "s.json").exists()


def _python(code: str, **env: str) -> str:
    environ = {**os.environ, "PYTHONPATH": ROOT, **env}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_help_and_imports_never_load_numba():
    code = (
        "import sys\n"
        "import segstats, segstats.cli, segstats.decode, segstats.fastpng, segstats.reduce\n"
        "from segstats.cli import main\n"
        "sys.argv = ['segstats', 'scan', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('\\nloaded', 'numba' in sys.modules, 'imagecodecs' in sys.modules)"
    )
    assert _python(code).splitlines()[-1] == "loaded False False"


def test_compiled_kernel_is_cached_on_disk(tmp_path):
    code = (
        "from segstats import fastpng\n"
        f"data = open({SAMPLES[0]!r}, 'rb').read()\n"
        "fastpng.decode_histogram(data, 'x', None)\n"
        "stats = fastpng.kernel().stats\n"
        "print(len(stats.cache_hits), len(stats.cache_misses))"
    )
    cache = str(tmp_path / "numba-cache")
    first = _python(code, NUMBA_CACHE_DIR=cache)
    assert any(name.endswith(".nbi") for _, _, files in os.walk(cache) for name in files)
    second = _python(code, NUMBA_CACHE_DIR=cache)
    assert first.split()[1] == "1" and second.split() == ["1", "0"], (first, second)


def test_auto_reads_small_scans_with_pillow_unless_numba_is_loaded(tmp_path, monkeypatch):
    paths = [write_mask(tmp_path / f"m{i}.png", np.zeros((10, 30)), "L") for i in range(20)]
    assert fastpng._estimated_pixels(paths) == 20 * 300
    monkeypatch.setattr(fastpng, "_KERNEL", [])  # as in a fresh process
    assert fastpng.choose_decoder(paths, "auto") == "pillow"
    monkeypatch.setattr(fastpng, "FAST_MIN_PIXELS", 20 * 300)
    assert fastpng.choose_decoder(paths, "auto") == "auto"
    monkeypatch.setattr(fastpng, "FAST_MIN_PIXELS", 20 * 300 + 1)
    assert fastpng.choose_decoder(paths, "auto") == "pillow"
    assert fastpng.choose_decoder(paths, "fast") == "fast"
    assert fastpng.choose_decoder(paths, "pillow") == "pillow"
    monkeypatch.setattr(fastpng, "_KERNEL", [fastpng._unfilter_count])  # numba already loaded
    assert fastpng.choose_decoder(paths, "auto") == "auto"
    monkeypatch.setattr(fastpng, "_KERNEL", [None])  # numba missing
    assert fastpng.choose_decoder(paths, "auto") == "pillow"
    assert fastpng.choose_decoder(paths, "fast") == "fast"


def test_uncompiled_kernel_agrees(monkeypatch):
    """The kernel run as plain Python (with the plain unaligned load) gives the compiled result."""
    if not fastpng.available():
        pytest.skip("numba is not installed")
    monkeypatch.setattr(fastpng, "_load_u64", fastpng._load_u64_python)
    rng = np.random.default_rng(11)
    for mode in sorted(KINDS):
        high = KINDS[mode][2]
        for width in (1, 9, 21):
            array = drifting_mask(rng, 6, width, high)
            data = encode_png(array, mode, "mixed", rng=rng)
            header = fastpng.parse_png(data, "x.png", None)
            raw = fastpng.inflate(header, "x.png").copy()
            bins = 256 if header.bytes_per_pixel == 1 else 65536
            compiled, plain = np.zeros(bins, np.int64), np.zeros(bins, np.int64)
            args = (header.height, header.row_bytes, header.bytes_per_pixel)
            assert fastpng.kernel()(raw, *args, compiled) == -1
            assert fastpng._unfilter_count(raw, *args, plain) == -1
            assert np.array_equal(compiled, plain)
            assert dict(zip(*np.unique(array, return_counts=True), strict=True)) == {
                v: int(plain[v]) for v in np.flatnonzero(plain)
            }


def test_a_kernel_that_fails_its_self_check_means_no_fast_path(monkeypatch, good_png):
    """A numba/llvmlite that cannot build a correct kernel: Pillow reads everything, no error."""
    if not fastpng.available():
        pytest.skip("numba is not installed")
    assert fastpng._works(fastpng.kernel())
    assert not fastpng._works(lambda *args: -1)  # counts nothing
    assert not fastpng._works(lambda *args: 1 / 0)  # raises
    monkeypatch.setattr(fastpng, "_KERNEL", [])
    monkeypatch.setattr(fastpng, "_works", lambda compiled: False)
    assert fastpng.kernel() is None and not fastpng.available()
    data, array = good_png
    auto = decode_histogram(data, "x.png", ReadOptions(decoder="auto"))
    assert counts(auto) == brute(array)
