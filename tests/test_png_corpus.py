"""The compiled PNG reader (segstats._native.count_chunk) against the generated corpus.

Every case of tests/pngcorpus.py goes through ``count_chunk``: valid grey and
palette PNGs must give exactly the histogram of their source array, RGB/RGBA
ones code 1, hostile ones code 3 with a message of the expected kind and no raw
control byte. The same verdict is required with ``check_only=True``, from paths
and from bytes, with either inflate backend, and in one chunk mixing every case
(results in order, nothing carried over from one item to the next).

The comparison itself is :func:`pngcorpus.check_decoder`, which takes any
``decode(data) -> outcome`` callable: the Python decoders can be run over the
same corpus by passing their own adapter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pngcorpus import SIGNATURE, Case, Decoder, check_decoder, chunk, corpus, ihdr_data, outcome_of

native = pytest.importorskip(
    "segstats._native",
    reason="segstats._native is not built (python setup.py build_ext --inplace builds it)",
)

CASES = corpus()
# count_chunk takes one pixel limit per call: the cases without one can share a chunk.
UNLIMITED = [case for case in CASES if case.max_pixels < 0]
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS_DIR)


def _backends() -> list[str]:
    if not hasattr(native, "set_inflate"):
        return [native.inflate_backend()]
    names = ["zlib"]
    try:
        native.set_inflate("libdeflate")
        names.append("libdeflate")
    except RuntimeError:  # libdeflate's library is not installed here
        pass
    native.set_inflate("auto")
    return names


@pytest.fixture(params=_backends())
def backend(request: pytest.FixtureRequest) -> Any:
    if hasattr(native, "set_inflate"):
        native.set_inflate(request.param)
        assert native.inflate_backend() == request.param
    yield request.param
    if hasattr(native, "set_inflate"):
        native.set_inflate("auto")


def native_decoder(max_pixels: int = -1, **options: Any) -> Decoder:
    """``count_chunk`` on one item, as a corpus decoder."""

    def decode(data: bytes) -> tuple[Any, ...]:
        (result,) = native.count_chunk([data], max_pixels, **options)
        return outcome_of(result)

    return decode


def one_by_one(cases: list[Case], **options: Any) -> list[tuple[Any, ...]]:
    return [native.count_chunk([case.data], case.max_pixels, **options)[0] for case in cases]


def test_every_verdict_from_bytes(backend: str) -> None:
    failures = [
        problem for case in CASES for problem in check_decoder(native_decoder(case.max_pixels), [case])
    ]
    assert not failures, f"{len(failures)} wrong verdicts:\n" + "\n".join(failures[:30])


def test_header_fields_and_result_shapes(backend: str) -> None:
    for case, result in zip(CASES, one_by_one(CASES), strict=True):
        if case.verdict == "ok":
            code, width, height, depth, ctype, interlace, values, counts = result
            assert code == 0 and (width, height, depth, ctype, interlace) == case.header, case.name
            assert isinstance(values, bytes) and isinstance(counts, bytes) and len(values) == len(counts)
            counted = np.frombuffer(counts, "<i8")
            assert (counted > 0).all() and int(counted.sum()) == width * height, case.name
        elif case.verdict == "colour":
            code, *header, reason = result
            assert code == 1 and tuple(header) == case.header, case.name
            assert reason == (
                "RGB colour image" if case.header and case.header[3] == 2 else "RGBA colour image"
            )
        elif case.verdict == "refused":
            assert len(result) == 2 and result[0] == 3, case.name
        else:
            assert len(result) == 2 and result[0] == 2 and isinstance(result[1], str), case.name


def test_check_only_gives_the_same_verdict(backend: str) -> None:
    for case, full, checked in zip(CASES, one_by_one(CASES), one_by_one(CASES, check_only=True), strict=True):
        if full[0] == 0:
            assert checked == (*full[:6], b"", b""), case.name
        else:  # the same code and the same message
            assert checked == full, case.name


def test_from_paths_as_from_bytes(backend: str, tmp_path: Path) -> None:
    paths = []
    for index, case in enumerate(UNLIMITED):
        path = tmp_path / f"{index:04d}.png"
        path.write_bytes(case.data)
        paths.append(str(path))
    from_paths = native.count_chunk(paths, -1)
    assert from_paths == one_by_one(UNLIMITED)
    assert native.count_chunk(paths, -1, check_only=True) == one_by_one(UNLIMITED, check_only=True)
    for case in CASES:  # the limited cases, one call each
        if case.max_pixels >= 0:
            path = tmp_path / "limited.png"
            path.write_bytes(case.data)
            assert native.count_chunk([str(path)], case.max_pixels) == one_by_one([case])


def test_one_chunk_mixing_every_case(backend: str, tmp_path: Path) -> None:
    expected = one_by_one(UNLIMITED)
    assert native.count_chunk([case.data for case in UNLIMITED], -1) == expected
    assert native.count_chunk([case.data for case in UNLIMITED], None) == expected
    # Shuffled, every item twice, bytes-like kinds and paths interleaved: any state left over
    # from one item (a histogram half-filled by an image refused in its last row, a 16-bit
    # histogram before an 8-bit one) would change a later result.
    order = np.random.default_rng(5).permutation(2 * len(UNLIMITED)) % len(UNLIMITED)
    items: list[Any] = []
    for position, index in enumerate(order):
        data = UNLIMITED[index].data
        if position % 3 == 0:
            path = tmp_path / f"{position}.png"
            path.write_bytes(data)
            items.append(str(path))
        elif position % 3 == 1:
            items.append(bytearray(data))
        else:
            items.append(memoryview(data))
    assert native.count_chunk(items, -1) == [expected[index] for index in order]


def test_refused_after_partial_count_leaves_nothing_behind(backend: str) -> None:
    """An image refused in its last row (after the rows above were counted), then a good one."""
    refused_late = [case for case in CASES if case.name.endswith("last-row")]
    assert refused_late
    good = [case for case in CASES if case.verdict == "ok"]
    expected = one_by_one(good)
    for case in refused_late:
        results = native.count_chunk([case.data] + [other.data for other in good], -1)
        assert results[0][0] == 3
        assert results[1:] == expected, case.name


def test_plain_path_agrees_with_the_kernels(backend: str) -> None:
    try:
        plain = one_by_one(UNLIMITED, plain=True)
    except TypeError:
        pytest.skip("count_chunk has no plain= option")
    assert plain == one_by_one(UNLIMITED)


def test_messages_escape_control_bytes(backend: str) -> None:
    (result,) = native.count_chunk([next(c for c in CASES if c.name == "chunk-type-esc-clear").data], -1)
    assert result[0] == 3 and "\\x1b[2J" in result[1] and "\x1b" not in result[1], result


def test_os_error_for_a_missing_path(tmp_path: Path) -> None:
    (result,) = native.count_chunk([str(tmp_path / "missing.png")], -1)
    assert result[0] == 4 and result[1] == 2 and isinstance(result[2], str), result


# A child process whose address space is capped just above what it uses: any allocation
# of the size a hostile IHDR announces fails there, and would show as MemoryError.
CAPPED_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    sys.path[:0] = [sys.argv[1]]
    import segstats._native as native
    items = [bytes.fromhex(h) for h in json.loads(sys.stdin.read())]
    with open("/proc/self/status") as status:
        vm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + (16 << 20), resource.RLIM_INFINITY))
    out = []
    for data in items:
        try:
            out.append(list(native.count_chunk([data], -1)[0])[:2])
        except MemoryError:
            out.append("MemoryError")
    print(json.dumps(out))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and RLIMIT_AS")
def test_bombs_are_refused_without_allocating() -> None:
    bombs = [case for case in CASES if case.name.startswith("bomb-") and case.max_pixels < 0]
    assert any(len(case.data) == 69 for case in bombs)
    # A valid 25 MB image: the proof that the cap is real (it cannot be decoded under it).
    big = (
        SIGNATURE
        + chunk(b"IHDR", ihdr_data(5000, 5000, 8, 0))
        + chunk(b"IDAT", zlib.compress(bytes(5000 * 5001), 1))
    )
    big += chunk(b"IEND", b"")
    child = subprocess.run(
        [sys.executable, "-c", CAPPED_CHILD, ROOT],
        input=json.dumps([case.data.hex() for case in bombs] + [big.hex()]),
        capture_output=True,
        text=True,
        check=True,
        # A fixed mmap threshold: glibc's sliding one would keep freed heap mapped for reuse.
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "65536"},
        cwd=TESTS_DIR,
    )
    *results, proof = json.loads(child.stdout)
    assert proof == "MemoryError", proof
    for case, result in zip(bombs, results, strict=True):
        assert result != "MemoryError", case.name
        assert check_decoder(lambda _data, result=result: outcome_of(tuple(result)), [case]) == []
