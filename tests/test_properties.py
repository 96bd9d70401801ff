"""Property and fuzz tests (hypothesis, fixed seed, bounded examples).

1. Random valid masks (modes 1, L, P, I;16, I; sizes; values; ignore index)
   give exactly the counts of a brute-force per-pixel count.
2. Mutated PNG bytes (bit flips, truncation, chunk shuffles, drops and
   duplicates) either decode to the original pixels or fail with
   BadInputError, on every decoder path, never crash and never hang.

Every decoder is tested: "pillow", "auto" and "fast" (the native reader).
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
import time
import zlib
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from labelmasks import brute_force, write_mask
from PIL import Image

import segstats
from segstats.decode import ReadOptions, decode_histogram
from segstats.errors import BadInputError

DECODERS = ["pillow", "auto", "fast"]
# Modes the fast decoder reads (every grey and palette PNG); "fast" refuses TIFF ("I") by design.
FAST_MODES = ("1", "L", "P", "I;16")
# Seconds one decode of a tiny mutated file may take before it counts as a hang.
PER_FILE_SECONDS = 2.0
# Largest value of each mode (I is signed 32-bit).
MODE_MAX = {"1": 1, "L": 255, "P": 255, "I;16": 65535, "I": (1 << 31) - 1}
MODE_MIN = {"1": 0, "L": 0, "P": 0, "I;16": 0, "I": -(1 << 31)}
# Examples per property test (SEGSTATS_FUZZ_EXAMPLES raises it for a longer local fuzzing run).
PROPERTY_SETTINGS = settings(
    derandomize=True,
    max_examples=int(os.environ.get("SEGSTATS_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def label_sets(draw, modes=tuple(sorted(MODE_MAX))):
    """(mode, num_classes or None, ignore_index, arrays) for a small valid dataset."""
    mode = draw(st.sampled_from(modes))
    num_classes = draw(st.integers(1, min(MODE_MAX[mode] + 1, 40)))
    ignore = draw(st.one_of(st.none(), st.integers(MODE_MIN[mode], MODE_MAX[mode]), st.just(MODE_MAX[mode])))
    allowed = list(range(num_classes)) + ([ignore] if ignore is not None else [])
    count = draw(st.integers(1, 3))
    images = [
        draw(
            arrays(
                np.int64,
                st.tuples(st.integers(1, 24), st.integers(1, 24)),
                elements=st.sampled_from(allowed),
            )
        )
        for _ in range(count)
    ]
    infer = draw(st.booleans())
    return mode, (None if infer else num_classes), ignore, images


@pytest.mark.parametrize("decoder", DECODERS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_random_valid_masks_match_brute_force(decoder, data):
    modes = FAST_MODES if decoder == "fast" else tuple(sorted(MODE_MAX))
    mode, num_classes, ignore, images = data.draw(label_sets(modes))
    class_values = [int(v) for a in images for v in np.unique(a) if v != ignore]
    with tempfile.TemporaryDirectory() as folder:
        suffix = "tif" if mode == "I" else "png"
        files = [write_mask(os.path.join(folder, f"m{i}.{suffix}"), a, mode) for i, a in enumerate(images)]
        if num_classes is None and not class_values:  # nothing to infer K from: a clear error
            with pytest.raises(segstats.SegstatsError, match="cannot be inferred"):
                segstats.scan(folder, ignore_index=ignore, jobs=1, decoder=decoder, files=files)
            return
        stats = segstats.scan(
            folder, num_classes=num_classes, ignore_index=ignore, jobs=1, decoder=decoder, files=files
        )
    k = num_classes if num_classes is not None else max(class_values) + 1
    truth = brute_force(images, k, ignore)
    assert stats.num_classes == k
    assert stats.num_images == truth.num_images == len(images)
    assert stats.total_pixels == truth.total_pixels
    assert stats.ignored_pixels == truth.ignored_pixels
    assert stats.pixel_counts.tolist() == truth.pixel_counts
    assert stats.image_counts.tolist() == truth.image_counts
    assert stats.image_pixels.tolist() == truth.image_pixels
    assert stats.errors == []


# ------------------------------------------------------------------ fuzzing
def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def split_chunks(data: bytes) -> list[bytes]:
    """The raw chunks (length..CRC) of a well-formed PNG, signature excluded."""
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack_from(">I", data, position)
        chunks.append(data[position : position + 12 + length])
        position += 12 + length
    return chunks


@st.composite
def png_files(draw):
    """(PNG bytes with 1-3 IDAT chunks and maybe a tEXt chunk, the pixel array)."""
    mode = draw(st.sampled_from(["1", "L", "P", "I;16"]))
    high = {"1": 2, "L": 256, "P": 256, "I;16": 65536}[mode]
    pixels = draw(
        arrays(
            np.int64,
            st.tuples(st.integers(1, 12), st.integers(1, 12)),
            elements=st.integers(0, min(high - 1, 5)) | st.integers(0, high - 1),
        )
    )
    with tempfile.TemporaryDirectory() as folder:
        path = write_mask(os.path.join(folder, "m.png"), pixels, mode)
        with open(path, "rb") as handle:
            data = handle.read()
    chunks = split_chunks(data)
    idat = b"".join(c[8:-4] for c in chunks if c[4:8] == b"IDAT")
    cuts = sorted(draw(st.lists(st.integers(1, max(1, len(idat) - 1)), max_size=2, unique=True)))
    pieces = [idat[a:b] for a, b in zip([0, *cuts], [*cuts, len(idat)], strict=True)]
    before = [c for c in chunks if c[4:8] not in (b"IDAT", b"IEND")]
    if draw(st.booleans()):
        before.append(chunk(b"tEXt", b"Comment\x00fuzz"))
    rebuilt = b"\x89PNG\r\n\x1a\n" + b"".join(before) + b"".join(chunk(b"IDAT", p) for p in pieces)
    rebuilt += chunk(b"IEND", b"")
    return rebuilt, pixels


@st.composite
def mutations(draw, data: bytes):
    """A mutated copy of ``data`` and a description of the mutation."""
    kind = draw(st.sampled_from(["flip", "truncate", "swap", "drop", "duplicate"]))
    if kind == "flip":
        flips = draw(
            st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 7)), min_size=1, max_size=3)
        )
        mutated = bytearray(data)
        for position, bit in flips:
            mutated[position] ^= 1 << bit
        return bytes(mutated), f"flip {flips}"
    if kind == "truncate":
        at = draw(st.integers(0, len(data) - 1))
        return data[:at], f"truncate at {at}"
    chunks = split_chunks(data)
    i = draw(st.integers(0, len(chunks) - 1))
    if kind == "swap":
        j = draw(st.integers(0, len(chunks) - 1))
        chunks[i], chunks[j] = chunks[j], chunks[i]
    elif kind == "drop":
        del chunks[i]
    else:
        chunks.insert(i, chunks[i])
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks), f"{kind} chunk {i}"


def original_counts(pixels: np.ndarray) -> dict[int, int]:
    return dict(Counter(int(v) for v in pixels.ravel()))


@pytest.mark.parametrize("decoder", DECODERS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_mutated_png_agrees_or_fails_cleanly(decoder, data):
    original, pixels = data.draw(png_files())
    reference = decode_histogram(original, "orig.png", ReadOptions(decoder="pillow"))
    assert dict(zip(reference.values.tolist(), reference.counts.tolist(), strict=True)) == original_counts(
        pixels
    )
    mutated, how = data.draw(mutations(original))
    started = time.perf_counter()
    try:
        result = decode_histogram(mutated, "fuzz.png", ReadOptions(decoder=decoder))
    except BadInputError as exc:
        assert exc.path == "fuzz.png" and exc.cause and "\n" not in str(exc), how
    else:
        # a mutation that keeps the file valid (e.g. moving tEXt) must not change a single count
        assert (result.width, result.height) == (reference.width, reference.height), how
        assert result.values.tolist() == reference.values.tolist(), how
        assert result.counts.tolist() == reference.counts.tolist(), how
    assert time.perf_counter() - started < PER_FILE_SECONDS, how


def test_pillow_path_rejects_what_pillow_alone_accepts():
    """Why the chunk check exists: Pillow decodes these without a word."""
    buffer = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) % 3).save(buffer, format="PNG")
    data = buffer.getvalue()
    no_iend = data[:-12]
    bad_crc = data[:-16] + bytes([data[-16] ^ 1]) + data[-15:]
    for broken, cause in (
        (no_iend, "before the IEND chunk"),
        (bad_crc, "bad CRC checksum in the IDAT chunk"),
    ):
        with Image.open(io.BytesIO(broken)) as image:
            image.load()  # Pillow is happy
        with pytest.raises(BadInputError, match=cause):
            decode_histogram(broken, "x.png")
