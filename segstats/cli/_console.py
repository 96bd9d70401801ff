"""Everything for humans, on stderr: messages, the progress bar, counted nouns."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from segstats.errors import printable

if TYPE_CHECKING:
    from rich.console import Console


class Messages:
    """Everything for humans, on stderr. ``quiet`` keeps only errors.

    Every text is passed through :func:`segstats.errors.printable` here, the one
    place all messages (the error mapper's too) go through: file names and bytes
    from files never reach the terminal as control sequences.

    The rich console is made on the first message: a ``--quiet`` run that succeeds
    prints nothing and never imports rich.
    """

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.no_color = bool(os.environ.get("NO_COLOR"))

    @functools.cached_property
    def console(self) -> Console:
        from rich.console import Console  # here, not at import: see the class docstring

        return Console(stderr=True, no_color=self.no_color, highlight=False, soft_wrap=True)

    def info(self, text: str) -> None:
        if not self.quiet:
            self.console.print(printable(text), markup=False)

    def note(self, text: str) -> None:
        self.info(f"note: {text}")

    def warn(self, text: str) -> None:
        if not self.quiet:
            self.console.print(f"[yellow]warning:[/yellow] {markup_free(printable(text))}")

    def error(self, text: str) -> None:
        self.console.print(f"[bold red]error:[/bold red] {markup_free(printable(text))}")


def markup_free(text: str) -> str:
    r"""``text`` shown as written where rich reads markup (``segstats[plot]`` keeps its
    ``[plot]``): rich's ``escape``, imported only when there is something to escape, so that
    the CLI's help texts (built at import) cost no rich import.

    >>> markup_free("no brackets"), markup_free("segstats[plot]")
    ('no brackets', 'segstats\\[plot]')
    """
    if "[" not in text and not text.endswith("\\"):  # rich's escape changes no other text
        return text
    from rich.markup import escape

    return escape(text)


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``"1 file"``, ``"2 files"``, ``"1,024 files"``: the count with its noun agreeing.

    >>> plural(1, "document"), plural(3, "document"), plural(1000, "image")
    ('1 document', '3 documents', '1,000 images')
    """
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"


@contextmanager
def progress_bar(messages: Messages, total: int) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr when it is a terminal; otherwise nothing (None)."""
    if messages.quiet or not messages.console.is_terminal or total == 0:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=messages.console,
        transient=True,
    ) as bar:
        task = bar.add_task("scan", total=total)
        yield lambda done: bar.advance(task, done)
