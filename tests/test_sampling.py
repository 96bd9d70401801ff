"""Sampling weights against the contract's formulas, computed here independently in plain Python."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segstats.errors import BadInputError, UsageError
from segstats.sampling import (
    METHOD_HELP,
    SamplingMethod,
    compute_sampling,
    methods_help,
    read_sampling,
    sampling_weights,
    write_sampling,
)
from segstats.table import ImageRow, TableWriter


def make_rows(counts: list[dict[int, int]], ignored: int = 0) -> list[ImageRow]:
    """Rows from ``{class: pixels}`` per image; each image is just big enough (plus ``ignored``)."""
    rows = []
    for index, image in enumerate(counts):
        ids = sorted(c for c, n in image.items() if n > 0)
        total = sum(image[c] for c in ids) + ignored
        rows.append(
            ImageRow(
                f"img{index:05d}.png",
                max(total, 1),
                1,
                ignored,
                np.array(ids, dtype=np.int64),
                np.array([image[c] for c in ids], dtype=np.int64),
            )
        )
    return rows


def reference(counts: list[dict[int, int]], method: str, t=0.001, temp=0.01, m=None) -> list[float]:
    """The contract's table, line by line, with Python floats and sets (no numpy)."""
    if m is None:
        m = 3000 if method == "rare-class" else 1
    big_n = len(counts)
    chosen = [{c for c, n in image.items() if n >= m} for image in counts]
    n_c: dict[int, int] = {}
    for classes in chosen:
        for c in classes:
            n_c[c] = n_c.get(c, 0) + 1
    if method == "repeat-factor":
        return [max((max(1.0, math.sqrt(t / (n_c[c] / big_n))) for c in cs), default=1.0) for cs in chosen]
    p_count = len(n_c)
    if method == "class-aware":
        return [sum(1.0 / (p_count * n_c[c]) for c in sorted(cs)) for cs in chosen]
    pixels: dict[int, int] = {}
    for image in counts:
        for c, n in image.items():
            pixels[c] = pixels.get(c, 0) + n
    total = sum(pixels.values())
    logits = {c: (1.0 - pixels[c] / total) / temp for c in n_c}
    top = max(logits.values())
    exps = {c: math.exp(v - top) for c, v in logits.items()}
    norm = sum(exps.values())
    q = {c: e / norm for c, e in exps.items()}
    return [sum(q[c] / n_c[c] for c in sorted(cs)) for cs in chosen]


# A dataset worked out by hand: class 3 is absent, image 2 holds no class (all ignored),
# class 1 has exactly 5 pixels (the min-pixels edge), classes 1 and 2 tie on n_c.
HAND = [{0: 10, 1: 5}, {0: 10}, {}, {0: 3, 2: 1}]


def hand_rows() -> list[ImageRow]:
    rows = make_rows(HAND)
    # image 2: two ignored pixels, nothing else.
    rows[2] = ImageRow("img00002.png", 2, 1, 2, np.zeros(0, np.int64), np.zeros(0, np.int64))
    return rows


def test_repeat_factor_by_hand():
    # n = {0: 3, 1: 1, 2: 1}, N = 4, t = 0.5: r_0 = max(1, sqrt(0.5 / 0.75)) = 1, r_1 = r_2 = sqrt(2).
    weights = sampling_weights(hand_rows(), "repeat-factor", threshold=0.5)
    assert weights.dtype == np.float64
    assert weights.tolist() == pytest.approx([math.sqrt(2), 1.0, 1.0, math.sqrt(2)], rel=1e-15)
    # The default threshold 0.001 is below every n_c / N here: every factor is 1.
    assert sampling_weights(hand_rows()).tolist() == [1.0, 1.0, 1.0, 1.0]


def test_class_aware_by_hand():
    # P = 3 present classes: w_0 = 1/(3*3) + 1/(3*1) = 4/9, w_1 = 1/9, w_2 = 0 (no class), w_3 = 4/9.
    weights = sampling_weights(hand_rows(), "class-aware")
    assert weights.tolist() == pytest.approx([4 / 9, 1 / 9, 0.0, 4 / 9], rel=1e-15)
    assert weights.sum() == pytest.approx(1.0, rel=1e-15)


def test_min_pixels_is_at_least():
    # M = 5 keeps class 1 (exactly 5 pixels) and drops image 3's classes (3 and 1 pixels):
    # n = {0: 2, 1: 1}, P = 2: w = [1/4 + 1/2, 1/4, 0, 0].
    assert sampling_weights(hand_rows(), "class-aware", min_pixels=5).tolist() == pytest.approx(
        [0.75, 0.25, 0.0, 0.0], rel=1e-15
    )
    # M = 6 drops class 1 too: n = {0: 2}, P = 1.
    assert sampling_weights(hand_rows(), "class-aware", min_pixels=6).tolist() == pytest.approx(
        [0.5, 0.5, 0.0, 0.0], rel=1e-15
    )
    # repeat-factor with M = 6, t = 1: n_0 = 2 of N = 4: sqrt(1 / 0.5) = sqrt(2) for images 0, 1; 1 else.
    assert sampling_weights(hand_rows(), threshold=1.0, min_pixels=6).tolist() == pytest.approx(
        [math.sqrt(2), math.sqrt(2), 1.0, 1.0], rel=1e-15
    )


def test_rare_class_by_hand():
    # Pixels: class 0: 23, class 1: 5, class 2: 1 (29 in all); T = 1, M = 1.
    p = [23 / 29, 5 / 29, 1 / 29]
    e = [math.exp(1 - x) for x in p]
    q = [x / sum(e) for x in e]
    expected = [q[0] / 3 + q[1], q[0] / 3, 0.0, q[0] / 3 + q[2]]
    weights = sampling_weights(hand_rows(), "rare-class", temperature=1.0, min_pixels=1)
    assert weights.tolist() == pytest.approx(expected, rel=1e-14)
    assert weights.sum() == pytest.approx(1.0, rel=1e-14)


def test_rare_class_share_counts_all_pixels():
    # M = 5 leaves class 2 out of the softmax but the shares still use every pixel:
    # p_0 = 23/29 (not 20/25), p_1 = 5/29. n = {0: 2, 1: 1}.
    e0, e1 = math.exp((1 - 23 / 29) / 0.5), math.exp((1 - 5 / 29) / 0.5)
    q0, q1 = e0 / (e0 + e1), e1 / (e0 + e1)
    weights = sampling_weights(hand_rows(), "rare-class", temperature=0.5, min_pixels=5)
    assert weights.tolist() == pytest.approx([q0 / 2 + q1, q0 / 2, 0.0, 0.0], rel=1e-14)


def test_rare_class_default_min_pixels_is_3000():
    counts = [{0: 3000, 1: 2999}, {1: 4000}]
    result = compute_sampling(make_rows(counts), "rare-class")
    assert result.options == {"temperature": 0.01, "min_pixels": 3000}
    assert result.weights.tolist() == pytest.approx(reference(counts, "rare-class"), rel=1e-12)


def test_ties_give_equal_weights():
    # Classes 1 and 2 have the same n_c and the same pixels: the images holding only one of them tie.
    counts = [{0: 50, 1: 7}, {0: 50, 2: 7}, {1: 7}, {2: 7}]
    for method in SamplingMethod:
        weights = sampling_weights(make_rows(counts), method, min_pixels=1)
        assert weights[0] == weights[1] and weights[2] == weights[3], method


def test_tiny_temperature_does_not_overflow():
    counts = [{0: 1000, 1: 1}, {0: 1000}]
    weights = sampling_weights(make_rows(counts), "rare-class", temperature=1e-300, min_pixels=1)
    # All the mass on the rarest class (1), held by image 0 alone.
    assert weights.tolist() == [1.0, 0.0]


def test_empty_table_and_no_class():
    assert sampling_weights([], "class-aware").size == 0
    only_ignored = [ImageRow("a.png", 1, 1, 1, np.zeros(0, np.int64), np.zeros(0, np.int64))]
    assert sampling_weights(only_ignored).tolist() == [1.0]
    for method in ("class-aware", "rare-class"):
        with pytest.raises(UsageError, match="no image has a class with at least"):
            sampling_weights(only_ignored, method)


@pytest.mark.parametrize(
    ("method", "options", "message"),
    [
        ("nope", {}, "unknown sampling method"),
        ("repeat-factor", {"temperature": 0.1}, "--temperature does not apply"),
        ("class-aware", {"threshold": 0.1}, "--threshold does not apply"),
        ("repeat-factor", {"threshold": -1}, "--threshold must be"),
        ("repeat-factor", {"threshold": float("nan")}, "--threshold must be"),
        ("rare-class", {"temperature": 0}, "--temperature must be"),
        ("class-aware", {"min_pixels": 0}, "--min-pixels must be"),
        ("class-aware", {"min_pixels": True}, "--min-pixels must be"),
        ("class-aware", {"minpixels": 3}, "unknown sampling option"),
    ],
)
def test_bad_options(method, options, message):
    with pytest.raises(UsageError, match=message):
        sampling_weights(hand_rows(), method, **options)


def test_help_covers_every_method():
    assert set(METHOD_HELP) == set(SamplingMethod)
    for method in SamplingMethod:
        assert method.value in methods_help()


image_counts = st.lists(
    st.dictionaries(st.integers(0, 6), st.integers(1, 5000), max_size=5), min_size=1, max_size=25
)


@settings(max_examples=150, deadline=None)
@given(
    counts=image_counts,
    t=st.floats(0, 2),
    temp=st.floats(0.005, 5),
    m=st.integers(1, 4000),
)
def test_methods_match_the_formulas(counts, t, temp, m):
    rows = make_rows(counts)
    got = sampling_weights(rows, "repeat-factor", threshold=t, min_pixels=m)
    assert got.tolist() == pytest.approx(reference(counts, "repeat-factor", t=t, m=m), rel=1e-12)
    any_class = any(n >= m for image in counts for n in image.values())
    for method in ("class-aware", "rare-class"):
        if not any_class:
            with pytest.raises(UsageError):
                sampling_weights(rows, method, min_pixels=m)
            continue
        options = {"temperature": temp} if method == "rare-class" else {}
        got = sampling_weights(rows, method, min_pixels=m, **options)
        assert got.tolist() == pytest.approx(reference(counts, method, temp=temp, m=m), rel=1e-9, abs=1e-300)
        assert got.sum() == pytest.approx(1.0, rel=1e-9)


def test_weights_from_a_table_file(tmp_path):
    counts = [{0: 10, 3: 4}, {1: 2}, {0: 1, 1: 1, 2: 8}]
    for suffix in (".jsonl", ".csv"):
        path = tmp_path / f"rows{suffix}"
        with TableWriter(path) as table:
            for row in make_rows(counts):
                table.write(row)
        result = compute_sampling(str(path), "class-aware")
        assert result.paths == ["img00000.png", "img00001.png", "img00002.png"]
        assert result.weights.tolist() == pytest.approx(reference(counts, "class-aware"), rel=1e-12)


# ------------------------------------------------------------------------- outputs
@pytest.mark.parametrize("suffix", [".json", ".csv", ".npy", ".pt"])
def test_outputs_round_trip(tmp_path, suffix):
    result = compute_sampling(hand_rows(), "class-aware")
    path = str(tmp_path / f"w{suffix}")
    write_sampling(path, result)
    paths, weights = read_sampling(path)
    assert weights.dtype == np.float64
    assert weights.tolist() == result.weights.tolist()  # full precision
    if suffix in (".json", ".csv"):
        assert paths == result.paths
    else:
        assert paths is None


def test_json_document_and_csv_layout(tmp_path):
    result = compute_sampling(hand_rows(), "repeat-factor", threshold=0.5)
    write_sampling(str(tmp_path / "w.json"), result)
    document = json.loads((tmp_path / "w.json").read_text())
    assert list(document) == ["method", "options", "num_images", "paths", "weights"]
    assert document["method"] == "repeat-factor"
    assert document["options"] == {"threshold": 0.5, "min_pixels": 1}
    assert document["num_images"] == 4
    write_sampling(str(tmp_path / "w.csv"), result)
    lines = (tmp_path / "w.csv").read_text().splitlines()
    assert lines[0] == "path,weight"
    assert lines[1] == f"img00000.png,{math.sqrt(2)!r}"


def test_pt_is_a_float64_tensor(tmp_path):
    torch = pytest.importorskip("torch")
    result = compute_sampling(hand_rows(), "class-aware")
    write_sampling(str(tmp_path / "w.pt"), result)
    tensor = torch.load(tmp_path / "w.pt")
    assert tensor.dtype == torch.float64 and tensor.shape == (4,)


def test_output_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "w.json"
    path.write_text("old")
    result = compute_sampling(hand_rows())
    with pytest.raises(UsageError):
        write_sampling(str(tmp_path / "w.txt"), result)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.json"]


def test_read_bad_files(tmp_path):
    with pytest.raises(BadInputError, match="no such file"):
        read_sampling(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text('{"paths": ["a"], "weights": [1, 2]}')
    with pytest.raises(BadInputError, match="for 1 paths"):
        read_sampling(str(tmp_path / "bad.json"))
    (tmp_path / "bad.csv").write_text("a,b\n")
    with pytest.raises(BadInputError, match="header"):
        read_sampling(str(tmp_path / "bad.csv"))
