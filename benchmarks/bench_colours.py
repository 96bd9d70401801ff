"""Colour-mask decoding: Pillow's getcolors path against the numpy.unique fallback, in one run.

Usage::

    python benchmarks/bench_colours.py [--height 1024] [--width 2048] [--colours 12] [--repeat 10]

Decodes one synthetic RGB label mask (blocks of ``--colours`` CamVid-like colours)
through ``segstats.decode`` with its colour map, once with the default path
(``Image.getcolors``) and once with the fallback forced (``MAX_GETCOLORS = 1``:
pack pixels to 24-bit ints, then ``numpy.unique``), alternating call by call.
Prints the median time of each and their ratio. Both must give the same histogram.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

# benchmark the checkout this script lives in, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from segstats import decode
from segstats.labels import colour_table


def make_mask(
    height: int, width: int, colours: int, seed: int = 0
) -> tuple[bytes, dict[tuple[int, int, int], int]]:
    rng = np.random.default_rng(seed)
    palette = rng.choice(256, size=(colours, 3)).astype(np.uint8)
    blocks = rng.integers(0, colours, size=(height // 16 + 1, width // 16 + 1))
    index = np.kron(blocks, np.ones((16, 16), dtype=np.int64))[:height, :width]
    buffer = io.BytesIO()
    Image.fromarray(palette[index], "RGB").save(buffer, format="PNG")
    mapping = {tuple(int(c) for c in colour): i for i, colour in enumerate(palette)}
    return buffer.getvalue(), mapping  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--colours", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    data, mapping = make_mask(args.height, args.width, args.colours)
    options = decode.ReadOptions(decoder="pillow", colors=colour_table(mapping))
    default_limit = decode.MAX_GETCOLORS

    def run(limit: int) -> decode.ValueHistogram:
        decode.MAX_GETCOLORS = limit
        try:
            return decode.decode_histogram(data, "bench.png", options)
        finally:
            decode.MAX_GETCOLORS = default_limit

    fast, slow = run(default_limit), run(1)
    assert np.array_equal(fast.values, slow.values) and np.array_equal(fast.counts, slow.counts)
    times: dict[int, list[float]] = {default_limit: [], 1: []}
    for _ in range(args.repeat):
        for limit in times:
            start = time.perf_counter()
            run(limit)
            times[limit].append(time.perf_counter() - start)
    getcolors = statistics.median(times[default_limit])
    fallback = statistics.median(times[1])
    print(
        f"RGB mask {args.width}x{args.height}, {len(mapping)} colours, "
        f"median of {args.repeat} (PNG decode included)"
    )
    print(f"  getcolors path     {getcolors * 1e3:8.2f} ms")
    print(f"  numpy.unique path  {fallback * 1e3:8.2f} ms")
    print(f"  speed-up           {fallback / getcolors:8.2f}x")


if __name__ == "__main__":
    main()
