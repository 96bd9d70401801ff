"""The contract's published worked example (median-frequency, seed data) to 1e-8."""

from __future__ import annotations

import numpy as np

from segstats import DatasetStats, compute_weights

# From ../shared/CONTRACT.md: 16000 images of 512x512, no ignored pixels.
PIXEL_COUNTS = [3139143220, 832395811, 222764968]
IMAGE_COUNTS = [16000, 15412, 14356]
EXPECTED_FREQUENCY = [0.74843007, 0.20603024, 0.05919343]
EXPECTED_WEIGHTS = [0.27528322, 1.0, 3.48062665]


def example_stats() -> DatasetStats:
    image_pixels = [count * 512 * 512 for count in IMAGE_COUNTS]
    return DatasetStats(
        num_classes=3,
        ignore_index=None,
        num_images=16000,
        total_pixels=16000 * 512 * 512,
        ignored_pixels=0,
        pixel_counts=np.array(PIXEL_COUNTS),
        image_counts=np.array(IMAGE_COUNTS),
        image_pixels=np.array(image_pixels),
    )


def test_frequency_matches_published_values():
    np.testing.assert_allclose(example_stats().frequency, EXPECTED_FREQUENCY, rtol=0, atol=1e-8)


def test_median_frequency_weights_match_published_values():
    weights = compute_weights(example_stats(), "median-frequency")
    np.testing.assert_allclose(weights, EXPECTED_WEIGHTS, rtol=0, atol=1e-8)


def test_absent_class_gets_zero_and_is_left_out_of_the_median():
    stats = example_stats()
    stats = DatasetStats(
        4,
        None,
        stats.num_images,
        stats.total_pixels,
        0,
        np.append(stats.pixel_counts, 0),
        np.append(stats.image_counts, 0),
        np.append(stats.image_pixels, 0),
    )
    weights = compute_weights(stats)
    assert weights[3] == 0.0
    np.testing.assert_allclose(weights[:3], EXPECTED_WEIGHTS, rtol=0, atol=1e-8)
    assert np.isfinite(weights).all()
