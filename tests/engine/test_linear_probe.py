"""The converged head: optimal for its objective, CV on training items only, folded into nn.Linear."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from headstart.engine.linear_probe import ProbeOptions, fit_head, fit_linear_probe, fit_logistic, item_folds
from headstart.heads import build_head


def blobs(n_per_class: int = 40, classes: int = 3, dim: int = 16, seed: int = 0, spread: float = 1.5, noise_seed: int = 0):
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(seed)) * spread
    y = torch.arange(classes).repeat_interleave(n_per_class)
    x = centres[y] + torch.randn(len(y), dim, generator=torch.Generator().manual_seed(1000 + noise_seed))
    return x * 3 + 5, y  # not standardised: the probe must handle scale and offset


def test_lbfgs_reaches_sklearns_optimum_for_the_same_l2() -> None:
    sklearn = pytest.importorskip("sklearn.linear_model")
    x, y = blobs()
    z = ((x - x.mean(0)) / x.std(0)).double()
    l2 = 1e-2
    w, b, _ = fit_logistic(z, y, 3, l2, ProbeOptions(max_iter=500))
    # sklearn minimises sum(loss) + ||w||^2 / (2C): the same optimum when C = 1 / (l2 * n)
    ref = sklearn.LogisticRegression(C=1 / (l2 * len(y)), tol=1e-10, max_iter=5000).fit(z.numpy(), y.numpy())
    ref_w = torch.from_numpy(ref.coef_)
    # multinomial logits are defined up to a per-row shift: compare centred weights
    assert torch.allclose(w - w.mean(0), ref_w - ref_w.mean(0), atol=2e-3)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_probe_matches_logistic_regression_cv_accuracy_on_held_out_data() -> None:
    sklearn = pytest.importorskip("sklearn.linear_model")
    x, y = blobs(seed=1, spread=0.6)
    xv, yv = blobs(seed=1, spread=0.6, n_per_class=100, noise_seed=1)  # same centres, fresh noise
    w, b, result = fit_linear_probe(x, y, 3)
    ours = float(((xv @ w.T + b).argmax(1) == yv).float().mean())
    ref = sklearn.LogisticRegressionCV(Cs=10, cv=5, max_iter=2000, scoring="accuracy").fit(x.numpy(), y.numpy()).score(xv.numpy(), yv.numpy())
    assert ours >= ref - 0.02
    assert result.l2 in ProbeOptions().l2_grid and result.cv_accuracy is not None and len(result.grid) == len(ProbeOptions().l2_grid)


def test_folds_are_stratified_and_split_views_by_item() -> None:
    y = torch.tensor([0] * 10 + [1] * 5)
    folds = item_folds(y, 5, seed=3)
    for k in range(5):
        assert int(((folds == k) & (y == 0)).sum()) == 2 and int(((folds == k) & (y == 1)).sum()) == 1
    x, labels = blobs(n_per_class=12, classes=2)
    views = torch.cat([x, x + 0.01])  # 2 views per item
    _, _, result = fit_linear_probe(views, labels, 2, views=2)
    assert result.cv_accuracy is not None and result.train_accuracy > 0.9


def test_fit_head_writes_linear_and_trains_mlp_in_place() -> None:
    x, y = blobs(spread=2.0)
    linear = build_head("linear", x.shape[1], 3)
    result = fit_head(linear, x, y)
    assert result.method == "lbfgs-logistic"
    assert float((linear(x).argmax(1) == y).float().mean()) == pytest.approx(result.train_accuracy)
    mlp = build_head("mlp", x.shape[1], 3, hidden=32)
    result = fit_head(mlp, x, y, options=ProbeOptions(max_epochs=60))
    assert result.method == "adamw-early-stopping" and result.train_accuracy > 0.9


def test_too_few_items_per_class_skips_cv() -> None:
    x, y = blobs(n_per_class=1, classes=2)
    _, _, result = fit_linear_probe(x, y, 2)
    assert result.cv_accuracy is None and result.train_accuracy == 1.0
