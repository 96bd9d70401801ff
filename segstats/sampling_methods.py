"""The sampling methods of ``segstats sample`` by name, their defaults and help texts.

Apart from :mod:`segstats.sampling` (which computes the weights with numpy) so that
the CLI's ``--help`` is built without importing numpy.
"""

from __future__ import annotations

from enum import Enum

from segstats.errors import UsageError


class SamplingMethod(str, Enum):
    """``--method`` of ``segstats sample`` (the value is the name on the command line)."""

    REPEAT_FACTOR = "repeat-factor"
    CLASS_AWARE = "class-aware"
    RARE_CLASS = "rare-class"


DEFAULT_METHOD = SamplingMethod.REPEAT_FACTOR
DEFAULT_THRESHOLD = 0.001
DEFAULT_TEMPERATURE = 0.01
DEFAULT_MIN_PIXELS = 1
RARE_CLASS_MIN_PIXELS = 3000

# One line per method for --help (generated from here so the two never disagree).
METHOD_HELP: dict[SamplingMethod, str] = {
    SamplingMethod.REPEAT_FACTOR: (
        "max over the image's classes of max(1, sqrt(t / f_c)), f_c the share of images holding c "
        "(LVIS / detectron2); --threshold t"
    ),
    SamplingMethod.CLASS_AWARE: (
        "a class uniformly, then an image holding it uniformly (mmdet ClassAwareSampler)"
    ),
    SamplingMethod.RARE_CLASS: (
        "a class by softmax((1 - pixel share) / T), then an image holding it (DAFormer); --temperature T"
    ),
}
# The options each method reads (others given for it are refused, never ignored).
METHOD_OPTIONS: dict[SamplingMethod, tuple[str, ...]] = {
    SamplingMethod.REPEAT_FACTOR: ("threshold", "min_pixels"),
    SamplingMethod.CLASS_AWARE: ("min_pixels",),
    SamplingMethod.RARE_CLASS: ("temperature", "min_pixels"),
}
# Output formats by suffix.
SAMPLE_SUFFIXES = {".json": "json", ".csv": "csv", ".pt": "pt", ".npy": "npy"}


def methods_help() -> str:
    return "; ".join(f"{m.value}: {text}" for m, text in METHOD_HELP.items())


def parse_method(method: str | SamplingMethod) -> SamplingMethod:
    try:
        return SamplingMethod(method)
    except ValueError:
        names = ", ".join(m.value for m in SamplingMethod)
        raise UsageError(f"unknown sampling method {method!r}; choose one of {names}") from None
