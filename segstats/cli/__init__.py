"""The ``segstats`` command line: thin Typer commands over the library.

Data goes to stdout, everything for humans to stderr. Layout:

- ``_app.py``: the app, the command table ``COMMANDS``, the one mapper from
  exceptions to a one-line message and an exit code (``report_errors``), ``main``;
- ``_common.py``: every shared option, defined once (``NumClassesOpt``, ...), the
  option groups ``LabelArgs`` / ``ReadArgs``, and ``scan_labels``, the scan every
  label-reading command runs (``segstats.api.plan_files`` + ``segstats.api.scan``);
- ``_console.py``: stderr messages, the progress bar, ``plural``;
- one module per command: ``weights.py``, ``scan.py``, ``merge.py``, ``audit.py``.
"""

from __future__ import annotations

from segstats.cli._app import app, main
from segstats.errors import EXIT_BAD_INPUT

__all__ = ["EXIT_BAD_INPUT", "app", "main"]
