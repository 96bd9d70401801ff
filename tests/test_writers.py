from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from segstats.errors import SegstatsError, UsageError
from segstats.writers import format_for, write_output

WEIGHTS = np.array([0.1, 1.0, 1 / 3])
DOCUMENT = {"num_classes": 3, "weights": {"values": WEIGHTS.tolist()}}


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("w.json", "json"), ("w.pt", "pt"), ("w.npy", "npy"), ("w.yaml", "yaml"), ("w.YML", "yaml")],
)
def test_format_from_suffix(name, fmt):
    assert format_for(name) == fmt


def test_unknown_suffix_and_format_are_refused():
    with pytest.raises(UsageError, match="cannot tell the output format"):
        format_for("w.txt")
    with pytest.raises(UsageError, match="--format must be one of"):
        format_for("w.txt", "csv")
    assert format_for("w.txt", "list") == "list"


def test_json_npy_yaml_list_read_back(tmp_path):
    write_output(str(tmp_path / "w.json"), DOCUMENT, WEIGHTS)
    assert json.loads((tmp_path / "w.json").read_text()) == DOCUMENT
    write_output(str(tmp_path / "w.npy"), DOCUMENT, WEIGHTS)
    loaded = np.load(tmp_path / "w.npy")
    assert loaded.dtype == np.float64 and loaded.tolist() == WEIGHTS.tolist()
    write_output(str(tmp_path / "w.yaml"), DOCUMENT, WEIGHTS)
    text = (tmp_path / "w.yaml").read_text()
    assert text.splitlines()[0] == "class_weight:"
    assert [float(line[2:]) for line in text.splitlines()[1:]] == WEIGHTS.tolist()
    write_output(str(tmp_path / "w.list"), DOCUMENT, WEIGHTS, fmt="list")
    assert json.loads((tmp_path / "w.list").read_text()) == WEIGHTS.tolist()


def test_yaml_parses_with_pyyaml(tmp_path):
    yaml = pytest.importorskip("yaml")
    write_output(str(tmp_path / "w.yaml"), DOCUMENT, WEIGHTS)
    assert yaml.safe_load((tmp_path / "w.yaml").read_text()) == {"class_weight": WEIGHTS.tolist()}


def test_pt_is_a_float32_tensor(tmp_path):
    torch = pytest.importorskip("torch")
    write_output(str(tmp_path / "w.pt"), DOCUMENT, WEIGHTS)
    tensor = torch.load(tmp_path / "w.pt")
    assert tensor.dtype == torch.float32 and tensor.shape == (3,)
    assert torch.equal(tensor, torch.tensor(WEIGHTS, dtype=torch.float32))


def test_failed_render_leaves_existing_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "w.pt"
    target.write_bytes(b"old")
    import segstats.writers as writers

    def broken(_weights):
        raise SegstatsError("writing .pt needs PyTorch")

    monkeypatch.setattr(writers, "_render_pt", broken)
    with pytest.raises(SegstatsError):
        write_output(str(target), DOCUMENT, WEIGHTS)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["w.pt"]


def test_interrupted_write_removes_the_temporary_file(tmp_path):
    from segstats.writers import atomic_output

    with pytest.raises(KeyboardInterrupt), atomic_output(str(tmp_path / "w.json")) as handle:
        handle.write(b"partial")
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ where outputs go
def test_symlink_is_written_through_and_kept(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_output(str(link), {"a": 1})
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text()) == {"a": 1}


def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "new.json")
    write_output(str(link), {"b": 2})
    assert link.is_symlink() and json.loads((tmp_path / "new.json").read_text()) == {"b": 2}


def test_fifo_is_written_into_never_replaced(tmp_path):
    import threading

    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_output(str(fifo), {"c": 3})
    reader.join(10)
    assert json.loads(received[0]) == {"c": 3}
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still a FIFO, no regular file in its place


def test_dash_is_standard_output(capsysbinary):
    assert format_for("-") == "json"
    write_output("-", {"d": 4})
    assert json.loads(capsysbinary.readouterr().out) == {"d": 4}


def test_yaml_floats_are_floats_for_pyyaml(tmp_path):
    """PyYAML (YAML 1.1) reads 1e-05 as a string; the writer gives 1.0e-05, exact on reload."""
    yaml = pytest.importorskip("yaml")
    weights = np.array([1e-05, 2.5e20, 0.1, 1 / 3, 3.0, 1e-300])
    path = tmp_path / "w.yaml"
    write_output(str(path), DOCUMENT, weights)
    loaded = yaml.safe_load(path.read_text())["class_weight"]
    assert all(isinstance(v, float) for v in loaded)
    assert loaded == weights.tolist()
