"""OHEM cross entropy."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import segstats.losses as L

# true-class probabilities 0.75, 0.25, 0.5
PROBS = [[0.75, 0.25], [0.25, 0.75], [0.5, 0.5]]
Y = torch.tensor([[0, 0, 1]])
LN = [math.log(4 / 3), math.log(4), math.log(2)]


def test_closed_form(logits_for):
    x = logits_for(PROBS)
    f = L.ohem_cross_entropy
    assert f(x, Y, threshold=0.7, min_kept=0).item() == pytest.approx((LN[1] + LN[2]) / 2)
    assert f(x, Y, threshold=0.7, min_kept=3).item() == pytest.approx(sum(LN) / 3)
    assert f(x, Y, threshold=0.3, min_kept=2).item() == pytest.approx((LN[1] + LN[2]) / 2)
    assert f(x, Y, threshold=0.3, min_kept=0).item() == pytest.approx(LN[1])
    assert f(x, Y, top_k=1 / 3, min_kept=0).item() == pytest.approx(LN[1])
    assert f(x, Y, top_k=0.5, min_kept=0).item() == pytest.approx((LN[1] + LN[2]) / 2)
    assert f(x, Y, threshold=0.7, min_kept=0, weight=[1.0, 2.0]).item() == pytest.approx(
        (LN[1] + 2 * LN[2]) / 3
    )
    none = f(x, Y, threshold=0.7, min_kept=0, reduction="none")
    torch.testing.assert_close(none, torch.tensor([[0.0, LN[1], LN[2]]], dtype=torch.float64))
    y_ign = torch.tensor([[0, 255, 1]])
    assert f(x, y_ign, ignore_index=255, threshold=0.0, min_kept=1).item() == pytest.approx(LN[2])


def test_keep_everything_is_cross_entropy():
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    y = torch.randint(0, 4, (2, 5, 5))
    w = torch.rand(4, dtype=torch.float64)
    ours = L.OhemCrossEntropyLoss(weight=w, threshold=1.0, min_kept=0)(x, y)
    torch.testing.assert_close(ours, F.cross_entropy(x, y, weight=w))


def test_errors():
    with pytest.raises(ValueError, match="threshold"):
        L.OhemCrossEntropyLoss(threshold=1.5)
    with pytest.raises(ValueError, match="top_k"):
        L.OhemCrossEntropyLoss(top_k=0.0)
    with pytest.raises(ValueError, match="min_kept"):
        L.OhemCrossEntropyLoss(min_kept=-1)
