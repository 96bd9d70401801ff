"""Decoders by name: who turns a checked file's pixels into a stored-value histogram.

Every decoder goes through the compiled PNG walker (:mod:`segstats.png`) first,
so a file gets one verdict whatever ``--decoder`` says; only ``fast`` refuses
kinds its reader does not count (contract, "Label images").
"""

from __future__ import annotations

from collections.abc import Sequence

from segstats.choices import Decoder
from segstats.decoders.base import DECODER_HELP, DEFAULT_MAX_PIXELS, FileResult, Item, ReadOptions
from segstats.registry import Registry

DECODERS = Registry("decoder")
DECODERS.register("auto", "segstats.decoders.auto:decode_chunk")
DECODERS.register("fast", "segstats.decoders.native:decode_chunk")
DECODERS.register("pillow", "segstats.decoders.pillow:decode_chunk")


def decode_chunk(items: Sequence[Item], paths: Sequence[str], options: ReadOptions) -> list[FileResult]:
    """The histogram (or the refusal) of every item, in order, with ``options.decoder``.

    ``items`` are local paths (read by the decoder, the GIL released) or bytes
    already in memory (remote files); ``paths`` name them in messages.
    """
    decode = DECODERS.load(options.decoder)
    results: list[FileResult] = decode(items, paths, options)
    return results


__all__ = [
    "DECODERS",
    "DECODER_HELP",
    "DEFAULT_MAX_PIXELS",
    "Decoder",
    "FileResult",
    "Item",
    "ReadOptions",
    "decode_chunk",
]
