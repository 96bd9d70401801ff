"""Label sources read from small files: ``--map``, ``--colors`` and ``--class-names``.

- ``--map FILE``: raw pixel value -> class, applied before counting (e.g.
  Cityscapes labelId -> trainId, with 255 for void). A JSON object
  ``{"7": 0, "8": 1, "0": 255}`` or a JSON list of pairs ``[[7, 0], [8, 1]]``.
  Raw values missing from the map are unknown values.
- ``--colors FILE``: RGB colour -> class for colour masks (CamVid style). A JSON
  object ``{"128,64,128": 0}`` (``"#804080"`` is accepted too) or a JSON list of
  pairs ``[[[128, 64, 128], 0], ...]``, or a CSV file ``name,r,g,b`` with one row
  per class in class order (CamVid's ``class_dict.csv``; a header row is skipped).
  Colours missing from it are unknown values. RGBA masks are read as RGB: the
  alpha channel is ignored.
- ``--class-names FILE``: one name per line (blank lines skipped), a JSON list of
  strings, a JSON object ``{"0": "road", "1": "sidewalk"}`` (Hugging Face
  ``id2label``; a whole ``config.json`` holding ``id2label`` works too), or a
  ``name,r,g,b`` CSV file (its first column).

Every loader raises :class:`~segstats.errors.BadInputError` naming the file and
the problem; nothing here prints.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from segstats.errors import BadInputError

# Every unknown-value cause starts with this (decode: colours; histogram: values);
# the audit uses it to tell unknown values from unreadable files.
UNKNOWN_LABEL_PREFIX = "unknown label "
# Largest colour channel value.
CHANNEL_MAX = 255

ColorTable = tuple[tuple[int, int], ...]
_HEX_COLOUR = re.compile(r"#([0-9a-fA-F]{6})")


def pack_rgb(red: int, green: int, blue: int) -> int:
    """``(r, g, b)`` -> the 24-bit integer ``r << 16 | g << 8 | b``."""
    return (red << 16) | (green << 8) | blue


def format_colour(packed: int) -> str:
    """A packed colour as ``(r,g,b)`` for messages."""
    return f"({packed >> 16 & 0xFF},{packed >> 8 & 0xFF},{packed & 0xFF})"


def _class_id(value: Any, what: str, source: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadInputError(source, f"{what}: the class must be a non-negative integer, got {value!r}")
    return value


def parse_colour(key: Any, source: str = "colors") -> int:
    """``"r,g,b"``, ``"#rrggbb"`` or ``[r, g, b]`` -> the packed 24-bit colour."""
    channels: list[Any]
    if isinstance(key, str):
        text = key.strip()
        match = _HEX_COLOUR.fullmatch(text)
        if match:
            return int(match.group(1), 16)
        try:
            channels = [int(part) for part in text.strip("()[] ").split(",")]
        except ValueError:
            raise BadInputError(source, f"colour {key!r} is not 'r,g,b' or '#rrggbb'") from None
    elif isinstance(key, list | tuple):
        channels = list(key)
    else:
        raise BadInputError(source, f"colour {key!r} is not 'r,g,b', '#rrggbb' or [r, g, b]")
    if len(channels) != 3 or not all(
        isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= CHANNEL_MAX for c in channels
    ):
        raise BadInputError(source, f"colour {key!r} must be three integers 0..{CHANNEL_MAX}")
    return pack_rgb(*channels)


def _pairs(document: Any, source: str, what: str) -> list[tuple[Any, Any]]:
    """A JSON object (as its key/value pairs) or a JSON list of 2-item lists."""
    if isinstance(document, _Pairs):
        pairs = list(document)
    elif isinstance(document, list):
        pairs = []
        for item in document:
            if not isinstance(item, list) or len(item) != 2:
                raise BadInputError(source, f"{what} list items must be [key, class] pairs, got {item!r}")
            pairs.append((item[0], item[1]))
    else:
        raise BadInputError(source, f"{what} must be a JSON object or a list of pairs")
    if not pairs:
        raise BadInputError(source, f"{what} is empty")
    return pairs


def _no_conflicts(pairs: Iterable[tuple[int, int]], source: str, show: Any = str) -> dict[int, int]:
    table: dict[int, int] = {}
    for key, value in pairs:
        if key in table and table[key] != value:
            raise BadInputError(source, f"{show(key)} is mapped twice, to {table[key]} and to {value}")
        table[key] = value
    return table


def colour_table(colors: Mapping[Any, int] | Iterable[tuple[Any, int]], source: str = "colors") -> ColorTable:
    """Normalise a colour -> class mapping to sorted ``(packed_rgb, class)`` pairs.

    Keys may be ``(r, g, b)`` tuples, ``"r,g,b"`` / ``"#rrggbb"`` strings or packed ints.
    """
    items = colors.items() if isinstance(colors, Mapping) else colors
    pairs = []
    for key, value in items:
        packed = key if isinstance(key, int) and not isinstance(key, bool) else parse_colour(key, source)
        if not 0 <= packed <= 0xFFFFFF:
            raise BadInputError(source, f"packed colour {key!r} is not a 24-bit RGB value")
        pairs.append((packed, _class_id(value, f"colour {key!r}", source)))
    if not pairs:
        raise BadInputError(source, "the colour map is empty")
    return tuple(sorted(_no_conflicts(pairs, source, format_colour).items()))


def value_map_from(
    mapping: Mapping[Any, int] | Iterable[tuple[Any, int]], source: str = "map"
) -> dict[int, int]:
    """Normalise a raw value -> class mapping (keys may be ints or integer strings)."""
    items = mapping.items() if isinstance(mapping, Mapping) else mapping
    pairs = []
    for key, value in items:
        if isinstance(key, str):
            try:
                raw = int(key.strip())
            except ValueError:
                raise BadInputError(source, f"raw value {key!r} is not an integer") from None
        elif isinstance(key, int) and not isinstance(key, bool):
            raw = key
        else:
            raise BadInputError(source, f"raw value {key!r} is not an integer")
        pairs.append((raw, _class_id(value, f"raw value {key!r}", source)))
    if not pairs:
        raise BadInputError(source, "the value map is empty")
    return _no_conflicts(pairs, source, lambda v: f"raw value {v}")


class _Pairs(list[tuple[Any, Any]]):
    """A JSON object kept as its (key, value) pairs, so duplicate keys are seen."""


def _read_text(path: str) -> str:
    from segstats.errors import describe_os_error

    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise BadInputError(path, describe_os_error(exc)) from exc
    except UnicodeDecodeError:
        raise BadInputError(path, "not a UTF-8 text file") from None


def _read_json(path: str) -> Any:
    text = _read_text(path)
    try:
        return json.loads(text, object_pairs_hook=_Pairs)
    except json.JSONDecodeError as exc:
        raise BadInputError(path, f"invalid JSON: {exc}") from None


def load_value_map(path: str) -> dict[int, int]:
    """Read a ``--map`` file: ``{"raw": class, ...}`` or ``[[raw, class], ...]``."""
    return value_map_from(_pairs(_read_json(path), path, "the value map"), path)


def _is_csv(path: str, text: str) -> bool:
    return path.lower().endswith(".csv") or not text.lstrip().startswith(("{", "["))


def _csv_classes(path: str, text: str) -> list[tuple[str, int]]:
    """``name,r,g,b`` rows -> ``[(name, packed colour)]`` in class order (a header row skipped)."""
    import csv  # here: only class_dict.csv files need it, not every scan's start-up

    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    classes: list[tuple[str, int]] = []
    for number, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        if len(cells) < 4:
            raise BadInputError(path, f"line {number}: expected name,r,g,b, got {','.join(cells)!r}")
        try:
            channels = [int(c) for c in cells[1:4]]
        except ValueError:
            if number == 1:  # the header (name,r,g,b)
                continue
            raise BadInputError(path, f"line {number}: r,g,b must be integers, got {cells[1:4]!r}") from None
        classes.append((cells[0], parse_colour(channels, f"{path}: line {number}")))
    if not classes:
        raise BadInputError(path, "no name,r,g,b rows in the file")
    return classes


def load_colors(path: str) -> ColorTable:
    """Read a ``--colors`` file: a JSON object or list of pairs, or a ``name,r,g,b`` CSV file."""
    text = _read_text(path)
    if _is_csv(path, text):
        return colour_table(
            [(colour, index) for index, (_, colour) in enumerate(_csv_classes(path, text))], path
        )
    return colour_table(_pairs(_read_json(path), path, "the colour map"), path)


def _names_from_object(document: Mapping[str, Any], path: str) -> list[str]:
    """``{"0": "road", ...}`` (or a config holding ``id2label``) -> names in id order, ids 0..K-1."""
    if "id2label" in document and isinstance(document["id2label"], Mapping):
        document = document["id2label"]
    names: dict[int, str] = {}
    for key, name in document.items():
        try:
            index = int(str(key).strip())
        except ValueError:
            raise BadInputError(path, f"class id {key!r} is not an integer") from None
        if not isinstance(name, str):
            raise BadInputError(path, f"the name of class {index} must be a string, got {name!r}")
        if index in names:
            raise BadInputError(path, f"class id {index} appears twice")
        names[index] = name
    missing = sorted(set(range(len(names))) - set(names))
    if missing:
        raise BadInputError(path, f"class ids must be 0..{len(names) - 1}; missing {missing[0]}")
    return [names[i] for i in range(len(names))]


def load_class_names(path: str) -> list[str]:
    """Read a ``--class-names`` file (see the module docstring for the formats)."""
    text = _read_text(path)
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInputError(path, f"invalid JSON: {exc}") from None
        names = _names_from_object(document, path)
    elif path.lower().endswith(".csv"):
        names = [name for name, _ in _csv_classes(path, text)]
    elif stripped.startswith("["):
        try:
            names = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInputError(path, f"invalid JSON: {exc}") from None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise BadInputError(path, "a JSON class-name file must be a list of strings")
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise BadInputError(path, "no class names in the file")
    return names


def check_targets(
    targets: Iterable[int], num_classes: int | None, ignore_index: int | None, flag: str
) -> None:
    """Refuse map targets that are neither a class ``0..K-1`` nor the ignore index.

    Raises:
        UsageError: naming the first bad target and the flag it came from.
    """
    from segstats.errors import UsageError

    if num_classes is None:
        return
    for target in sorted(set(targets)):
        if target != ignore_index and not 0 <= target < num_classes:
            hint = f" (pass --ignore-index {target}?)" if ignore_index is None else ""
            raise UsageError(
                f"{flag} maps to {target}, which is neither a class 0..{num_classes - 1} "
                f"nor the ignore index{hint}"
            )


__all__ = [
    "UNKNOWN_LABEL_PREFIX",
    "ColorTable",
    "check_targets",
    "colour_table",
    "format_colour",
    "load_class_names",
    "load_colors",
    "load_value_map",
    "pack_rgb",
    "parse_colour",
    "value_map_from",
]
