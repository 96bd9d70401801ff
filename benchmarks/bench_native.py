"""Per-file time of segstats._native.count_chunk against Pillow open+load on the same bytes.

Masks are generated in memory with benchmarks/make_masks.py's scene makers at the
sizes of the issue's targets:

- ``voc``: 500x375 palette (P), saved by Pillow (adaptive filters);
- ``ade``: 680x510 grey (L), every row Sub-filtered (as ADE20K's files are), zlib level 9;
- ``ade-pillow``: the same masks saved by Pillow;
- ``cityscapes``: 2048x1024 grey (L), saved by Pillow;
- ``uint16``: 1024x1024 16-bit grey (I;16), 300 classes, saved by Pillow.

Single thread, steady state: each timing is the median of ``--repeat`` passes over
all files (the first pass warms caches and buffers and is not counted). ``--threads
2`` runs two threads, each on its own chunks, and reports files per second too.

Usage: ``python benchmarks/bench_native.py [--files N] [--repeat R] [--chunk C] [--threads T]``
``--cpu``: process CPU time instead of wall time (one thread only).
``--on-disk``: files in a temporary folder, paths passed to both (file reads included).
(build the module first: ``python setup.py build_ext --inplace``).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import struct
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_masks import VOC_PALETTE, blocky_scene, street_scene, voc_scene

from segstats import _native


def pillow_png(mask: np.ndarray, mode: str) -> bytes:
    image = Image.frombytes(mode, (mask.shape[1], mask.shape[0]), mask.astype(np.uint8).tobytes())
    if mode == "P":
        image.putpalette(VOC_PALETTE)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def uint16_png(mask: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(mask.astype(np.uint16)).save(out, format="PNG")
    return out.getvalue()


def sub_png(mask: np.ndarray) -> bytes:
    """8-bit grey, every row Sub-filtered (filter type 1), zlib level 9."""
    rows = mask.astype(np.int16)
    filtered = (rows - np.concatenate([np.zeros((rows.shape[0], 1), np.int16), rows[:, :-1]], axis=1)) % 256
    raw = np.concatenate([np.ones((rows.shape[0], 1), np.uint8), filtered.astype(np.uint8)], axis=1)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", mask.shape[1], mask.shape[0], 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


def make(kind: str, count: int) -> list[bytes]:
    rng = np.random.default_rng([20261202, len(kind)])
    if kind == "voc":
        return [pillow_png(voc_scene(rng, 375, 500), "P") for _ in range(count)]
    if kind == "ade":
        return [sub_png(street_scene(rng, 510, 680, 150)) for _ in range(count)]
    if kind == "ade-pillow":
        return [pillow_png(street_scene(rng, 510, 680, 150), "L") for _ in range(count)]
    if kind == "uint16":
        return [uint16_png(blocky_scene(rng, 1024, 1024, 300)) for _ in range(count)]
    return [pillow_png(street_scene(rng, 1024, 2048, 19), "L") for _ in range(count)]


def pillow_pass(blobs: list) -> None:
    for blob in blobs:  # bytes, or a path (str): Pillow reads the file
        with Image.open(io.BytesIO(blob) if isinstance(blob, bytes) else blob) as image:
            image.load()


def native_pass(blobs: list, chunk: int) -> None:
    for start in range(0, len(blobs), chunk):
        for result in _native.count_chunk(blobs[start : start + chunk], None):
            assert result[0] == 0, result


CLOCK = [time.perf_counter]


def timed(functions: list, repeat: int) -> list[float]:
    """Median seconds of each function, runs interleaved (the machine's load drifts)."""
    clock = CLOCK[0]
    for function in functions:
        function()  # warm-up: caches, buffers, lazy imports
    times: list[list[float]] = [[] for _ in functions]
    for _ in range(repeat):
        for index, function in enumerate(functions):
            start = clock()
            function()
            times[index].append(clock() - start)
    return [statistics.median(t) for t in times]


def run_kind(kind: str, blobs: list, args: argparse.Namespace) -> None:
    chunks = [blobs[i : i + args.chunk] for i in range(0, len(blobs), args.chunk)]
    if args.threads == 1:
        native, check, plain, pillow = timed(
            [
                lambda: native_pass(blobs, args.chunk),
                lambda: [_native.count_chunk(c, None, check_only=True) for c in chunks],
                lambda: [_native.count_chunk(c, None, plain=True) for c in chunks],
                lambda: pillow_pass(blobs),
            ],
            args.repeat,
        )
        per = 1e3 / len(blobs)
        print(
            f"{kind:11s} native {native * per:7.3f} ms/file  (check_only {check * per:6.3f}, "
            f"plain path {plain * per:6.3f})  pillow {pillow * per:7.3f} ms/file  "
            f"ratio {pillow / native:5.2f}x"
        )
    else:
        parts = [blobs[i :: args.threads] for i in range(args.threads)]
        with ThreadPoolExecutor(args.threads) as pool:
            native, native1, pillow, pillow1 = timed(
                [
                    lambda: list(pool.map(lambda p: native_pass(p, args.chunk), parts)),
                    lambda: native_pass(blobs, args.chunk),
                    lambda: list(pool.map(pillow_pass, parts)),
                    lambda: pillow_pass(blobs),
                ],
                args.repeat,
            )
        print(
            f"{kind:11s} native {len(blobs) / native:7.0f} files/s ({native1 / native:4.2f}x one thread)  "
            f"pillow {len(blobs) / pillow:7.0f} files/s ({pillow1 / pillow:4.2f}x one thread)  "
            f"ratio {pillow / native:5.2f}x"
        )


def write(path: str, blob: bytes) -> str:
    with open(path, "wb") as handle:
        handle.write(blob)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kinds", default="voc,ade,ade-pillow,cityscapes,uint16")
    parser.add_argument("--on-disk", action="store_true", help="write the files, pass paths (reads included)")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="process CPU time instead of wall time (steadier on a busy machine)",
    )
    args = parser.parse_args()
    if args.cpu:
        CLOCK[0] = time.process_time
    print(f"inflate: {_native.inflate_backend()}, threads: {args.threads}, files: {args.files}", end="")
    print(f", chunk: {args.chunk}")
    with tempfile.TemporaryDirectory() as folder:
        for kind in args.kinds.split(","):
            items: list = make(kind, args.files)
            if args.on_disk:
                items = [write(os.path.join(folder, f"{kind}_{i}.png"), blob) for i, blob in enumerate(items)]
            run_kind(kind, items, args)


if __name__ == "__main__":
    main()
