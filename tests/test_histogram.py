from __future__ import annotations

import numpy as np

from segstats.decode import ValueHistogram
from segstats.histogram import LabelSpec, classify, describe_unknown


def hist(pairs, size=(10, 1)):
    values = np.array(sorted(pairs), dtype=np.int64)
    counts = np.array([pairs[v] for v in sorted(pairs)], dtype=np.int64)
    assert counts.sum() == size[0] * size[1]
    return ValueHistogram(values, counts, size[0], size[1], "L")


def test_classes_ignored_and_unknown_are_split():
    image = classify(hist({0: 3, 2: 2, 5: 1, 255: 4}), LabelSpec(3, 255))
    assert image.class_ids.tolist() == [0, 2]
    assert image.class_pixels.tolist() == [3, 2]
    assert image.ignored_pixels == 4
    assert image.unknown_values.tolist() == [5]
    assert image.unknown_pixels == 1
    assert image.labelled_pixels == 6


def test_ignore_index_inside_class_range_wins():
    image = classify(hist({0: 6, 1: 4}), LabelSpec(3, 0))
    assert image.class_ids.tolist() == [1]
    assert image.ignored_pixels == 6


def test_inferred_classes_accept_any_non_negative_value():
    image = classify(hist({0: 5, 40: 5}), LabelSpec(None, None))
    assert image.class_ids.tolist() == [0, 40]
    assert image.unknown_pixels == 0


def test_value_map_sums_values_mapping_to_one_class():
    spec = LabelSpec(2, 255, {7: 0, 8: 1, 26: 1, 0: 255})
    image = classify(hist({0: 1, 7: 2, 8: 3, 26: 3, 99: 1}), spec)
    assert image.class_ids.tolist() == [0, 1]
    assert image.class_pixels.tolist() == [2, 6]
    assert image.ignored_pixels == 1
    assert image.unknown_values.tolist() == [99]


def test_unknown_message_suggests_flags():
    spec = LabelSpec(3, None)
    message = describe_unknown(classify(hist({0: 5, 3: 2, 255: 3}), spec), spec)
    assert message == (
        "unknown label values 3, 255 in 5 pixels (classes are 0..2); check --ignore-index or --num-classes"
    )
