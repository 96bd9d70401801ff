"""``--decoder auto``: by file kind, never by the size of the scan.

Grey and palette PNGs (every bit depth, interlaced or not) are counted by the
compiled reader; colour PNGs (after the same reader's checks), TIFF and
anything else go to Pillow.
"""

from __future__ import annotations

from collections.abc import Sequence

from segstats._types import DenseRow
from segstats.decoders.base import DenseMatrix, FileResult, Item, ReadOptions, colour_refusal
from segstats.errors import BadInputError
from segstats.png import Counted, critical_chunks, walk_rows
from segstats.sources.local import read_bytes


def decode_chunk(
    items: Sequence[Item], paths: Sequence[str], options: ReadOptions, dense: DenseMatrix = None
) -> list[FileResult]:
    results: list[FileResult] = []
    outcomes = walk_rows(items, paths, options.max_pixels, dense)
    for item, path, outcome in zip(items, paths, outcomes, strict=True):
        if isinstance(outcome, DenseRow):
            results.append(outcome)
            continue
        if isinstance(outcome, Counted):
            results.append(outcome.histogram)
            continue
        if isinstance(outcome, BadInputError):
            results.append(outcome)
            continue
        if outcome.info is not None:  # a checked colour PNG
            refusal = colour_refusal(outcome.info, path, options)
            if refusal is not None:
                results.append(refusal)
                continue
        from segstats.decoders.pillow import decode as pillow_decode  # Pillow only when needed

        try:
            data = item if isinstance(item, bytes) else read_bytes(path)
            if outcome.info is not None:  # a checked colour PNG: Pillow sees its critical chunks only
                data = critical_chunks(data)
            results.append(pillow_decode(data, path, options, outcome.info))
        except BadInputError as exc:
            results.append(exc)
    return results
