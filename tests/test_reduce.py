"""reduce: per-chunk sums, and the batched classification of 8-bit images.

``count_chunk`` decodes a chunk with one decoder call and classifies its 8-bit
images as one matrix; every other file goes one by one. These tests mix every
kind in one chunk and check the sums against the Pillow-only path and a
brute-force count, including value maps, inferred K and bad files.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from labelmasks import brute_force, random_mask, write_mask
from PIL import Image

from segstats._types import histogram_from_dense
from segstats.decode import ReadOptions
from segstats.histogram import LabelSpec, classify_dense
from segstats.labels import colour_table
from segstats.reduce import MAX_CHUNK_FILES, MIN_CHUNK_FILES, Totals, chunk_paths
from segstats.reduce import count_chunk as count_chunk_result


def count_chunk(*args, **kwargs) -> Totals:
    return count_chunk_result(*args, **kwargs).totals


AUTO = ReadOptions(decoder="auto")
PILLOW = ReadOptions(decoder="pillow")


def as_dict(totals: Totals) -> dict[str, object]:
    return {
        "pixel_counts": totals.pixel_counts.tolist(),
        "image_counts": totals.image_counts.tolist(),
        "image_pixels": totals.image_pixels.tolist(),
        "num_images": totals.num_images,
        "total_pixels": totals.total_pixels,
        "ignored_pixels": totals.ignored_pixels,
        "problems": sorted((p.path, p.error) for p in totals.problems),
        "sizes": dict(totals.sizes),
        "modes": dict(totals.modes),
    }


@pytest.fixture
def mixed(tmp_path):
    """Files of every kind in one folder: (sorted paths, arrays by path)."""
    rng = np.random.default_rng(5)
    arrays: dict[str, np.ndarray] = {}
    kinds = ["L", "P", "L", "I;16", "P", "L", "I", "1", "L"]
    for index, mode in enumerate(kinds):
        classes = 2 if mode == "1" else 6
        ignore = None if mode == "1" else 255
        array = random_mask(rng, 9 + index, 17 + 3 * index, classes, ignore)
        suffix = "tif" if mode == "I" else "png"
        arrays[write_mask(tmp_path / f"m{index}_{mode.replace(';', '')}.{suffix}", array, mode)] = array
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[:, 2:] = (128, 64, 128)
    path = str(tmp_path / "m9_rgb.png")
    Image.fromarray(rgb).save(path)
    arrays[path] = np.where(rgb[..., 0] == 128, 3, 0)
    return sorted(arrays), arrays


def test_mixed_chunk_matches_pillow_and_brute_force(mixed):
    paths, arrays = mixed
    spec = LabelSpec(num_classes=6, ignore_index=255)
    colors = colour_table({"0,0,0": 0, "128,64,128": 3})
    fast = count_chunk(paths, spec, options=ReadOptions(decoder="auto", colors=colors))
    slow = count_chunk(paths, spec, options=ReadOptions(decoder="pillow", colors=colors))
    assert as_dict(fast) == as_dict(slow)
    truth = brute_force([arrays[p] for p in paths], 6, 255)
    assert fast.pixel_counts.tolist() == truth.pixel_counts
    assert fast.image_counts.tolist() == truth.image_counts
    assert fast.image_pixels.tolist() == truth.image_pixels
    assert (fast.num_images, fast.total_pixels, fast.ignored_pixels) == (
        truth.num_images,
        truth.total_pixels,
        truth.ignored_pixels,
    )
    assert fast.modes["L"] == 4 and fast.modes["P"] == 2


def test_inferred_k_grows_only_to_the_classes_seen(tmp_path):
    """A batch may map 256 values to classes; K must follow the values present, not those possible."""
    paths = [write_mask(tmp_path / f"{i}.png", np.full((3, 4), i), "L") for i in (0, 2)]
    totals = count_chunk(paths, LabelSpec(), options=AUTO)
    assert totals.pixel_counts.tolist() == [12, 0, 12]
    assert totals.image_counts.tolist() == [1, 0, 1]


def test_value_map_merges_values_in_the_batch(tmp_path):
    rng = np.random.default_rng(9)
    arrays = [rng.choice([7, 8, 26, 0], size=(6, 11)) for _ in range(4)]
    paths = [write_mask(tmp_path / f"{i}.png", a, "L") for i, a in enumerate(arrays)]
    spec = LabelSpec(num_classes=2, ignore_index=255, value_map={7: 0, 8: 0, 26: 1, 0: 255})
    fast = count_chunk(paths, spec, options=AUTO)
    assert as_dict(fast) == as_dict(count_chunk(paths, spec, options=PILLOW))
    mapped = [np.select([np.isin(a, [7, 8]), a == 26], [0, 1], 255) for a in arrays]
    assert fast.pixel_counts.tolist() == brute_force(mapped, 2, 255).pixel_counts
    assert fast.image_pixels.tolist() == brute_force(mapped, 2, 255).image_pixels


@pytest.mark.parametrize("skip_errors", [False, True])
def test_bad_files_in_a_batch(tmp_path, skip_errors):
    good = [write_mask(tmp_path / f"a{i}.png", np.full((2, 3), i), "L") for i in range(3)]
    unknown = write_mask(tmp_path / "b_unknown.png", np.array([[1, 9, 9]]), "L")
    broken = str(tmp_path / "c_broken.png")
    with open(good[0], "rb") as handle:
        data = handle.read()
    with open(broken, "wb") as handle:
        handle.write(data[: len(data) // 2])
    empty = str(tmp_path / "d_empty.png")
    open(empty, "wb").close()
    paths = sorted([*good, unknown, broken, empty])
    spec = LabelSpec(num_classes=3)
    fast = count_chunk(paths, spec, skip_errors, AUTO)
    slow = count_chunk(paths, spec, skip_errors, PILLOW)
    problems = {p.path: p.error for p in fast.problems}
    assert "unknown label values 9 in 2 pixels" in problems[unknown]
    # one verdict per file: both decoders word every problem the same way
    assert as_dict(fast) == as_dict(slow)
    assert set(problems) == {unknown, broken, empty}
    assert fast.pixel_counts.tolist() == [6, 6, 6] and fast.num_images == 3


def test_classify_dense_equals_classify_per_image():
    rng = np.random.default_rng(3)
    dense = rng.integers(0, 5, size=(7, 256)) * (rng.random((7, 256)) < 0.05)
    from segstats.histogram import classify

    for spec in (
        LabelSpec(num_classes=40, ignore_index=255),
        LabelSpec(ignore_index=3),
        LabelSpec(num_classes=3, value_map={v: v % 4 for v in range(0, 256, 2)}),
    ):
        batch = classify_dense(dense, spec)
        for row in range(dense.shape[0]):
            image = classify(histogram_from_dense(dense[row], 1, int(dense[row].sum()), "L"), spec)
            per_class = dict(zip(batch.class_ids.tolist(), batch.class_pixels[row].tolist(), strict=True))
            assert {c: n for c, n in per_class.items() if n} == dict(
                zip(image.class_ids.tolist(), image.class_pixels.tolist(), strict=True)
            )
            assert batch.ignored_pixels[row] == image.ignored_pixels
            assert batch.unknown_pixels[row] == image.unknown_pixels
            assert batch.total_pixels[row] == image.total_pixels


def test_chunk_sums_do_not_depend_on_chunking(mixed):
    paths, _ = mixed
    spec = LabelSpec(ignore_index=255)
    pieces = [p for p in paths if not p.endswith(("rgb.png", ".tif"))]
    whole = count_chunk(pieces, spec, options=AUTO)
    merged = Totals()
    for start in range(0, len(pieces), 3):
        merged.merge(count_chunk(pieces[start : start + 3], spec, options=AUTO))
    assert as_dict(whole) == as_dict(merged)
    assert os.path.basename(pieces[0]).startswith("m0")


def test_image_sizes_and_modes_in_a_fixed_order(mixed):
    """Most common first, ties by key, whatever the decoder, chunking or completion order."""
    import segstats

    paths, _ = mixed
    colors = {"0,0,0": 0, "128,64,128": 3}
    runs = [
        segstats.scan(paths[0], files=order, num_classes=6, ignore_index=255, decoder=d, colors=colors)
        for d in ("auto", "pillow")
        for order in (paths, paths[::-1])
    ]
    for stats in runs:
        assert list(stats.image_modes.items()) == list(runs[0].image_modes.items())
        assert list(stats.image_sizes.items()) == list(runs[0].image_sizes.items())
    counts = list(runs[0].image_modes.values())
    assert counts == sorted(counts, reverse=True) and counts[0] == 4  # L first


@pytest.mark.parametrize("jobs", [1, 2])
def test_per_image_rows_in_sorted_order_equal_a_brute_force_count(tmp_path, jobs):
    """on_rows: one row per file read, in sorted path order whatever the chunk timing; their sums
    are the document's integer fields; skipped files have no row."""
    import segstats

    rng = np.random.default_rng(17)
    arrays = {}
    for index in range(150):  # several chunks on two threads
        array = random_mask(rng, 5 + index % 4, 7, 4, ignore_index=255)
        arrays[write_mask(tmp_path / f"m{index:03d}.png", array, ("L", "P", "I;16")[index % 3])] = array
    (tmp_path / "m050_bad.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    rows = []
    stats = segstats.scan(
        tmp_path, num_classes=4, ignore_index=255, jobs=jobs, skip_errors=True, on_rows=rows.extend
    )
    assert [r.path for r in rows] == sorted(arrays)
    for row in rows:
        array = arrays[row.path]
        values, counts = np.unique(array[array != 255], return_counts=True)
        assert dict(
            zip(row.counts.class_ids.tolist(), row.counts.class_pixels.tolist(), strict=True)
        ) == dict(zip(values.tolist(), counts.tolist(), strict=True))
        assert (row.height, row.width) == array.shape
        assert row.counts.ignored_pixels == int((array == 255).sum())
    assert sum(int(r.counts.class_pixels.sum()) for r in rows) == int(stats.pixel_counts.sum())
    assert sum(r.counts.ignored_pixels for r in rows) == stats.ignored_pixels
    assert len(rows) == stats.num_images == 150


@given(st.integers(0, 5000), st.integers(1, 16))
def test_chunks_cover_the_files_in_order_and_shrink_toward_the_end(files, workers):
    """Guided chunks: contiguous, in order, at most MAX_CHUNK_FILES, never larger than the one
    before (but the last, which takes a remainder under MIN_CHUNK_FILES), and a small last chunk,
    so that no worker is left with a big one when the others are done."""
    paths = [f"{i:05d}.png" for i in range(files)]
    chunks = chunk_paths(paths, workers)
    assert [p for chunk in chunks for p in chunk] == paths
    sizes = [len(chunk) for chunk in chunks]
    assert all(0 < size <= MAX_CHUNK_FILES for size in sizes)
    assert all(later <= earlier for earlier, later in itertools.pairwise(sizes[:-1]))
    if files >= MIN_CHUNK_FILES:
        assert all(size >= MIN_CHUNK_FILES for size in sizes)
        assert sizes[-1] < 2 * MIN_CHUNK_FILES  # equal chunks (the old split) fail here
    if files >= 4 * MIN_CHUNK_FILES * workers:
        assert len(chunks) > workers  # every worker gets work, and more than one chunk in all
