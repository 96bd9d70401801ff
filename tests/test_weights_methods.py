"""Every weighting method against its formula, computed independently in plain Python.

The references below use ``math`` on Python ints/floats, one class at a time, and
share no code with ``segstats.weights``.
"""

from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pytest
from typer.testing import CliRunner

from segstats import DatasetStats, UsageError, compute_weights
from segstats.cli import app
from segstats.weights import METHODS, method_options

runner = CliRunner()

# Four classes, class 2 absent: exercises "absent -> 0.0, left out of everything".
PIXELS = [700_000, 12_345, 0, 250_000]
IMAGES = [40, 3, 0, 25]
IMAGE_PIXELS = [40 * 25_000, 3 * 25_000, 0, 25 * 25_000]
PRESENT = [0, 1, 3]


def make_stats(pixels=PIXELS, images=IMAGES, image_pixels=IMAGE_PIXELS) -> DatasetStats:
    k = len(pixels)
    return DatasetStats(
        num_classes=k,
        ignore_index=None,
        num_images=max(images) if images else 0,
        total_pixels=sum(image_pixels),
        ignored_pixels=0,
        pixel_counts=np.array(pixels),
        image_counts=np.array(images),
        image_pixels=np.array(image_pixels),
    )


# ------------------------------------------------------------ references
def ref_median_frequency(pixels, image_pixels):
    freq = {c: pixels[c] / image_pixels[c] for c in range(len(pixels)) if pixels[c] > 0}
    med = statistics.median(freq.values())
    return [med / freq[c] if c in freq else 0.0 for c in range(len(pixels))]


def ref_enet(pixels, c=1.02):
    total = sum(pixels)
    return [1.0 / math.log(c + n / total) if n > 0 else 0.0 for n in pixels]


def ref_balanced(pixels):
    total = sum(pixels)
    present = sum(1 for n in pixels if n > 0)
    return [total / (present * n) if n > 0 else 0.0 for n in pixels]


def ref_inverse_sqrt(pixels):
    return [math.sqrt(w) for w in ref_balanced(pixels)]


def ref_effective_number(pixels, beta):
    raw = [(1.0 - beta) / (1.0 - beta**n) if n > 0 else 0.0 for n in pixels]
    present = sum(1 for n in pixels if n > 0)
    scale = present / sum(raw)
    return [w * scale for w in raw]


def ref_pos_weight(pixels):
    total = sum(pixels)
    return [(total - n) / n if n > 0 else 0.0 for n in pixels]


def reference(method, pixels=PIXELS, image_pixels=IMAGE_PIXELS, **options):
    if method == "median-frequency":
        return ref_median_frequency(pixels, image_pixels)
    if method == "enet":
        return ref_enet(pixels, options.get("enet_c", 1.02))
    if method == "balanced":
        return ref_balanced(pixels)
    if method == "inverse-sqrt":
        return ref_inverse_sqrt(pixels)
    if method == "effective-number":
        return ref_effective_number(pixels, options["beta"])
    if method == "pos-weight":
        return ref_pos_weight(pixels)
    raise AssertionError(method)


CASES = [
    ("median-frequency", {}),
    ("enet", {}),
    ("enet", {"enet_c": 1.5}),
    ("balanced", {}),
    ("inverse-sqrt", {}),
    ("pos-weight", {}),
    ("effective-number", {"beta": 0.9}),
    ("effective-number", {"beta": 0.99999}),
    ("effective-number", {"beta": 0.0}),
]


def test_every_method_is_tested():
    assert {method for method, _ in CASES} == set(METHODS)


@pytest.mark.parametrize("method,options", CASES)
def test_method_matches_its_formula(method, options):
    weights = compute_weights(make_stats(), method, **options)
    assert weights.dtype == np.float64 and weights.shape == (4,)
    np.testing.assert_allclose(weights, reference(method, **options), rtol=1e-12, atol=0)
    assert weights[2] == 0.0
    assert np.isfinite(weights).all()
    assert (weights[PRESENT] > 0).all()


@pytest.mark.parametrize("method,options", CASES)
def test_normalize_mean_and_sum(method, options):
    expected = np.array(reference(method, **options))
    mean = compute_weights(make_stats(), method, normalize="mean", **options)
    total = compute_weights(make_stats(), method, normalize="sum", **options)
    np.testing.assert_allclose(mean[PRESENT], expected[PRESENT] / expected[PRESENT].mean(), rtol=1e-12)
    np.testing.assert_allclose(total[PRESENT], expected[PRESENT] / expected[PRESENT].sum(), rtol=1e-12)
    assert mean[PRESENT].mean() == pytest.approx(1.0, rel=1e-12)
    assert total[PRESENT].sum() == pytest.approx(1.0, rel=1e-12)
    assert mean[2] == 0.0 and total[2] == 0.0
    none = compute_weights(make_stats(), method, normalize="none", **options)
    np.testing.assert_array_equal(none, compute_weights(make_stats(), method, **options))


def test_clip_is_applied_after_normalising():
    raw = np.array(ref_balanced(PIXELS))
    normalised = raw / raw[PRESENT].mean()
    clip = 2.0
    weights = compute_weights(make_stats(), "balanced", normalize="mean", clip=clip)
    expected = np.minimum(normalised, clip)
    expected[2] = 0.0
    np.testing.assert_allclose(weights, expected, rtol=1e-12)
    assert weights.max() == clip
    # clipping first and normalising after would give a different answer here
    clipped_first = np.minimum(raw[PRESENT], clip)
    assert not np.allclose(weights[PRESENT], clipped_first / clipped_first.mean())


def test_clip_without_normalising_caps_raw_weights():
    weights = compute_weights(make_stats(), "median-frequency", clip=1.0)
    expected = np.minimum(ref_median_frequency(PIXELS, IMAGE_PIXELS), 1.0)
    np.testing.assert_allclose(weights, expected, rtol=1e-12)


def test_effective_number_sums_to_present_classes():
    for beta in (0.0, 0.5, 0.999, 0.9999999):
        weights = compute_weights(make_stats(), "effective-number", beta=beta)
        assert weights.sum() == pytest.approx(len(PRESENT), rel=1e-12)
    np.testing.assert_array_equal(
        compute_weights(make_stats(), "effective-number", beta=0.0), [1.0, 1.0, 0.0, 1.0]
    )


def test_effective_number_stays_finite_for_beta_near_one_and_huge_counts():
    stats = make_stats([3_139_143_220, 1, 0, 222_764_968], [9, 1, 0, 9], [9 * 2**30, 2**30, 0, 9 * 2**30])
    weights = compute_weights(stats, "effective-number", beta=1 - 1e-12)
    assert np.isfinite(weights).all() and weights[2] == 0.0
    assert weights.sum() == pytest.approx(3.0, rel=1e-12)
    # the rare class gets the largest weight
    assert weights.argmax() == 1


@pytest.mark.parametrize("beta", [None, -0.1, 1.0, 1.5, float("nan")])
def test_beta_is_validated(beta):
    with pytest.raises(UsageError, match="beta"):
        compute_weights(make_stats(), "effective-number", beta=beta)


@pytest.mark.parametrize(
    "method,options,message",
    [
        ("nope", {}, "unknown method"),
        ("enet", {"enet_c": 1.0}, "enet-c"),
        ("enet", {"enet_c": float("inf")}, "enet-c"),
        ("balanced", {"normalize": "max"}, "normalize"),
        ("balanced", {"clip": 0.0}, "clip"),
        ("balanced", {"clip": float("nan")}, "clip"),
        ("balanced", {"betta": 0.9}, "unknown weight option"),
    ],
)
def test_bad_options_are_refused(method, options, message):
    with pytest.raises(UsageError, match=message):
        compute_weights(make_stats(), method, **options)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_no_class_present_gives_zeros(method):
    stats = make_stats([0, 0], [0, 0], [0, 0])
    options = {"beta": 0.9} if method == "effective-number" else {}
    weights = compute_weights(stats, method, normalize="mean", **options)
    np.testing.assert_array_equal(weights, [0.0, 0.0])


def test_single_present_class_is_finite():
    stats = make_stats([0, 10, 0], [0, 1, 0], [0, 10, 0])
    for method in METHODS:
        options = {"beta": 0.9} if method == "effective-number" else {}
        weights = compute_weights(stats, method, normalize="sum", **options)
        # pos-weight: no negatives, so weight 0 (and normalising zeros leaves zeros)
        expected = [0.0, 0.0, 0.0] if method == "pos-weight" else [0.0, 1.0, 0.0]
        np.testing.assert_allclose(weights, expected, rtol=1e-12)


def test_balanced_equals_scikit_learn_when_every_class_is_present():
    sklearn_utils = pytest.importorskip("sklearn.utils")
    rng = np.random.default_rng(7)
    labels = rng.choice(5, size=20_000, p=[0.6, 0.25, 0.1, 0.04, 0.01])
    counts = np.bincount(labels, minlength=5)
    assert (counts > 0).all()
    stats = make_stats(counts.tolist(), [1] * 5, counts.tolist())
    expected = sklearn_utils.compute_class_weight("balanced", classes=np.arange(5), y=labels)
    np.testing.assert_allclose(compute_weights(stats, "balanced"), expected, rtol=1e-12)


def test_method_options_records_defaults():
    assert method_options("median-frequency") == {"normalize": "none", "clip": None}
    assert method_options("enet") == {"enet_c": 1.02, "normalize": "none", "clip": None}
    assert method_options("effective-number", beta=0.9, normalize="sum", clip=3.0) == {
        "beta": 0.9,
        "normalize": "sum",
        "clip": 3.0,
    }


RECIPES = [
    ["--method", "median-frequency"],
    ["--method", "median-frequency", "--normalize", "mean", "--clip", "1.2"],
    ["--method", "enet", "--enet-c", "1.1", "--normalize", "sum"],
    ["--method", "balanced", "--clip", "5"],
    ["--method", "inverse-sqrt", "--normalize", "mean"],
    ["--method", "effective-number", "--beta", "0.999", "--normalize", "mean", "--clip", "1.5"],
]


@pytest.mark.parametrize("recipe", RECIPES)
def test_document_reproduces_its_weights_from_its_options_alone(masks_dir, tmp_path, recipe):
    folder, _ = masks_dir
    out = tmp_path / "w.json"
    args = ["weights", str(folder), "-k", "4", "--ignore-index", "255", *recipe, "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    block = document["weights"]
    # every option given on the command line is recorded, with defaults filled in
    given = {recipe[i].lstrip("-").replace("-", "_"): recipe[i + 1] for i in range(0, len(recipe), 2)}
    assert block["method"] == given.pop("method")
    for name, value in given.items():
        recorded = block["options"][name]
        assert recorded == (value if name == "normalize" else float(value)), (name, block["options"])
    assert {"normalize", "clip"} <= set(block["options"])
    if block["method"] == "enet":
        assert "enet_c" in block["options"]
    # recompute from the file alone
    stats = DatasetStats.from_dict(document)
    again = compute_weights(stats, block["method"], **block["options"])
    assert again.tolist() == block["values"]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == block["values"]
    assert block["values"][3] == 0.0  # class 3 absent: 0.0, never NaN


def test_pos_weight_of_a_binary_mask_is_negatives_over_positives():
    """BCEWithLogitsLoss(pos_weight=): for 0/1 masks, the entry of class 1 (PyTorch docs' example:
    100 positive and 300 negative examples give pos_weight 3)."""
    stats = make_stats(pixels=[300, 100], images=[4, 4], image_pixels=[400, 400])
    assert compute_weights(stats, "pos-weight").tolist() == [100 / 300, 3.0]


def test_near_uniform_weights_are_flagged_with_betas_scale():
    from segstats.weights import weight_warnings

    stats = make_stats(pixels=[3_000_000, 1_000_000], images=[4, 4], image_pixels=[4_000_000] * 2)
    flat = compute_weights(stats, "effective-number", beta=0.999)  # beta ** n is 0 for every class
    assert weight_warnings("effective-number", flat, stats.present)[0].startswith(
        "the effective-number weights are within 1% of uniform"
    )
    assert "1 / (pixels of a class)" in weight_warnings("effective-number", flat, stats.present)[0]
    steep = compute_weights(stats, "effective-number", beta=1 - 1e-6)
    assert weight_warnings("effective-number", steep, stats.present) == []
    assert weight_warnings("balanced", compute_weights(stats, "balanced"), stats.present) == []
