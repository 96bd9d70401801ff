"""cross_entropy / CrossEntropyLoss: the same numbers as F.cross_entropy."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import segstats.losses as L


def test_closed_form(logits_for):
    x = logits_for([[0.25, 0.75], [0.5, 0.5]])
    y = torch.tensor([[1, 0]])
    expected = (2 * -math.log(0.75) + 1 * math.log(2)) / 3
    assert L.cross_entropy(x, y, weight=[1.0, 2.0]).item() == pytest.approx(expected)
    assert L.cross_entropy(x, y, reduction="sum").item() == pytest.approx(-math.log(0.75) + math.log(2))


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_torch(label_smoothing, reduction):
    x = torch.randn(3, 5, 4, 6, dtype=torch.float64)
    y = torch.randint(0, 5, (3, 4, 6))
    y[0, :2] = 255
    w = torch.rand(5, dtype=torch.float64) + 0.1
    ours = L.CrossEntropyLoss(
        weight=w, ignore_index=255, label_smoothing=label_smoothing, reduction=reduction
    )(x, y)
    ref = F.cross_entropy(
        x, y, weight=w, ignore_index=255, label_smoothing=label_smoothing, reduction=reduction
    )
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


def test_errors():
    x = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match=r"\(2, 4\).*got \(2, 5\)"):
        L.cross_entropy(x, torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="integer class indices"):
        L.cross_entropy(x, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="reduction"):
        L.cross_entropy(x, torch.zeros(2, 4, dtype=torch.long), reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        L.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="target contains 7"):
        L.cross_entropy(x, torch.full((2, 4), 7))
    with pytest.raises(ValueError, match="label_smoothing"):
        L.cross_entropy(x, torch.zeros(2, 4, dtype=torch.long), label_smoothing=2.0)
    with pytest.raises(ValueError, match=r"shape \(N, C, \*spatial\)"):
        L.cross_entropy(torch.randn(3), torch.zeros(3, dtype=torch.long))


def test_ignore_index_none_means_nothing_is_ignored():
    # None is the Dice family's default and what a config writes for "no void label";
    # F.cross_entropy only takes an int, so cross_entropy raised TypeError and
    # ComboLoss(ignore_index=None) with a CE term could not be used at all.
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 4, 5))
    w = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    for reduction in ("mean", "sum", "none"):
        torch.testing.assert_close(
            L.CrossEntropyLoss(weight=w, ignore_index=None, reduction=reduction)(x, y),
            F.cross_entropy(x, y, weight=w, reduction=reduction),
        )
    combo = L.ComboLoss({"ce": 1.0, "dice": 1.0}, weight=w, ignore_index=None)
    torch.testing.assert_close(combo(x, y), F.cross_entropy(x, y, weight=w) + L.dice_loss(x, y, weight=w))
    with pytest.raises(ValueError, match="target contains -100"):
        L.cross_entropy(x, torch.full((2, 4, 5), -100), ignore_index=None)
