"""The decoders (native reader, Pillow, auto) against each other and a brute-force count.

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

from segstats.cli import app
from segstats.decode import ReadOptions, decode_histogram, read_value_histogram
from segstats.errors import BadInputError, UsageError
from segstats.png import PNG_SIGNATURE

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
    return PNG_SIGNATURE + body


# ------------------------------------------------------------------ helpers
def counts(histogram) -> dict[int, int]:
    return dict(zip(histogram.values.tolist(), histogram.counts.tolist(), strict=True))


def fast(data: bytes):
    return decode_histogram(data, "x.png", ReadOptions(decoder="fast", max_pixels=None))


def brute(array: np.ndarray) -> dict[int, int]:
    return dict(sorted(Counter(int(v) for v in array.ravel().tolist()).items()))


def assert_identical(data: bytes, array: np.ndarray | None = None) -> None:
    """Fast path == Pillow path, field by field (and == a brute-force count when given)."""
    fast = decode_histogram(data, "x.png", ReadOptions(decoder="fast"))
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


def test_every_sample_is_read_by_the_native_reader():
    for path in SAMPLES:
        with open(path, "rb") as handle:
            assert_identical(handle.read())


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
        assert counts(fast(encode_png(array, "I;16", ftype))) == brute(array)


def test_split_idat_and_ancillary_chunks():
    rng = np.random.default_rng(3)
    array = patterns(rng, 9, 33, 256)[1]
    text = chunk(b"tEXt", b"Comment\x00made by a test") + chunk(b"tRNS", b"\x00\x05")
    assert_identical(encode_png(array, "L", "mixed", idat_parts=4, extra=text, rng=rng), array)


def test_zlib_gives_the_same_verdicts_as_libdeflate():
    """SEGSTATS_INFLATE=zlib (what a machine without libdeflate gets): same counts, same refusals."""
    code = (
        "import sys, zlib\n"
        "sys.path.insert(0, 'tests')\n"
        "from test_decoders import encode_png, patterns, _restream, fast\n"
        "from segstats import png\n"
        "from segstats.errors import BadInputError\n"
        "import numpy as np\n"
        "rng = np.random.default_rng(4)\n"
        "array = patterns(rng, 20, 50, 256)[1]\n"
        "data = encode_png(array, 'L', 'mixed', rng=rng)\n"
        "print(png.inflate_backend(), dict(zip(*np.unique(array, return_counts=True))) == "
        "dict(zip(fast(data).values.tolist(), fast(data).counts.tolist())))\n"
        "for bad in (_restream(data, lambda s: s[: len(s) // 2]),\n"
        "            _restream(data, lambda s: zlib.compress(zlib.decompress(s) + b'\\0' * 99))):\n"
        "    try:\n        fast(bad)\n    except BadInputError as exc:\n        print(exc.cause)\n"
    )
    outputs = {backend: _python(code, SEGSTATS_INFLATE=backend) for backend in ("zlib", "libdeflate")}
    assert outputs["zlib"].splitlines()[0] == "zlib True"
    assert outputs["zlib"].splitlines()[1:] == outputs["libdeflate"].splitlines()[1:]
    assert "truncated" in outputs["zlib"].splitlines()[1]


def test_threads_give_identical_results():
    rng = np.random.default_rng(5)
    blobs = [encode_png(a, "L", "mixed", rng=rng) for a in patterns(rng, 64, 257, 256) * 4]
    expected = [counts(fast(b)) for b in blobs]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda b: counts(fast(b)), blobs * 3))
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
    out = PNG_SIGNATURE
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
        ((5, 5, 8, 5), "colour type 5"),
    ],
)
def test_bad_ihdr(good_png, fields, cause):
    data, _ = good_png
    end = 8 + 25
    broken = PNG_SIGNATURE + ihdr(*fields) + data[end:]
    _check_bad(broken, f"corrupt image data: bad IHDR: {cause}")


def test_ihdr_must_come_first_and_whole(good_png):
    data, _ = good_png
    first = PNG_SIGNATURE + chunk(b"tEXt", b"a\x00b") + data[8:]
    _check_bad(first, "first chunk is tEXt")
    short = PNG_SIGNATURE + chunk(b"IHDR", data[16:28]) + data[33:]
    _check_bad(short, "first chunk is IHDR of 12 bytes")
    no_idat = PNG_SIGNATURE + data[8:33] + chunk(b"IEND", b"")
    _check_bad(no_idat, "no image data")
    huge = data[:33] + struct.pack(">I", 1 << 31) + b"IDAT" + data[41:]
    _check_bad(huge, "claims")


def test_pixel_limit_from_a_crafted_header_before_inflating():
    # 60000 x 60000 = 3.6e9 pixels, a few bytes of data: refused from IHDR alone
    data = PNG_SIGNATURE + ihdr(60000, 60000, 8, 0) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
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


# ------------------------------------------------------------------ kinds and the Pillow path
def _pillow_png(image: Image.Image, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=save.pop("format", "PNG"), **save)
    return buffer.getvalue()


def _every_decoder(data: bytes) -> dict[str, object]:
    """Each decoder's answer: a {value: count} dict, or the refusal's cause."""
    answers: dict[str, object] = {}
    for decoder in ("auto", "fast", "pillow"):
        try:
            answers[decoder] = counts(decode_histogram(data, "x.png", ReadOptions(decoder=decoder)))
        except BadInputError as exc:
            answers[decoder] = exc.cause
    return answers


def test_low_bit_depths_count_stored_values_under_every_decoder():
    """1/2/4-bit grey and palette: the stored sample (a 4-bit 3 is 3, never Pillow's 51)."""
    for mode, high in (("1", 2), ("P", 2)):
        array = np.random.default_rng(1).integers(0, high, size=(5, 9))
        image = Image.fromarray((array * (255 if mode == "1" else 1)).astype(np.uint8), "L")
        data = _pillow_png(image.convert("1") if mode == "1" else image.convert("P"))
        answers = _every_decoder(data)
        assert answers["auto"] == answers["fast"] == answers["pillow"] == brute(array), (mode, answers)


def test_grey_alpha_counts_the_grey_band():
    grey = np.random.default_rng(2).integers(0, 4, size=(6, 7))
    image = Image.merge("LA", [Image.fromarray(grey.astype(np.uint8)), Image.new("L", (7, 6), 200)])
    answers = _every_decoder(_pillow_png(image))
    assert answers["auto"] == answers["fast"] == answers["pillow"] == brute(grey)


def test_tiff_and_colour_kinds():
    tiff = _pillow_png(Image.new("L", (9, 4), 3), format="TIFF")
    answers = _every_decoder(tiff)
    assert answers["auto"] == answers["pillow"] == {3: 36}
    assert re.match(r"not readable by the fast decoder \(not a PNG.*\); use --decoder auto", answers["fast"])
    rgb = _every_decoder(_pillow_png(Image.new("RGB", (9, 4))))
    assert rgb["auto"] == rgb["pillow"] and "colour map (--colors FILE)" in rgb["auto"]
    assert "not readable by the fast decoder (8-bit RGB colour PNG)" in rgb["fast"]


def test_animated_png_counts_its_default_image(good_png):
    """acTL/fcTL are ancillary: not interpreted (interlaced files: tests/test_png.py)."""
    data, array = good_png
    animated = data[:33] + chunk(b"acTL", struct.pack(">II", 1, 0)) + data[33:]
    assert _every_decoder(animated) == dict.fromkeys(("auto", "fast", "pillow"), brute(array))


def test_unknown_decoder_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown decoder 'turbo'"):
        ReadOptions(decoder="turbo")


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
    Image.new("L", (8, 8), 1).save(tmp_path / "two.tif")
    result = CliRunner().invoke(
        app, ["scan", str(tmp_path / "two.tif"), "--decoder", "fast", "-o", str(tmp_path / "s.json")]
    )
    assert result.exit_code == 2
    assert "two.tif: not readable by the fast decoder" in result.output
    assert not (tmp_path / "s.json").exists()


def _python(code: str, **env: str) -> str:
    environ = {**os.environ, "PYTHONPATH": ROOT, **env}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_help_and_imports_load_no_heavy_module():
    """The library loads no numba/torch/joblib; ``--help`` loads not even numpy or Pillow."""
    imports = (
        "import sys\n"
        "import segstats, segstats.cli, segstats.decode, segstats.reduce\n"
        "from segstats import reduce\n"
        "reduce.SERIAL_MAX_FILES = 1  # a thread pool even for the sample's 40 files\n"
        "segstats.scan('sample_masks', num_classes=3, jobs=2)  # local scans: a plain thread pool\n"
        "print('loaded', [m for m in ('numba', 'imagecodecs', 'torch', 'joblib', 'PIL') if m in sys.modules])"
    )
    assert _python(imports).splitlines()[-1] == "loaded []"  # PNGs only: Pillow is never imported
    help_only = (
        "import sys\n"
        "from segstats.cli import main\n"
        "sys.argv = ['segstats', 'scan', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('\\nloaded', [m for m in ('numpy', 'PIL', 'torch', 'joblib') if m in sys.modules])"
    )
    assert _python(help_only).splitlines()[-1] == "loaded []"


def test_the_default_pixel_limit_is_pillows():
    from segstats.decoders import DEFAULT_MAX_PIXELS

    assert Image.MAX_IMAGE_PIXELS == DEFAULT_MAX_PIXELS
