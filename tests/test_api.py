"""segstats.scan against an independent brute-force count, for every mode and any --jobs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from labelmasks import brute_force, random_mask, write_mask

import segstats
from segstats import reduce as reduce_module
from segstats.errors import BadInputError, SegstatsError


def assert_matches(stats, expected):
    assert stats.num_images == expected.num_images
    assert stats.total_pixels == expected.total_pixels
    assert stats.ignored_pixels == expected.ignored_pixels
    assert stats.pixel_counts.tolist() == expected.pixel_counts
    assert stats.image_counts.tolist() == expected.image_counts
    assert stats.image_pixels.tolist() == expected.image_pixels


@pytest.mark.parametrize(
    ("modes", "num_classes", "ignore_index", "suffix"),
    [
        (["L", "P"], 5, 255, "png"),
        (["1"], 2, None, "png"),
        (["I;16"], 300, 65535, "png"),
        (["I"], 7, -1, "tif"),
        (["L", "P", "I;16"], 4, None, "png"),
    ],
)
def test_scan_is_exact_for_every_mode(tmp_path, rng, modes, num_classes, ignore_index, suffix):
    arrays = []
    for index in range(9):
        mode = modes[index % len(modes)]
        array = random_mask(rng, 17 + index, 23, num_classes, ignore_index)
        if index == 4:
            array[:] = 0  # an image with a single class
        write_mask(tmp_path / f"m{index}.{suffix}", array, mode)
        arrays.append(array)
    stats = segstats.scan(str(tmp_path / f"*.{suffix}"), num_classes, ignore_index, jobs=1)
    assert_matches(stats, brute_force(arrays, num_classes, ignore_index))
    assert stats.num_classes == num_classes


def test_results_do_not_depend_on_jobs(tmp_path, rng, monkeypatch):
    arrays = []
    for index in range(30):
        array = random_mask(rng, 16, 16 + index, 6, 255, ignore_fraction=0.2)
        write_mask(tmp_path / f"m{index:02d}.png", array, "L")
        arrays.append(array)
    # force the pool even for 30 files, and several chunks per worker
    monkeypatch.setattr(reduce_module, "SERIAL_MAX_FILES", 0)
    monkeypatch.setattr(reduce_module, "MAX_CHUNK_FILES", 3)
    one = segstats.scan(tmp_path, 6, 255, jobs=1)
    two = segstats.scan(tmp_path, 6, 255, jobs=2)
    assert one.to_json() == two.to_json()
    assert_matches(two, brute_force(arrays, 6, 255))


def test_progress_reports_every_file(tmp_path, rng):
    for index in range(5):
        write_mask(tmp_path / f"m{index}.png", random_mask(rng, 8, 8, 2), "L")
    done = []
    segstats.scan(tmp_path, 2, jobs=1, progress=done.append)
    assert sum(done) == 5


def test_num_classes_inferred_from_largest_value(tmp_path):
    write_mask(tmp_path / "a.png", np.array([[0, 4, 255]]), "L")
    stats = segstats.scan(tmp_path, ignore_index=255)
    assert stats.num_classes == 5
    assert stats.pixel_counts.tolist() == [1, 0, 0, 0, 1]


def test_unknown_value_names_file_and_values(tmp_path):
    write_mask(tmp_path / "a.png", np.array([[0, 1]]), "L")
    write_mask(tmp_path / "b.png", np.array([[0, 3, 255]]), "L")
    with pytest.raises(BadInputError, match=r"b\.png: unknown label values 3, 255") as info:
        segstats.scan(tmp_path, num_classes=3)
    assert info.value.path.endswith("b.png")


def test_skip_errors_counts_good_files_and_lists_bad_ones(tmp_path):
    write_mask(tmp_path / "a.png", np.array([[0, 1]]), "L")
    write_mask(tmp_path / "b.png", np.array([[0, 3]]), "L")
    (tmp_path / "c.png").write_bytes(b"")
    stats = segstats.scan(tmp_path, num_classes=3, skip_errors=True)
    assert stats.num_images == 1
    assert stats.pixel_counts.tolist() == [1, 1, 0]
    assert [e["path"][-5:] for e in stats.errors] == ["b.png", "c.png"]
    assert "empty file" in stats.errors[1]["error"]


def test_nothing_countable(tmp_path):
    write_mask(tmp_path / "a.png", np.full((2, 2), 255), "L")
    with pytest.raises(SegstatsError, match="pass --num-classes"):
        segstats.scan(tmp_path, ignore_index=255)
    stats = segstats.scan(tmp_path, num_classes=2, ignore_index=255)
    assert stats.ignored_pixels == 4 and stats.pixel_counts.tolist() == [0, 0]


def test_stats_round_trip_through_json(masks_dir):
    folder, _ = masks_dir
    stats = segstats.scan(folder, 3, 255)
    again = segstats.DatasetStats.from_json(stats.to_json())
    assert again.to_dict() == stats.to_dict()
    assert json.loads(stats.to_json())["pixel_counts"] == stats.pixel_counts.tolist()
