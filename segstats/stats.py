"""DatasetStats: the exact counts of a dataset, what derives from them, JSON in and out."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from segstats._types import IntArray
from segstats._version import __version__
from segstats.errors import BadInputError

# Version of the JSON document layout (contract: "schema_version": 1).
SCHEMA_VERSION = 1
# Integer fields of the document that merge adds up.
SUMMED_SCALARS = ("num_images", "total_pixels", "ignored_pixels")
SUMMED_ARRAYS = ("pixel_counts", "image_counts", "image_pixels")

FloatArray = npt.NDArray[np.float64]


@dataclass
class DatasetStats:
    """Exact per-class counts over a set of label images (see CONTRACT.md).

    Attributes:
        num_classes: K.
        ignore_index: value of ignored pixels, or None.
        num_images: label images counted.
        total_pixels: all pixels of all counted images, ignored ones included.
        ignored_pixels: pixels equal to ``ignore_index``.
        pixel_counts: ``[K]`` pixels of each class.
        image_counts: ``[K]`` images in which each class has at least one pixel.
        image_pixels: ``[K]`` sum, over the images containing the class, of
            that image's non-ignored pixels.
        class_names: optional K names.
        errors: files skipped with ``skip_errors``: ``{"path", "error"}`` dicts.
        image_sizes / image_modes: how many images had each ``WxH`` size / mode
            (kept in memory for the audit; not part of the JSON document).
        files_digest: a digest of the set of files this document covers
            (:func:`file_list_digest`), additive so that merged shards carry the
            digest of the whole scan; ``merge`` refuses two documents with the same
            one (the same files counted twice). ``""`` when unknown or no file.
    """

    num_classes: int
    ignore_index: int | None
    num_images: int
    total_pixels: int
    ignored_pixels: int
    pixel_counts: IntArray
    image_counts: IntArray
    image_pixels: IntArray
    class_names: list[str] | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    image_sizes: dict[str, int] = field(default_factory=dict)
    image_modes: dict[str, int] = field(default_factory=dict)
    files_digest: str = ""

    def __post_init__(self) -> None:
        for name in SUMMED_ARRAYS:
            array = np.asarray(getattr(self, name), dtype=np.int64)
            if array.shape != (self.num_classes,):
                raise ValueError(f"{name} has shape {array.shape}, expected ({self.num_classes},)")
            setattr(self, name, array)

    # ----------------------------------------------------------------- derived
    @property
    def labelled_pixels(self) -> int:
        """Pixels that belong to a class (``sum(pixel_counts)``)."""
        return int(self.pixel_counts.sum())

    @property
    def present(self) -> npt.NDArray[np.bool_]:
        """Mask of classes with at least one pixel."""
        return self.pixel_counts > 0

    @property
    def absent_classes(self) -> list[int]:
        return [int(c) for c in np.flatnonzero(~self.present)]

    @property
    def share(self) -> FloatArray:
        """``p[c] = pixel_counts[c] / sum(pixel_counts)`` (zeros when nothing is labelled)."""
        total = self.labelled_pixels
        if total == 0:
            return np.zeros(self.num_classes)
        return self.pixel_counts / total

    @property
    def frequency(self) -> FloatArray:
        """Eigen & Fergus ``f[c] = pixel_counts[c] / image_pixels[c]`` (0 for absent classes)."""
        out = np.zeros(self.num_classes)
        seen = self.image_pixels > 0
        out[seen] = self.pixel_counts[seen] / self.image_pixels[seen]
        return out

    def class_name(self, index: int) -> str:
        if self.class_names is not None and index < len(self.class_names):
            return self.class_names[index]
        return str(index)

    # -------------------------------------------------------------------- JSON
    def to_dict(self, weights: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The contract's JSON document (``weights`` only when given)."""
        document: dict[str, Any] = {
            "segstats_version": __version__,
            "schema_version": SCHEMA_VERSION,
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "class_names": self.class_names,
            "num_images": self.num_images,
            "total_pixels": self.total_pixels,
            "ignored_pixels": self.ignored_pixels,
            "pixel_counts": [int(v) for v in self.pixel_counts],
            "image_counts": [int(v) for v in self.image_counts],
            "image_pixels": [int(v) for v in self.image_pixels],
        }
        if weights is not None:
            document["weights"] = dict(weights)
        document["errors"] = list(self.errors)
        document["files_digest"] = self.files_digest  # beyond the contract's fields, so after them
        return document

    def to_json(self, weights: Mapping[str, Any] | None = None, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(weights), indent=indent) + "\n"

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], source: str = "<document>") -> DatasetStats:
        """Validate and load a document written by :meth:`to_dict`.

        Raises:
            BadInputError: naming ``source`` and the first problem found.
        """
        if not isinstance(document, Mapping):
            raise BadInputError(source, "not a segstats JSON document (expected an object)")
        if document.get("schema_version") != SCHEMA_VERSION:
            raise BadInputError(
                source,
                f"unsupported schema_version {document.get('schema_version')!r} (expected {SCHEMA_VERSION})",
            )
        k = _int_field(document, "num_classes", source)
        if k < 1:
            raise BadInputError(source, f"num_classes must be at least 1, got {k}")
        ignore = document.get("ignore_index")
        if ignore is not None and (not isinstance(ignore, int) or isinstance(ignore, bool)):
            raise BadInputError(source, f"ignore_index must be an integer or null, got {ignore!r}")
        arrays = {name: _int_list(document, name, k, source) for name in SUMMED_ARRAYS}
        names = document.get("class_names")
        if names is not None and (
            not isinstance(names, list) or len(names) != k or not all(isinstance(n, str) for n in names)
        ):
            raise BadInputError(source, f"class_names must be null or a list of {k} strings")
        errors = document.get("errors", [])
        if not isinstance(errors, list):
            raise BadInputError(source, "errors must be a list")
        digest = document.get("files_digest", "")  # absent in documents of segstats 0.1
        if not isinstance(digest, str) or (digest and not re.fullmatch(r"[0-9a-f]{64}", digest)):
            raise BadInputError(source, "files_digest must be 64 hexadecimal digits or empty")
        _check_consistent(document, arrays, source)
        return cls(
            num_classes=k,
            ignore_index=ignore,
            num_images=_int_field(document, "num_images", source),
            total_pixels=_int_field(document, "total_pixels", source),
            ignored_pixels=_int_field(document, "ignored_pixels", source),
            class_names=names,
            errors=[dict(e) for e in errors],
            pixel_counts=arrays["pixel_counts"],
            image_counts=arrays["image_counts"],
            image_pixels=arrays["image_pixels"],
            files_digest=digest,
        )

    @classmethod
    def from_json(cls, text: str, source: str = "<json>") -> DatasetStats:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInputError(source, f"invalid JSON: {exc}") from exc
        return cls.from_dict(document, source)

    @classmethod
    def load(cls, path: str) -> DatasetStats:
        """Read a stats document from ``path``."""
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            from segstats.errors import describe_os_error

            raise BadInputError(path, describe_os_error(exc)) from exc
        except UnicodeDecodeError as exc:
            raise BadInputError(path, "not a UTF-8 text file") from exc
        return cls.from_json(text, path)


def _int_field(document: Mapping[str, Any], name: str, source: str) -> int:
    value = document.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadInputError(source, f"{name} must be a non-negative integer, got {value!r}")
    return value


def _int_list(document: Mapping[str, Any], name: str, k: int, source: str) -> IntArray:
    values = document.get(name)
    if (
        not isinstance(values, list)
        or len(values) != k
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values)
    ):
        raise BadInputError(source, f"{name} must be a list of {k} non-negative integers")
    return np.asarray(values, dtype=np.int64)


def _check_consistent(document: Mapping[str, Any], arrays: Mapping[str, IntArray], source: str) -> None:
    """Refuse counts that no scan can produce (they would give NaN or inf weights)."""
    pixels, images, image_pixels = (arrays[name] for name in SUMMED_ARRAYS)
    num_images, total, ignored = (_int_field(document, name, source) for name in SUMMED_SCALARS)
    problems = [
        ("pixel_counts[c] > 0 exactly when image_counts[c] > 0", (pixels > 0) == (images > 0)),
        ("pixel_counts[c] <= image_pixels[c]", pixels <= image_pixels),
        ("image_counts[c] <= num_images", images <= num_images),
    ]
    for rule, ok in problems:
        if not ok.all():
            raise BadInputError(source, f"inconsistent counts: {rule} fails for class {int(np.argmin(ok))}")
    if int(pixels.sum()) + ignored > total:
        raise BadInputError(source, "inconsistent counts: sum(pixel_counts) + ignored_pixels > total_pixels")


def ordered_counts(counts: Mapping[str, int]) -> dict[str, int]:
    """``counts`` most common first, ties by key: the same order whatever order the sums came in."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def merge_stats(parts: Sequence[DatasetStats], sources: Sequence[str] | None = None) -> DatasetStats:
    """Add documents of the same label space (e.g. shards scanned on different machines).

    Raises:
        BadInputError: documents whose ``num_classes`` or ``ignore_index`` differ, or
            that cover the same files (a shared ``files_sha256`` digest).
    """
    if not parts:
        raise ValueError("merge_stats needs at least one DatasetStats")
    names = list(sources) if sources is not None else [f"document {i}" for i in range(len(parts))]
    first = parts[0]
    owner: dict[str, str] = {}
    for part, name in zip(parts, names, strict=True):
        if part.files_digest in owner:
            raise BadInputError(
                name,
                f"covers the same files as {owner[part.files_digest]} (file list digest "
                f"{part.files_digest[:12]}...); merging them would count every file twice",
            )
        if part.files_digest:
            owner[part.files_digest] = name
    for part, name in zip(parts[1:], names[1:], strict=True):
        if part.num_classes != first.num_classes:
            raise BadInputError(
                name,
                f"num_classes {part.num_classes} differs from {first.num_classes} in {names[0]}",
            )
        if part.ignore_index != first.ignore_index:
            raise BadInputError(
                name,
                f"ignore_index {part.ignore_index} differs from {first.ignore_index} in {names[0]}",
            )
        if (
            part.class_names is not None
            and first.class_names is not None
            and (part.class_names != first.class_names)
        ):
            raise BadInputError(name, f"class_names differ from those in {names[0]}")
    class_names = next((p.class_names for p in parts if p.class_names is not None), None)
    sizes: dict[str, int] = {}
    modes: dict[str, int] = {}
    for part in parts:
        for key, count in part.image_sizes.items():
            sizes[key] = sizes.get(key, 0) + count
        for key, count in part.image_modes.items():
            modes[key] = modes.get(key, 0) + count
    return DatasetStats(
        num_classes=first.num_classes,
        ignore_index=first.ignore_index,
        num_images=sum(p.num_images for p in parts),
        total_pixels=sum(p.total_pixels for p in parts),
        ignored_pixels=sum(p.ignored_pixels for p in parts),
        pixel_counts=sum((p.pixel_counts for p in parts), np.zeros(first.num_classes, np.int64)),
        image_counts=sum((p.image_counts for p in parts), np.zeros(first.num_classes, np.int64)),
        image_pixels=sum((p.image_pixels for p in parts), np.zeros(first.num_classes, np.int64)),
        class_names=class_names,
        errors=sorted((e for p in parts for e in p.errors), key=lambda e: e["path"]),  # as scan does
        image_sizes=ordered_counts(sizes),
        image_modes=ordered_counts(modes),
        files_digest=_add_digests(p.files_digest for p in parts),
    )


# Digests are sums modulo 2**256 of per-file SHA-256 values: a set's digest is the sum over
# its files, so the digest of disjoint shards adds up to the digest of the whole scan.
DIGEST_MODULUS = 1 << 256


def file_list_digest(paths: Iterable[str]) -> str:
    """The digest of a set of files (as the scan names them); ``""`` for none."""
    total, seen = 0, False
    for path in set(paths):
        total += int.from_bytes(hashlib.sha256(path.encode("utf-8", "surrogateescape")).digest(), "big")
        seen = True
    return f"{total % DIGEST_MODULUS:064x}" if seen else ""


def _add_digests(digests: Iterable[str]) -> str:
    parts = [int(d, 16) for d in digests if d]
    return f"{sum(parts) % DIGEST_MODULUS:064x}" if parts else ""


def is_finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
