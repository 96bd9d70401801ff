"""Remote inputs through fsspec: memory:// and file:// give the local run's document exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import fsspec
import numpy as np
import pytest
from labelmasks import brute_force, random_mask, same_counts, write_mask
from PIL import Image
from static_server import serve_directory
from typer.testing import CliRunner

import segstats
from segstats import remote
from segstats.cli import app
from segstats.errors import BadInputError, NoFilesError, UsageError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runner = CliRunner()


@pytest.fixture
def memory_root():
    """A fresh folder in fsspec's in-process memory filesystem, removed afterwards."""
    fs = fsspec.filesystem("memory")
    root = f"/segstats-test-{uuid.uuid4().hex}"
    yield fs, root
    if fs.exists(root):
        fs.rm(root, recursive=True)


@pytest.fixture
def local_and_memory(tmp_path, rng, memory_root):
    """The same 10 masks in tmp_path/labels and in memory://<root>/labels, plus their arrays."""
    fs, root = memory_root
    folder = tmp_path / "labels"
    arrays = []
    for index in range(10):
        sub = "a" if index < 5 else "b/c"
        os.makedirs(folder / sub, exist_ok=True)
        array = random_mask(rng, 12 + index, 16, 3, ignore_index=255)
        name = f"{sub}/m{index:02d}.{'PNG' if index == 3 else 'png'}"
        write_mask(folder / name, array, "P" if index % 2 else "L")
        fs.pipe(f"{root}/labels/{name}", (folder / name).read_bytes())
        arrays.append(array)
    fs.pipe(f"{root}/labels/notes.txt", b"not a label")  # ignored by directory search, like locally
    (folder / "notes.txt").write_bytes(b"not a label")
    return folder, f"memory://{root}/labels", arrays


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("s3://bucket/labels/", "s3"),
        ("gs://b/x.png", "gs"),
        ("HTTPS://host/x.png", "https"),
        ("memory://x", "memory"),
        ("file:///tmp/x.png", "file"),
        ("simplecache::s3://b/k", "simplecache"),
        ("/data/labels", None),
        ("labels/x.png", None),
        ("C:/labels/x.png", None),
        ("./s3:/odd", None),
    ],
)
def test_protocol_of(path, expected):
    assert remote.protocol_of(path) == expected
    assert remote.is_remote(path) == (expected is not None)


def test_memory_scan_equals_the_local_scan(local_and_memory):
    folder, url, arrays = local_and_memory
    local = segstats.scan(folder, num_classes=3, ignore_index=255)
    memory = segstats.scan(url, num_classes=3, ignore_index=255)
    assert same_counts(memory, local)
    expected = brute_force(arrays, 3, 255)
    assert memory.num_images == 10
    assert memory.pixel_counts.tolist() == expected.pixel_counts
    assert memory.image_counts.tolist() == expected.image_counts
    assert memory.image_pixels.tolist() == expected.image_pixels
    assert memory.ignored_pixels == expected.ignored_pixels


def test_memory_discovery_directory_glob_and_file(local_and_memory):
    _, url, _ = local_and_memory
    root = url.removeprefix("memory://")
    found = segstats.discover(url)
    assert len(found) == 10 and found == sorted(found)
    assert all(name.startswith(f"memory://{root}/") and name.lower().endswith(".png") for name in found)
    assert segstats.discover(url + "/") == found  # trailing slash: the same directory
    assert segstats.discover(f"{url}/b/**/*.png") == found[5:]
    assert segstats.discover(f"{url}/a/m0[0-2].png") == found[:3]
    one = f"{url}/a/m00.png"
    assert segstats.discover(one) == [one]  # a file keeps the user's spelling as its identity
    assert segstats.discover([f"{url}/b", f"{url}/a/m01.png"]) == [found[1], *found[5:]]


def test_memory_and_local_paths_mix(local_and_memory):
    folder, url, _ = local_and_memory
    both = segstats.scan([str(folder / "a"), f"{url}/b"], num_classes=3, ignore_index=255)
    assert same_counts(both, segstats.scan(folder, num_classes=3, ignore_index=255))


def test_memory_parallel_scan_uses_threads(rng, memory_root, monkeypatch):
    """memory:// is per process: a parallel local scan (threads) still sees the files."""
    from segstats import executors
    from segstats import reduce as reduce_module

    _, root = memory_root
    arrays = []
    for index in range(6):
        array = random_mask(rng, 8, 8, 3)
        with fsspec.open(f"memory://{root}/m{index}.png", "wb") as handle:
            Image.fromarray(array.astype(np.uint8), "L").save(handle, format="PNG")
        arrays.append(array)
    monkeypatch.setattr(reduce_module, "SERIAL_MAX_FILES", 2)  # take the parallel path with few files
    pools = []
    real = executors.ThreadExecutor.run

    def spy(self, task, arguments):
        pools.append(self.workers)
        return real(self, task, arguments)

    monkeypatch.setattr(executors.ThreadExecutor, "run", spy)
    stats = segstats.scan(f"memory://{root}", num_classes=3, jobs=2)
    assert pools == [2]
    expected = brute_force(arrays, 3, None)
    assert stats.num_images == 6 and stats.pixel_counts.tolist() == expected.pixel_counts
    assert stats.image_pixels.tolist() == expected.image_pixels


def test_file_urls_equal_plain_paths(local_and_memory):
    folder, _, _ = local_and_memory
    url = "file://" + str(folder)
    found = segstats.discover(url)
    assert found == sorted("file://" + p for p in segstats.discover(folder))
    stats = segstats.scan(url, num_classes=3, ignore_index=255)
    assert same_counts(stats, segstats.scan(folder, num_classes=3, ignore_index=255))


def test_memory_cli_document_is_identical(local_and_memory, tmp_path):
    folder, url, _ = local_and_memory
    local_out, memory_out = tmp_path / "local.json", tmp_path / "memory.json"
    for source, out in ((str(folder), local_out), (url, memory_out)):
        result = runner.invoke(app, ["scan", source, "-k", "3", "--ignore-index", "255", "-o", str(out)])
        assert result.exit_code == 0, result.output
    memory_document, local_document = json.loads(memory_out.read_text()), json.loads(local_out.read_text())
    assert memory_document.pop("files_digest") != local_document.pop("files_digest")  # other names
    assert memory_document == local_document


def test_remote_errors_name_the_url(local_and_memory):
    _, url, _ = local_and_memory
    fs = fsspec.filesystem("memory")
    root = url.removeprefix("memory://")
    fs.pipe(f"{root}/a/broken.png", b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(BadInputError) as info:
        segstats.scan(url, num_classes=3, ignore_index=255)
    assert info.value.path == f"memory://{root}/a/broken.png"
    skipped = segstats.scan(url, num_classes=3, ignore_index=255, skip_errors=True)
    assert [e["path"] for e in skipped.errors] == [f"memory://{root}/a/broken.png"]
    assert skipped.num_images == 10


def test_remote_file_deleted_after_listing(local_and_memory):
    _, url, _ = local_and_memory
    files = segstats.discover(url)
    fsspec.filesystem("memory").rm(files[4].removeprefix("memory://"))
    with pytest.raises(BadInputError, match="file not found") as info:
        segstats.scan(url, files=files, num_classes=3, ignore_index=255)
    assert info.value.path == files[4]


@pytest.mark.parametrize(
    ("suffix", "error", "message"),
    [
        ("/nothing-here", BadInputError, "no such file or directory"),
        ("/nothing-here/", BadInputError, "no such file or directory"),
        ("/labels/*.tif", BadInputError, "no files match"),
    ],
)
def test_remote_missing_paths(memory_root, local_and_memory, suffix, error, message):
    _, root = memory_root
    with pytest.raises(error, match=message):
        segstats.discover(f"memory://{root}{suffix}")


def test_remote_directory_without_labels(memory_root):
    fs, root = memory_root
    fs.pipe(f"{root}/empty/readme.txt", b"x")
    with pytest.raises(NoFilesError):
        segstats.discover(f"memory://{root}/empty")


def test_unknown_protocol_is_bad_input():
    with pytest.raises(BadInputError, match="^nosuchproto://x/y.png: cannot open this URL: .*nosuchproto"):
        segstats.discover("nosuchproto://x/y.png")


def test_http_listing_and_files_equal_the_local_scan(local_and_memory):
    """https:// and http:// go through fsspec's HTTP filesystem: a served listing is searched."""
    pytest.importorskip("aiohttp")
    folder, _, _ = local_and_memory
    local = segstats.scan(folder, num_classes=3, ignore_index=255)
    with serve_directory(folder.parent) as base:
        found = segstats.discover(f"{base}/labels/")
        assert found == sorted(
            f"{base}/labels/{os.path.relpath(p, folder)}" for p in segstats.discover(folder)
        )
        # a glob is case-sensitive, as locally: m03.PNG does not match *.png
        assert segstats.discover(f"{base}/labels/a/*.png") == [f for f in found[:5] if f.endswith(".png")]
        assert segstats.discover(f"{base}/labels/a/m01.png?sig=abc") == [f"{base}/labels/a/m01.png?sig=abc"]
        stats = segstats.scan(f"{base}/labels/", num_classes=3, ignore_index=255)
        assert same_counts(stats, local)
        with pytest.raises(BadInputError, match="no such file"):
            segstats.discover(f"{base}/labels/missing.png")


# ------------------------------------------------------------- missing extras
def test_missing_fsspec_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)  # "import fsspec" now raises ImportError
    with pytest.raises(UsageError) as info:
        segstats.discover("s3://bucket/labels/")
    message = str(info.value)
    assert "fsspec" in message and "pip install 'segstats[cloud]'" in message and "\n" not in message


def test_missing_protocol_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "s3fs", None)
    from fsspec.registry import _registry

    monkeypatch.delitem(_registry, "s3", raising=False)
    with pytest.raises(UsageError) as info:
        segstats.discover("s3://bucket/labels/")
    message = str(info.value)
    assert message.startswith("s3://bucket/labels/: the s3:// protocol is not available")
    assert "s3fs" in message and "pip install 'segstats[cloud]'" in message


def test_missing_package_on_the_worker_is_a_bad_file(monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(BadInputError) as info:
        remote.read_remote_bytes("gs://bucket/a.png")
    assert info.value.path == "gs://bucket/a.png" and "segstats[cloud]" in info.value.cause


def test_cli_missing_extra_is_one_line_exit_2(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "fsspec", None)
    out = tmp_path / "s.json"
    result = runner.invoke(app, ["scan", "gs://bucket/labels/", "-o", str(out)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "segstats[cloud]" in lines[0] and lines[0].startswith("error:")
    assert not out.exists()


def test_local_paths_never_import_fsspec():
    code = (
        "import sys, segstats\n"
        f"segstats.scan({os.path.join(ROOT, 'sample_masks')!r}, num_classes=3)\n"
        "print(sorted(m for m in ('fsspec', 'distributed', 'dask') if m in sys.modules))\n"
    )
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
