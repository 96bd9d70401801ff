from __future__ import annotations

import json

import numpy as np
import pytest

from segstats import DatasetStats, merge_stats
from segstats.errors import BadInputError


def make(pixel_counts, image_counts, image_pixels, ignore=None, images=2, names=None):
    k = len(pixel_counts)
    return DatasetStats(
        k,
        ignore,
        images,
        sum(image_pixels) + 10,
        10 if ignore is not None else 0,
        np.array(pixel_counts),
        np.array(image_counts),
        np.array(image_pixels),
        class_names=names,
    )


def test_derived_share_and_frequency():
    stats = make([6, 2, 0], [2, 1, 0], [8, 4, 0])
    assert stats.share.tolist() == [0.75, 0.25, 0.0]
    assert stats.frequency.tolist() == [0.75, 0.5, 0.0]
    assert stats.absent_classes == [2]
    assert stats.labelled_pixels == 8


def test_document_has_the_contract_fields_in_order():
    document = make([6, 2], [2, 1], [8, 4], ignore=255).to_dict(
        weights={"method": "median-frequency", "values": [1.0, 2.0], "options": {}}
    )
    assert list(document) == [
        "segstats_version",
        "schema_version",
        "num_classes",
        "ignore_index",
        "class_names",
        "num_images",
        "total_pixels",
        "ignored_pixels",
        "pixel_counts",
        "image_counts",
        "image_pixels",
        "weights",
        "errors",
        "files_digest",  # the digest of the file list (merge refuses the same files twice)
    ]
    assert document["schema_version"] == 1
    assert "weights" not in make([1], [1], [1]).to_dict()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema_version": 2}, "unsupported schema_version 2"),
        ({"num_classes": "3"}, "num_classes must be a non-negative integer"),
        ({"pixel_counts": [1, 2]}, "pixel_counts must be a list of 3"),
        ({"image_counts": [1, -1, 0]}, "image_counts must be a list of 3 non-negative"),
        ({"ignore_index": 2.5}, "ignore_index must be an integer or null"),
        ({"class_names": ["a"]}, "class_names must be null or a list of 3 strings"),
    ],
)
def test_bad_documents_name_the_problem(change, message):
    document = make([6, 2, 0], [2, 1, 0], [8, 4, 0]).to_dict()
    document.update(change)
    with pytest.raises(BadInputError, match=message) as info:
        DatasetStats.from_dict(document, "stats.json")
    assert str(info.value).startswith("stats.json: ")


def test_invalid_json_and_missing_file(tmp_path):
    with pytest.raises(BadInputError, match="invalid JSON"):
        DatasetStats.from_json("{", "x.json")
    with pytest.raises(BadInputError, match="not found"):
        DatasetStats.load(str(tmp_path / "missing.json"))


def test_merge_adds_every_integer_field():
    a = make([6, 2, 0], [2, 1, 0], [8, 4, 0], ignore=255)
    b = make([1, 0, 5], [1, 0, 1], [6, 0, 6], ignore=255, images=1)
    merged = merge_stats([a, b])
    assert merged.pixel_counts.tolist() == [7, 2, 5]
    assert merged.image_counts.tolist() == [3, 1, 1]
    assert merged.image_pixels.tolist() == [14, 4, 6]
    assert merged.num_images == 3
    assert merged.total_pixels == a.total_pixels + b.total_pixels
    assert merged.ignored_pixels == 20


def test_merge_refuses_mismatched_documents():
    a = make([1, 2], [1, 1], [3, 3], ignore=255)
    with pytest.raises(BadInputError, match="b.json: num_classes 3 differs from 2 in a.json"):
        merge_stats([a, make([1, 2, 3], [1, 1, 1], [6, 6, 6], ignore=255)], ["a.json", "b.json"])
    with pytest.raises(BadInputError, match="ignore_index None differs from 255"):
        merge_stats([a, make([1, 2], [1, 1], [3, 3])], ["a.json", "b.json"])


def test_json_is_plain_ints():
    text = make([6, 2], [2, 1], [8, 4]).to_json()
    assert json.loads(text)["pixel_counts"] == [6, 2]
