"""Fixtures for the losses tests; the tests run against this checkout's segstats."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _logits_for(probs: list[list[float]]) -> torch.Tensor:
    """Logits ``(1, C, P)`` whose softmax over C is ``probs`` (P pixels x C classes)."""
    p = torch.tensor(probs, dtype=torch.float64)
    return p.log().T.unsqueeze(0).contiguous()


@pytest.fixture
def logits_for():
    """Build float64 logits from hand-written probabilities (see ``_logits_for``)."""
    return _logits_for
