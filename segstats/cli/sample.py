"""``segstats sample``: one sampling weight per image on stdout (one JSON array), optionally a file."""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from segstats.choices import SampleMethod
from segstats.cli._common import (
    FileListArgs,
    LabelArgs,
    PathsArg,
    ReadArgs,
    SkipStrictOpt,
    choice_option,
    exit_if_strict,
    refuse_no_paths,
    require_output_extras,
    scan_labels,
)
from segstats.cli._console import Messages, plural
from segstats.sampling_methods import (
    DEFAULT_MIN_PIXELS,
    DEFAULT_TEMPERATURE,
    DEFAULT_THRESHOLD,
    METHOD_HELP,
    RARE_CLASS_MIN_PIXELS,
)

if TYPE_CHECKING:
    from segstats.reduce import FileCounts
    from segstats.table import ImageRow

SampleMethodOpt = Annotated[
    str,
    choice_option(
        SampleMethod,
        "--method",
        "-m",
        lead="How images are weighted",
        notes={method.value: text for method, text in METHOD_HELP.items()},
    ),
]
ThresholdOpt = Annotated[
    float | None,
    typer.Option(
        "--threshold",
        help=f"repeat-factor's t: classes in fewer than this share of the images are repeated "
        f"(default {DEFAULT_THRESHOLD}).",
        show_default=False,
    ),
]
TemperatureOpt = Annotated[
    float | None,
    typer.Option(
        "--temperature",
        help=f"rare-class's T > 0: the smaller, the more often rare classes are drawn "
        f"(default {DEFAULT_TEMPERATURE}).",
        show_default=False,
    ),
]
MinPixelsOpt = Annotated[
    int | None,
    typer.Option(
        "--min-pixels",
        help=f"Pixels a class needs in an image to count there (default {DEFAULT_MIN_PIXELS}; "
        f"{RARE_CLASS_MIN_PIXELS} for rare-class).",
        show_default=False,
    ),
]
SampleOutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="Also write FILE: .json (paths and weights), .csv (path,weight), .pt (float64 tensor), .npy.",
    ),
]
FromPerImageOpt = Annotated[
    str | None,
    typer.Option(
        "--from-per-image",
        help="Weights from a table written by --per-image (.jsonl, .csv, .parquet); read no image.",
    ),
]


class CollectedRows:
    """The per-image counts a scan streams, kept compactly (flat int arrays, one path string
    an image, no object per image) and given back as table rows, in the scan's order."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.sizes = array("q")  # width, height, ignored pixels, number of classes: 4 an image
        self.class_ids = array("q")
        self.class_pixels = array("q")

    def add(self, chunk: list[FileCounts]) -> None:
        """``segstats.scan(on_rows=...)``: called with each chunk, in sorted path order."""
        from segstats.table.rows import shown_path

        for item in chunk:
            ids = item.counts.class_ids.tolist()
            self.paths.append(shown_path(item.path))  # as the per-image table names it
            self.sizes.extend((item.width, item.height, int(item.counts.ignored_pixels), len(ids)))
            self.class_ids.extend(ids)
            self.class_pixels.extend(item.counts.class_pixels.tolist())

    def rows(self) -> Iterator[ImageRow]:
        import numpy as np

        from segstats.table import ImageRow

        ids = np.frombuffer(self.class_ids, dtype=np.int64) if self.class_ids else np.zeros(0, np.int64)
        pixels = np.frombuffer(self.class_pixels, dtype=np.int64) if self.class_pixels else ids
        start = 0
        for index, path in enumerate(self.paths):
            width, height, ignored, count = self.sizes[4 * index : 4 * index + 4]
            stop = start + count
            yield ImageRow(path, width, height, ignored, ids[start:stop], pixels[start:stop])
            start = stop


def sample_command(
    paths: PathsArg = None,
    *,
    method: SampleMethodOpt = "repeat-factor",
    threshold: ThresholdOpt = None,
    temperature: TemperatureOpt = None,
    min_pixels: MinPixelsOpt = None,
    from_per_image: FromPerImageOpt = None,
    output: SampleOutputOpt = None,
    labels: LabelArgs,
    read: ReadArgs,
    file_list: FileListArgs,
    strict: SkipStrictOpt = False,
    messages: Messages,
) -> None:
    """Compute one sampling weight per image: one JSON array on stdout, in sorted path order.

    For torch's WeightedRandomSampler, or as repeat factors.

    Example: segstats sample ./labels --num-classes 19 --ignore-index 255 -o weights.json

    Example: segstats sample --from-per-image rows.jsonl --method rare-class --temperature 0.01
    """
    from segstats.errors import UsageError
    from segstats.sampling import compute_sampling, render_sampling, sample_format_for, sampling_options

    options: dict[str, Any] = {"threshold": threshold, "temperature": temperature, "min_pixels": min_pixels}
    sampling_options(method, **options)  # refuse bad options before reading anything
    if output is not None:  # refuse a bad suffix, or .pt without torch, before reading anything
        require_output_extras(output, sample_format_for(output))
    stats = None
    if from_per_image is not None:
        if paths or file_list.given:
            raise UsageError("give either label PATHs (or --files-from) or --from-per-image, not both")
        if labels != LabelArgs() or read != ReadArgs():
            raise UsageError(
                "label and reading options apply when reading label images, not with "
                "--from-per-image (the table is counted already)"
            )
        result = compute_sampling(from_per_image, method, **options)
        messages.info(f"read {plural(len(result.paths), 'image')} from {from_per_image}")
    else:
        refuse_no_paths(paths, file_list, " or --from-per-image TABLE")
        if read.shard is not None:  # n_c and N are the whole dataset's: a shard's weights are others
            raise UsageError(
                "--shard does not apply to sample: the weights depend on every image "
                "(sample --from-per-image a table of the whole dataset instead)"
            )
        collected = CollectedRows()
        stats = scan_labels(
            messages, paths, labels, read, file_list=file_list, refuse_empty=True, on_rows=collected.add
        )
        result = compute_sampling(collected.rows(), method, **options)
    if output is not None:
        from segstats.sampling import write_sampling

        written = write_sampling(output, result)
        messages.info(f"wrote {output} ({written})")
    typer.echo(render_sampling(result, "list").decode(), nl=False)
    if stats is not None:
        exit_if_strict(strict, stats)
