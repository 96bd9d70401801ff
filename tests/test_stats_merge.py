"""merge(scan(A), scan(B)) == scan(A + B), field by field (stats.merge_stats)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from labelmasks import random_mask, write_mask

import segstats
from segstats import DatasetStats, merge_stats


def assert_same_stats(left: DatasetStats, right: DatasetStats) -> None:
    for field in dataclasses.fields(DatasetStats):
        a, b = getattr(left, field.name), getattr(right, field.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype == np.int64, field.name
            np.testing.assert_array_equal(a, b, err_msg=field.name)
        else:
            assert a == b, field.name


@pytest.fixture
def split_dataset(tmp_path, rng):
    """Two folders of masks of several sizes and modes, each with one broken file."""
    folders = []
    for split, count in (("a", 7), ("b", 5)):
        folder = tmp_path / split
        folder.mkdir()
        for index in range(count):
            array = random_mask(rng, 16 + 4 * (index % 3), 20, 4, ignore_index=255)
            write_mask(folder / f"{split}{index:02d}.png", array, ("L", "P")[index % 2])
        (folder / f"{split}99_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
        folders.append(folder)
    return folders


@pytest.mark.parametrize("names", [None, ["road", "car", "sky", "tree"]])
def test_merge_of_scans_equals_scan_of_union(split_dataset, names):
    a, b = split_dataset
    options = {"num_classes": 4, "ignore_index": 255, "skip_errors": True, "jobs": 1, "class_names": names}
    part_a = segstats.scan(a, **options)
    part_b = segstats.scan(b, **options)
    whole = segstats.scan([a, b], **options)
    merged = merge_stats([part_a, part_b])
    assert_same_stats(merged, whole)
    assert len(whole.errors) == 2 and whole.num_images == 12
    assert len(whole.image_sizes) == 3 and set(whole.image_modes) == {"L", "P"}


def test_merge_through_json_keeps_every_document_field(split_dataset):
    a, b = split_dataset
    options = {"num_classes": 4, "ignore_index": 255, "skip_errors": True, "jobs": 1}
    parts = [DatasetStats.from_json(segstats.scan(p, **options).to_json()) for p in (a, b)]
    whole = segstats.scan([a, b], **options)
    assert merge_stats(parts).to_dict() == whole.to_dict()


def test_merge_is_order_independent_in_its_counts(split_dataset):
    a, b = split_dataset
    options = {"num_classes": 4, "ignore_index": 255, "skip_errors": True, "jobs": 1}
    parts = [segstats.scan(p, **options) for p in (a, b)]
    ab, ba = merge_stats(parts).to_dict(), merge_stats(parts[::-1]).to_dict()
    ab.pop("errors"), ba.pop("errors")
    assert ab == ba


@pytest.mark.parametrize(
    "change,rule",
    [
        ({"image_pixels": [10, 0, 5]}, "pixel_counts[c] <= image_pixels[c]"),
        ({"image_counts": [1, 0, 1]}, "exactly when"),
        ({"image_counts": [1, 3, 1]}, "image_counts[c] <= num_images"),
        ({"total_pixels": 5}, "total_pixels"),
    ],
)
def test_inconsistent_documents_are_refused(change, rule):
    document = {
        "schema_version": 1,
        "num_classes": 3,
        "ignore_index": None,
        "num_images": 2,
        "total_pixels": 20,
        "ignored_pixels": 0,
        "pixel_counts": [4, 1, 5],
        "image_counts": [1, 1, 1],
        "image_pixels": [10, 10, 10],
    }
    DatasetStats.from_dict(document)  # the unchanged document is fine
    with pytest.raises(segstats.BadInputError, match=r"^doc: inconsistent counts: ") as caught:
        DatasetStats.from_dict({**document, **change}, "doc")
    assert rule in str(caught.value)


def test_merge_refuses_documents_covering_the_same_files(tmp_path):
    """merge a.json a.json would double every count: refused, naming both documents."""
    from segstats import scan
    from segstats.errors import BadInputError

    folder = tmp_path / "labels"
    folder.mkdir()
    rng = np.random.default_rng(9)
    for index in range(5):
        write_mask(folder / f"m{index}.png", random_mask(rng, 5, 6, 3), "L")
    whole = scan(folder, num_classes=3)
    shards = [scan(folder, num_classes=3, shard=(i, 2)) for i in range(2)]
    assert len(whole.files_digest) == 64 and whole.to_dict()["files_digest"] == whole.files_digest
    merged = merge_stats(shards, ["s0.json", "s1.json"])
    assert merged.to_dict() == whole.to_dict()  # digests add up: merged shards == the whole scan
    assert len({whole.files_digest, shards[0].files_digest, shards[1].files_digest}) == 3
    with pytest.raises(BadInputError, match="s0b.json: covers the same files as s0.json"):
        merge_stats([shards[0], shards[1], shards[0]], ["s0.json", "s1.json", "s0b.json"])
    reloaded = type(whole).from_json(whole.to_json(), "w.json")
    assert reloaded.files_digest == whole.files_digest
    old = whole.to_dict()
    del old["files_digest"]  # a document of segstats 0.1 still loads and merges
    assert type(whole).from_dict(old, "old.json").files_digest == ""
