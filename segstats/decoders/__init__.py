"""Decoders by name: who turns a checked file's pixels into a stored-value histogram.

Every decoder goes through the compiled PNG walker (:mod:`segstats.png`) first,
so a file gets one verdict whatever ``--decoder`` says; only ``fast`` refuses
kinds its reader does not count (contract, "Label images").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

from segstats._types import IntArray, ValueHistogram
from segstats.choices import Decoder
from segstats.decoders.base import (
    DECODER_HELP,
    DEFAULT_MAX_PIXELS,
    DenseMatrix,
    FileResult,
    Item,
    ReadOptions,
)
from segstats.errors import BadInputError
from segstats.registry import Registry

DECODERS = Registry("decoder")
DECODERS.register("auto", "segstats.decoders.auto:decode_chunk")
DECODERS.register("fast", "segstats.decoders.native:decode_chunk")
DECODERS.register("pillow", "segstats.decoders.pillow:decode_chunk")


@overload
def decode_chunk(
    items: Sequence[Item], paths: Sequence[str], options: ReadOptions, dense: None = None
) -> Sequence[ValueHistogram | BadInputError]: ...
@overload
def decode_chunk(
    items: Sequence[Item], paths: Sequence[str], options: ReadOptions, dense: IntArray
) -> Sequence[FileResult]: ...
def decode_chunk(
    items: Sequence[Item], paths: Sequence[str], options: ReadOptions, dense: DenseMatrix = None
) -> Sequence[FileResult]:
    """The histogram (or the refusal) of every item, in order, with ``options.decoder``.

    ``items`` are local paths (read by the decoder, the GIL released) or bytes
    already in memory (remote files); ``paths`` name them in messages. With
    ``dense`` (a zeroed ``(len(items), 256)`` int64 matrix), a decoder may count a
    file into its row and return a :class:`~segstats._types.DenseRow` for it (the
    compiled reader does, for 8-bit and narrower files; Pillow never does).
    """
    decode = DECODERS.load(options.decoder)
    results: list[FileResult] = decode(items, paths, options, dense)
    return results


__all__ = [
    "DECODERS",
    "DECODER_HELP",
    "DEFAULT_MAX_PIXELS",
    "Decoder",
    "DenseMatrix",
    "FileResult",
    "Item",
    "ReadOptions",
    "decode_chunk",
]
