"""Package surface: light imports and runnable docstring examples."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

MODULES = ["__init__", "_weights", "cross_entropy", "focal", "dice", "lovasz", "ohem", "combo"]
ROOT = Path(__file__).resolve().parents[2]


def test_import_needs_no_cli_stack():
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import segstats.losses; "
        "bad = [m for m in ('joblib', 'rich', 'typer', 'segstats.cli') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module("segstats.losses" if name == "__init__" else f"segstats.losses.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
