"""Sampling weights aligned with a dataset's own order of label paths, for WeightedRandomSampler."""

from __future__ import annotations

import os

import numpy as np
import pytest

from segstats.sampling import SamplingMethod, SamplingResult, write_sampling

torch = pytest.importorskip("torch")

from segstats.torch_sampling import aligned_weights, load_sampling_weights, weighted_sampler  # noqa: E402

PATHS = ["labels/a.png", "labels/b.png", "labels/c.png", "labels/sub/d.png"]
WEIGHTS = [0.1, 0.2, 0.3, 0.4]


@pytest.fixture(params=[".json", ".csv"])
def weights_file(request, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = SamplingResult(SamplingMethod.CLASS_AWARE, {"min_pixels": 1}, PATHS, np.array(WEIGHTS))
    path = str(tmp_path / f"w{request.param}")
    write_sampling(path, result)
    return path


def test_aligned_by_path_in_the_datasets_order(weights_file, tmp_path):
    dataset = ["labels/sub/d.png", "./labels/a.png", str(tmp_path / "labels" / "c.png")]
    tensor = load_sampling_weights(weights_file, dataset)
    assert tensor.dtype == torch.float64
    assert tensor.tolist() == [0.4, 0.1, 0.3]


def test_aligned_by_stem(weights_file):
    dataset = ["images/c.jpg", "images/d.jpg", "images/a.jpg"]
    assert aligned_weights(weights_file, dataset, match="stem") == [0.3, 0.4, 0.1]


def test_aligned_by_a_key_function(weights_file):
    dataset = ["x_b_leftImg8bit.png", "x_a_leftImg8bit.png"]
    key = lambda p: os.path.basename(p).split("_")[1 if "leftImg8bit" in p else 0].split(".")[0]  # noqa: E731
    assert aligned_weights(weights_file, dataset, match=key) == [0.2, 0.1]


def test_unknown_paths_are_refused(weights_file):
    with pytest.raises(
        ValueError, match=r"no weight for 2 of the 3 dataset paths \(match='path'\): labels/x.png, y.png"
    ):
        load_sampling_weights(weights_file, ["labels/a.png", "labels/x.png", "y.png"])


def test_ambiguous_stems_are_refused(tmp_path):
    result = SamplingResult(SamplingMethod.CLASS_AWARE, {}, ["a/x.png", "b/x.png"], np.array([0.5, 0.5]))
    path = str(tmp_path / "w.json")
    write_sampling(path, result)
    with pytest.raises(ValueError, match=r"a/x.png and b/x.png both match 'x'"):
        load_sampling_weights(path, ["x.jpg"], match="stem")
    assert load_sampling_weights(path, ["b/x.png"], match="path").tolist() == [0.5]


def test_dataset_path_twice_is_refused(weights_file):
    with pytest.raises(ValueError, match="both match labels/a.png"):
        load_sampling_weights(weights_file, ["labels/a.png", "./labels/a.png"])


def test_files_without_paths_are_refused(tmp_path):
    result = SamplingResult(SamplingMethod.CLASS_AWARE, {}, PATHS, np.array(WEIGHTS))
    path = str(tmp_path / "w.npy")
    write_sampling(path, result)
    with pytest.raises(ValueError, match="holds no paths"):
        load_sampling_weights(path, PATHS)
    with pytest.raises(ValueError, match="match must be"):
        load_sampling_weights(str(tmp_path / "w.npy"), PATHS, match="name")  # type: ignore[arg-type]


def test_weighted_sampler(weights_file):
    dataset = ["labels/c.png", "labels/a.png"]
    generator = torch.Generator().manual_seed(0)
    sampler = weighted_sampler(weights_file, dataset, num_samples=4000, generator=generator)
    assert isinstance(sampler, torch.utils.data.WeightedRandomSampler)
    assert sampler.weights.tolist() == [0.3, 0.1]
    draws = torch.tensor(list(sampler))
    assert len(draws) == 4000
    # 0.3 : 0.1 -> index 0 three times as often (about 3000 of 4000; 5 sigma is ~140).
    assert abs(int((draws == 0).sum()) - 3000) < 200
    assert len(list(weighted_sampler(weights_file, dataset))) == 2


def test_all_zero_weights_are_refused(tmp_path):
    result = SamplingResult(SamplingMethod.CLASS_AWARE, {}, ["a.png", "b.png"], np.array([0.0, 1.0]))
    path = str(tmp_path / "w.json")
    write_sampling(path, result)
    with pytest.raises(ValueError, match="every weight"):
        weighted_sampler(path, ["a.png"])
    with pytest.raises(ValueError, match="no dataset paths"):
        weighted_sampler(path, [])
