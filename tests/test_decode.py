from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from labelmasks import write_mask

from segstats.decode import ReadOptions, read_value_histogram
from segstats.errors import BadInputError


def as_counter(histogram):
    return dict(zip(histogram.values.tolist(), histogram.counts.tolist(), strict=True))


@pytest.mark.parametrize(
    ("mode", "high", "suffix"),
    [("1", 2, "png"), ("L", 256, "png"), ("P", 256, "png"), ("I;16", 65536, "png"), ("I", 1 << 31, "tif")],
)
def test_value_histogram_matches_pixels(tmp_path, rng, mode, high, suffix):
    array = rng.integers(0, high, size=(37, 53), dtype=np.int64)
    if mode == "I":
        array[0, :5] = [-7, -1, 0, (1 << 31) - 1, 5]  # negative and huge values stay exact
    path = write_mask(tmp_path / f"m.{suffix}", array, mode)
    histogram = read_value_histogram(path)
    assert histogram.mode == mode
    assert (histogram.width, histogram.height) == (53, 37)
    assert as_counter(histogram) == dict(Counter(array.ravel().tolist()))
    assert np.all(np.diff(histogram.values) > 0)


def test_palette_image_counts_indices_not_colours(tmp_path):
    array = np.array([[0, 1, 2, 2]], dtype=np.uint8)
    path = write_mask(tmp_path / "p.png", array, "P")
    assert as_counter(read_value_histogram(path)) == {0: 1, 1: 1, 2: 2}


def test_rgb_needs_a_colour_map(tmp_path):
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "rgb.png")
    with pytest.raises(BadInputError, match=r"rgb\.png: RGB colour image.*--colors"):
        read_value_histogram(str(tmp_path / "rgb.png"))


def test_jpeg_is_refused(tmp_path):
    from PIL import Image

    Image.new("L", (4, 4)).save(tmp_path / "fake.png", format="JPEG")
    with pytest.raises(BadInputError, match="JPEG file, not a PNG or TIFF"):
        read_value_histogram(str(tmp_path / "fake.png"))


@pytest.mark.parametrize(
    ("content", "cause"),
    [(b"", "empty file"), (b"hello world", "not an image file")],
)
def test_broken_files_name_the_cause(tmp_path, content, cause):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(BadInputError, match=cause) as info:
        read_value_histogram(str(path))
    assert info.value.path == str(path)


def test_truncated_png(tmp_path, rng):
    path = write_mask(tmp_path / "t.png", rng.integers(0, 3, size=(64, 64)), "L")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInputError, match="truncated|corrupt"):
        read_value_histogram(path)


def test_pixel_limit(tmp_path):
    path = write_mask(tmp_path / "big.png", np.zeros((10, 10)), "L")
    with pytest.raises(BadInputError, match="over the limit of 99 pixels"):
        read_value_histogram(path, ReadOptions(max_pixels=99))
    assert read_value_histogram(path, ReadOptions(max_pixels=100)).num_pixels == 100


def test_missing_file(tmp_path):
    with pytest.raises(BadInputError, match="not found"):
        read_value_histogram(str(tmp_path / "gone.png"))
