"""The named choices of the public surface (``--method``, ``--decoder``, ...) as Literal types.

One place that the CLI's help texts and completions are generated from, and that
type checkers see; the library modules that own each choice (``weights.METHODS``,
``decode.DECODERS``, ...) keep their own registries, and ``tests/test_cli_layout.py``
checks that the two agree, so a new method or format is added in both or the tests
fail. This module imports nothing of the package (``segstats --help`` loads it).
"""

from __future__ import annotations

from typing import Literal, get_args

# weights.METHODS: how class counts become class weights.
Method = Literal["median-frequency", "enet", "balanced", "inverse-sqrt", "pos-weight", "effective-number"]
# weights.NORMALIZATIONS: what is done to the present weights after the method.
Normalize = Literal["none", "mean", "sum"]
# writers.FORMATS: what --output writes (--format; default from the suffix).
WeightsFormat = Literal["json", "list", "pt", "npy", "yaml"]
# decoders.DECODERS: who turns a checked file into counts (the verdict is the same).
Decoder = Literal["auto", "fast", "pillow"]
# What each --decoder choice does (the --decoder help is generated from it).
DECODER_HELP: dict[str, str] = {
    "auto": "by file kind: the native reader for grey and palette PNGs, Pillow for TIFF and colour",
    "fast": "the native reader only; refuses kinds it does not count (TIFF, colour masks)",
    "pillow": "Pillow, after the same native PNG checks",
}
# cluster.BACKENDS: where files are counted.
Backend = Literal["local", "dask"]
# sampling.SamplingMethod: how per-image class counts become sampling weights (segstats sample).
SampleMethod = Literal["repeat-factor", "class-aware", "rare-class"]
# audit.SORT_KEYS: the order of the audit's class rows.
SortKey = Literal["id", "share", "images"]
# findings.FINDING_KINDS: the kinds of audit findings (--allow KIND).
FindingKind = Literal[
    "absent-class",
    "void-as-class",
    "ignore-in-range",
    "rare-class",
    "dominant-class",
    "imbalance-ratio",
    "unknown-values",
    "unreadable-files",
    "mixed-sizes",
    "mixed-modes",
    "missing-from-split",
]


def choices_of(choice_type: object) -> tuple[str, ...]:
    """The names of a Literal of strings, in their declared order."""
    names = get_args(choice_type)
    if not names or not all(isinstance(name, str) for name in names):
        raise TypeError(f"{choice_type!r} is not a Literal of strings")
    return names


__all__ = [
    "DECODER_HELP",
    "Backend",
    "Decoder",
    "FindingKind",
    "Method",
    "Normalize",
    "SampleMethod",
    "SortKey",
    "WeightsFormat",
    "choices_of",
]
