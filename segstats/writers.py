"""Output files: .json / list / .pt / .npy / .yaml, always written atomically.

Every writer renders the whole payload first, then writes it to a temporary
file in the destination folder and renames it over the destination, so an
output file is written whole or not at all (contract, "Output files"):

- ``-`` is standard output;
- a symlink is written through: its target is replaced atomically, the link kept;
- a path that is not a regular file (a FIFO, a device such as ``/dev/stdout``)
  is written into directly and never replaced by a regular file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any

import numpy as np

from segstats.errors import SegstatsError, UsageError

# --format names and the file suffixes that choose them.
FORMATS = ("json", "list", "pt", "npy", "yaml")
SUFFIX_FORMATS = {".json": "json", ".pt": "pt", ".npy": "npy", ".yaml": "yaml", ".yml": "yaml"}


def format_for(path: str, fmt: str | None = None) -> str:
    """The output format: ``fmt`` if given, else from ``path``'s suffix (``-``: the JSON document)."""
    if fmt is None and path == STDOUT:
        return "json"
    if fmt is not None:
        if fmt not in FORMATS:
            raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        return fmt
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SUFFIX_FORMATS:
        raise UsageError(
            f"{path}: cannot tell the output format from the suffix {suffix or '(none)'!r}; "
            "use .json, .pt, .npy, .yaml or --format"
        )
    return SUFFIX_FORMATS[suffix]


# The output path that means standard output.
STDOUT = "-"
# Formats that are bytes, not text: never printed to a terminal.
BINARY_FORMATS = frozenset({"pt", "npy"})
# How to get PyTorch for .pt without pulling a multi-GB CUDA build by accident.
TORCH_INSTALL_HINT = (
    "pip install torch may pull a multi-GB CUDA build: pick the CPU wheel "
    "(pip install torch --index-url https://download.pytorch.org/whl/cpu) or pin the torch "
    "version your training uses; or write .npy / .json instead"
)


def _destination(path: str) -> tuple[str, bool]:
    """``(where to write, is it a regular file or absent)``: symlinks resolved to their target."""
    target = os.path.realpath(path) if os.path.islink(path) else path
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return target, True
    except OSError as exc:
        raise SegstatsError(f"{path}: cannot write here ({exc.strerror or exc})") from exc
    return target, stat.S_ISREG(mode)


@contextlib.contextmanager
def atomic_output(path: str) -> Iterator[IO[bytes]]:
    """A file handle for ``path``: a temporary file renamed over it on success only.

    ``-`` gives standard output; a FIFO or a device is opened and written
    directly (callers render the whole payload before writing it).
    """
    if path == STDOUT:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    path, regular = _destination(path)
    if not regular:
        try:
            handle = open(path, "wb")  # noqa: SIM115 - closed below, after the caller's writes
        except OSError as exc:
            raise SegstatsError(f"{path}: cannot write here ({exc.strerror or exc})") from exc
        with handle:
            yield handle
        return
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, temp_path = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise SegstatsError(f"{path}: cannot write here ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_path, 0o644)
        os.replace(temp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        raise


def weights_json_list(weights: Sequence[float] | np.ndarray) -> str:
    """``[w0, w1, ...]`` with every float at full (round-trip) precision."""
    return json.dumps([float(w) for w in weights])


def yaml_float(value: float) -> str:
    """``value`` at full precision in a form YAML 1.1 (PyYAML) reads as a float.

    Python writes ``1e-05``; YAML 1.1's float pattern needs a dot in the mantissa
    (PyYAML would read ``1e-05`` as a string), so it becomes ``1.0e-05``.
    """
    text = repr(float(value))
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        return f"{mantissa}.0e{exponent}"
    return text


def _render_yaml(weights: np.ndarray) -> bytes:
    lines = ["class_weight:"] + [f"- {yaml_float(w)}" for w in weights]
    return ("\n".join(lines) + "\n").encode()


def _render_pt(weights: np.ndarray) -> bytes:
    try:
        import torch
    except ImportError as exc:
        raise SegstatsError(
            f"writing .pt needs PyTorch (torch), which is not installed; {TORCH_INSTALL_HINT}"
        ) from exc
    buffer = io.BytesIO()
    torch.save(torch.tensor(weights, dtype=torch.float32), buffer)
    return buffer.getvalue()


def _render_npy(weights: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(weights, dtype=np.float64), allow_pickle=False)
    return buffer.getvalue()


def render(fmt: str, weights: np.ndarray | None, document: Mapping[str, Any]) -> bytes:
    """The bytes of an output file in ``fmt`` (rendered before anything is written)."""
    if fmt == "json":
        return (json.dumps(document, indent=2) + "\n").encode()
    if weights is None:
        raise UsageError(f"format {fmt} holds weights; use a .json file for statistics")
    renderers: dict[str, Callable[[np.ndarray], bytes]] = {
        "list": lambda w: (weights_json_list(w) + "\n").encode(),
        "pt": _render_pt,
        "npy": _render_npy,
        "yaml": _render_yaml,
    }
    return renderers[fmt](np.asarray(weights, dtype=np.float64))


def write_output(
    path: str,
    document: Mapping[str, Any],
    weights: np.ndarray | None = None,
    fmt: str | None = None,
) -> str:
    """Write ``document`` (json) or ``weights`` (other formats) to ``path`` atomically.

    Returns:
        The format written.
    """
    chosen = format_for(path, fmt)
    payload = render(chosen, weights, document)
    with atomic_output(path) as handle:
        handle.write(payload)
    return chosen
