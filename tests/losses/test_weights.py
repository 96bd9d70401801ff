"""weight= as tensor, sequence or file (segstats._weights) and the buffer behaviour."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import segstats.losses as L
from segstats.losses._weights import load_weight
from segstats.writers import write_output

VALUES = [0.27528322, 1.0, 3.48062665]


def _full_doc(values: list[float]) -> dict[str, object]:
    k = len(values)
    return {
        "segstats_version": "0.1.0",
        "schema_version": 1,
        "num_classes": k,
        "ignore_index": 255,
        "class_names": None,
        "num_images": 2,
        "total_pixels": 8,
        "ignored_pixels": 0,
        "pixel_counts": [1] * k,
        "image_counts": [1] * k,
        "image_pixels": [4] * k,
        "weights": {"method": "median-frequency", "values": values, "options": {}},
        "errors": [],
    }


@pytest.fixture
def weight_files(tmp_path):
    """The four formats `segstats weights --output` writes (the contract's layouts)."""
    full = tmp_path / "w.json"
    full.write_text(json.dumps(_full_doc(VALUES)))
    bare = tmp_path / "list.json"
    bare.write_text(json.dumps(VALUES))
    pt = tmp_path / "w.pt"
    torch.save(torch.tensor(VALUES, dtype=torch.float32), pt)
    npy = tmp_path / "w.npy"
    np.save(npy, np.asarray(VALUES, dtype=np.float64))
    # .yaml / .yml as segstats' own writer renders them (what `segstats weights -o` writes)
    yaml = tmp_path / "w.yaml"
    write_output(str(yaml), {}, np.asarray(VALUES, dtype=np.float64))
    yml = tmp_path / "w.yml"
    write_output(str(yml), {}, np.asarray(VALUES, dtype=np.float64))
    return {"json": full, "list": bare, "pt": pt, "npy": npy, "yaml": yaml, "yml": yml}


KINDS = ["json", "list", "pt", "npy", "yaml", "yml"]


@pytest.mark.parametrize("kind", KINDS)
def test_file_formats_load_the_numbers(weight_files, kind):
    w = load_weight(weight_files[kind])
    assert w is not None and w.dtype == torch.float32
    torch.testing.assert_close(w, torch.tensor(VALUES, dtype=torch.float32))
    assert load_weight(str(weight_files[kind])) is not None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["cross_entropy", "focal", "dice", "lovasz", "ohem"])
def test_loss_from_file_equals_loss_from_tensor(weight_files, kind, name):
    x = torch.randn(2, 3, 5, 6)
    y = torch.randint(0, 3, (2, 5, 6))
    from_file = L.build(name, weight=weight_files[kind])
    from_tensor = L.build(name, weight=torch.tensor(VALUES))
    assert torch.equal(from_file.weight, from_tensor.weight)
    assert torch.equal(from_file(x, y), from_tensor(x, y))


def test_build_with_path_string(weight_files):
    loss = L.build("focal", weight=str(weight_files["json"]), gamma=2.0)
    assert isinstance(loss, L.FocalLoss) and loss.gamma == 2.0
    torch.testing.assert_close(loss.weight, torch.tensor(VALUES))


def test_sequence_and_int_tensor():
    torch.testing.assert_close(load_weight([1, 2]), torch.tensor([1.0, 2.0]))
    w = load_weight(torch.tensor([1, 2]))
    assert w is not None and w.dtype == torch.float32
    w64 = load_weight(torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert w64 is not None and w64.dtype == torch.float64
    assert load_weight(None) is None


def test_tensor_is_copied_not_aliased():
    source = torch.tensor([1.0, 2.0])
    loss = L.FocalLoss(weight=source)
    source[0] = 5.0
    assert loss.weight[0] == 1.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"num_classes": 3}', "no 'weights'"),
        ('{"weights": {"values": "abc"}}', "must be a list"),
        ('{"num_classes": 2, "weights": {"values": [1, 2, 3]}}', "'num_classes' is"),
        ('"text"', "JSON str"),
        ("[1, null]", "not a number"),
        ("[1, -2]", ">= 0"),
        ("[1, NaN]", "finite"),
        ("[1, Infinity]", "finite"),
        ("[]", "empty"),
        ("[[1, 2]]", "not a number"),
    ],
)
def test_malformed_json_names_file_and_problem(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        load_weight(path)
    assert "bad.json" in str(info.value)


def test_bad_npy_pt_and_suffix(tmp_path):
    npy = tmp_path / "nan.npy"
    np.save(npy, np.array([1.0, math.nan]))
    with pytest.raises(ValueError, match=r"nan\.npy.*NaN"):
        load_weight(npy)
    two_d = tmp_path / "2d.npy"
    np.save(two_d, np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"2d\.npy.*one-dimensional"):
        load_weight(two_d)
    strings = tmp_path / "s.npy"
    np.save(strings, np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"s\.npy.*numeric"):
        load_weight(strings)
    garbage = tmp_path / "g.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=r"g\.pt.*torch\.load"):
        load_weight(garbage)
    neg = tmp_path / "neg.pt"
    torch.save(torch.tensor([1.0, -1.0]), neg)
    with pytest.raises(ValueError, match=r"neg\.pt.*>= 0"):
        load_weight(neg)
    toml = tmp_path / "w.toml"
    toml.write_text("class_weight = [1, 2]\n")
    with pytest.raises(ValueError, match=r"w\.toml.*unsupported.*\.yaml, \.yml"):
        load_weight(toml)
    with pytest.raises(ValueError, match=r"missing\.json.*not found"):
        load_weight(tmp_path / "missing.json")


def test_wrong_length_names_both_numbers():
    with pytest.raises(ValueError, match="4 weights given but 3 classes"):
        load_weight([1, 2, 3, 4], num_classes=3)
    loss = L.FocalLoss(weight=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"weight has 2 entries.*3 classes"):
        loss(torch.randn(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"weight has 2 entries.*3 classes"):
        L.dice_loss(torch.randn(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long), weight=[1.0, 2.0])


def test_bad_tensor_values():
    with pytest.raises(ValueError, match=">= 0"):
        L.DiceLoss(weight=torch.tensor([1.0, -0.5]))
    with pytest.raises(ValueError, match="NaN or infinity"):
        L.DiceLoss(weight=torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="one-dimensional"):
        L.DiceLoss(weight=torch.ones(2, 2))
    with pytest.raises(ValueError, match="sequence of numbers"):
        L.DiceLoss(weight=3.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fn",
    [
        L.cross_entropy,
        L.focal_loss,
        L.dice_loss,
        L.jaccard_loss,
        L.tversky_loss,
        L.lovasz_softmax_loss,
        L.ohem_cross_entropy,
    ],
)
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([1.0, -0.5, 1.0], r">= 0.*-0\.5"),
        ([1.0, float("nan"), 1.0], "NaN or infinity"),
        ([1.0, float("inf"), 1.0], "NaN or infinity"),
    ],
)
def test_functional_tensor_weight_values_are_checked(fn, bad, message):
    # a NaN weight made the mean 0.0 silently, a negative one a loss that rewards errors
    x = torch.randn(2, 3, 4, 4)
    y = torch.randint(0, 3, (2, 4, 4))
    with pytest.raises(ValueError, match=message):
        fn(x, y, weight=torch.tensor(bad))
    with pytest.raises(ValueError, match=message):
        L.binary_focal_loss(x, (y[:, None] == 1).expand_as(x).float(), weight=torch.tensor(bad))


def test_yaml_reads_what_the_writer_writes_at_full_precision(tmp_path):
    # values whose repr needs all 17 digits, an exponent, an integer and 0
    values = np.array([0.1 + 0.2, 1e-05, 3.0, 0.0, 123456.789, 2.5e-300], dtype=np.float64)
    path = tmp_path / "w.yaml"
    write_output(str(path), {}, values)
    assert path.read_text().startswith("class_weight:\n- ")
    w = load_weight(path)
    assert w is not None
    torch.testing.assert_close(w, torch.tensor(values, dtype=torch.float32), rtol=0, atol=0)
    yaml = pytest.importorskip("yaml")
    # the same numbers as a real YAML parser reads from the same file, except that
    # PyYAML (YAML 1.1) takes the writer's "1e-05" (no dot) for a string
    loaded = yaml.safe_load(path.read_text())["class_weight"]
    assert [v for i, v in enumerate(loaded) if i != 1] == [float(v) for i, v in enumerate(values) if i != 1]


def test_yaml_from_the_cli(tmp_path):
    from PIL import Image
    from typer.testing import CliRunner

    from segstats.cli import app

    masks = tmp_path / "masks"
    masks.mkdir()

    Image.fromarray(np.array([[0, 0, 1], [1, 2, 2]], dtype=np.uint8)).save(masks / "a.png")
    Image.fromarray(np.array([[0, 1, 1], [2, 2, 2]], dtype=np.uint8)).save(masks / "b.png")
    out_yaml, out_json = tmp_path / "w.yaml", tmp_path / "w.json"
    for out in (out_yaml, out_json):
        result = CliRunner().invoke(app, ["weights", str(masks), "--num-classes", "3", "-o", str(out)])
        assert result.exit_code == 0, result.output
    torch.testing.assert_close(load_weight(out_yaml), load_weight(out_json), rtol=0, atol=0)
    loss = L.build("focal", weight=out_yaml)
    assert torch.equal(loss.weight, load_weight(out_json))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "expected 'class_weight:'"),
        ("weights:\n- 1.0\n", r"line 1: expected 'class_weight:'"),
        ("class_weight:\n- 1.0\n- abc\n", r"line 3: 'abc' is not a number"),
        ("class_weight:\n- 1.0\nother: 2\n", r"line 3: 'other: 2' is not a '- number' list item"),
        ("class_weight:\n-1.0\n", r"line 2: '-1.0' is not a '- number' list item"),
        ("class_weight:\n- 1.0\n- -2.0\n", ">= 0"),
        ("class_weight:\n- 1.0\n- .nan\n", "finite"),
        ("class_weight:\n- .inf\n", "finite"),
        ("class_weight: []\n", "empty"),
        ("class_weight:\n", "empty"),
        ("class_weight: 1.0\n", "line 1: expected"),
    ],
)
def test_malformed_yaml_names_file_and_problem(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        load_weight(path)
    assert "bad.yaml" in str(info.value)


def test_yaml_comments_flow_list_and_document_marker(tmp_path):
    path = tmp_path / "hand.yml"
    path.write_text("# written by hand\n---\nclass_weight: [0.5, 2, 1e-3]  # three classes\n")
    torch.testing.assert_close(load_weight(path), torch.tensor([0.5, 2.0, 1e-3]))
    path.write_text("class_weight:\n  # indented items and comments\n  - 0.5  # first\n\n  - 2.0\n")
    torch.testing.assert_close(load_weight(path), torch.tensor([0.5, 2.0]))
