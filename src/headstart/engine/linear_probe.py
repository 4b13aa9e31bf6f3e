"""A head trained to convergence on cached features, in seconds.

Why: once the backbone's features are cached, the head is a small convex problem (linear head:
multinomial logistic regression). A few epochs of minibatch AdamW stop long before its optimum
(the loss is still falling, the head under-confident), while full-batch L-BFGS reaches it in a
second. Its one hyperparameter, the L2 strength, is picked by stratified k-fold cross-validation
(lowest held-out log-loss) on the *training* features only; validation data never chooses anything.

Features are standardised (train mean / std) while solving, so one L2 grid suits every backbone;
the solution is then folded back into the head's ``nn.Linear`` (``W / std``, ``b - W mean / std``),
so the model computes exactly what it computed before and nothing downstream changes.

MLP heads are not convex: they train with AdamW on a held-out 15 % of the training features for
early stopping (patience in epochs on the held-out loss) and keep the best weights.

With ``cache_augment=K`` the training features hold K augmented views per item: folds and the
held-out part split by *item*, so no view of a held-out item is ever trained on.
"""
from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

SMALL_PROBLEM = 1 << 22  # feature elements below which one thread is fastest
DEFAULT_L2_GRID = tuple(10.0 ** e for e in (-6, -5, -4, -3.5, -3, -2.5, -2, -1.5, -1, -0.5, 0))


@dataclass
class ProbeOptions:
    """How a converged head is fitted (defaults are the documented behaviour)."""

    folds: int = 5
    l2_grid: tuple[float, ...] = DEFAULT_L2_GRID
    max_iter: int = 300
    seed: int = 0
    label_smoothing: float = 0.0
    class_weights: torch.Tensor | None = None
    # MLP heads
    holdout_fraction: float = 0.15
    lr: float = 1e-3
    weight_decay: float = 0.01
    max_epochs: int = 300
    patience: int = 15
    batch_size: int = 256


@dataclass
class ProbeResult:
    """What a converged fit chose and reached (recorded in the run's history)."""

    method: str
    l2: float | None
    cv_accuracy: float | None  # mean over folds (linear) or held-out accuracy (mlp)
    cv_loss: float | None
    train_loss: float
    train_accuracy: float
    iterations: int
    seconds: float
    grid: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def _threads_for(x: torch.Tensor):
    """One torch thread for small problems. Why: L-BFGS on a few hundred rows is thousands of tiny
    ops; on a busy 2-core machine, thread hand-offs made them 100x slower (measured: 6.5 s vs 0.03 s)."""
    previous = torch.get_num_threads()
    if x.numel() < SMALL_PROBLEM:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def item_folds(labels: torch.Tensor, folds: int, seed: int = 0) -> torch.Tensor:
    """Fold index per item, stratified by class (each class dealt round-robin after a seeded shuffle)."""
    generator = torch.Generator().manual_seed(seed)
    fold = torch.empty_like(labels)
    for c in labels.unique():
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        fold[idx] = torch.arange(len(idx)) % folds
    return fold


def _rows(items: torch.Tensor, n: int, views: int) -> torch.Tensor:
    """Feature rows of ``items`` when features hold ``views`` blocks of ``n`` rows."""
    return torch.cat([items + v * n for v in range(views)]) if views > 1 else items


def _loss(logits: torch.Tensor, y: torch.Tensor, options: ProbeOptions) -> torch.Tensor:
    weight = options.class_weights.to(logits) if options.class_weights is not None else None
    return F.cross_entropy(logits, y, weight=weight, label_smoothing=options.label_smoothing)


def fit_logistic(x: torch.Tensor, y: torch.Tensor, num_classes: int, l2: float, options: ProbeOptions,
                 init: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Minimise mean cross-entropy + ``l2 / 2 * ||W||^2`` (bias unpenalised) with full-batch L-BFGS.

    Returns ``(W [C, F], b [C], iterations)``; ``init`` warm-starts (the next point on an L2 path).
    """
    w = (init[0].clone() if init else torch.zeros(num_classes, x.shape[1], dtype=x.dtype)).requires_grad_(True)
    b = (init[1].clone() if init else torch.zeros(num_classes, dtype=x.dtype)).requires_grad_(True)
    optimizer = torch.optim.LBFGS([w, b], lr=1, max_iter=options.max_iter, history_size=20,
                                  tolerance_grad=1e-7, tolerance_change=1e-10, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = _loss(x @ w.T + b, y, options) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    iterations = int(optimizer.state[optimizer._params[0]].get("n_iter", 0))
    return w.detach(), b.detach(), iterations


def fit_linear_probe(features: torch.Tensor, labels: torch.Tensor, num_classes: int, views: int = 1,
                     options: ProbeOptions | None = None) -> tuple[torch.Tensor, torch.Tensor, ProbeResult]:
    """Converged multinomial logistic regression on ``features`` (``views`` blocks of ``len(labels)`` rows).

    L2 is chosen by stratified k-fold CV on these features: the lowest mean held-out log-loss (a
    proper scoring rule: smooth where fold accuracies on a few hundred items tie or jump by one
    item, and it gives calibrated heads). Measured against highest CV accuracy on three sets: equal
    or better validation accuracy on each (docs/quality.md). Returns ``(W, b, result)`` in the
    *raw* feature space.
    """
    options = options or ProbeOptions()
    start = time.perf_counter()
    with torch.enable_grad(), _threads_for(features):
        x = features.detach().to(torch.float64)
        n = labels.shape[0]
        y_items = labels.detach().long().cpu()
        y = y_items.repeat(views) if views > 1 else y_items
        mean = x.mean(0)
        std = x.std(0).clamp(min=1e-6)
        z = (x - mean) / std
        folds = min(options.folds, int(torch.bincount(y_items).min()))
        grid: list[dict[str, float]] = []
        total_iter = 0
        if folds >= 2 and len(options.l2_grid) > 1:
            fold_of = item_folds(y_items, folds, options.seed)
            accuracy = {l2: 0.0 for l2 in options.l2_grid}
            loss = {l2: 0.0 for l2 in options.l2_grid}
            for k in range(folds):
                train_rows = _rows((fold_of != k).nonzero().flatten(), n, views)
                test_items = (fold_of == k).nonzero().flatten()  # scored on the first (un-augmented or first) view
                init = None
                for l2 in sorted(options.l2_grid, reverse=True):  # strong to weak: warm starts converge fast
                    w, b, it = fit_logistic(z[train_rows], y[train_rows], num_classes, l2, options, init)
                    init, total_iter = (w, b), total_iter + it
                    logits = z[test_items] @ w.T + b
                    accuracy[l2] += float((logits.argmax(1) == y_items[test_items]).double().mean()) / folds
                    loss[l2] += float(F.cross_entropy(logits, y_items[test_items])) / folds
            grid = [{"l2": l2, "cv_accuracy": accuracy[l2], "cv_loss": loss[l2]} for l2 in sorted(options.l2_grid)]
            best = min(grid, key=lambda g: g["cv_loss"])
            l2, cv_accuracy, cv_loss = best["l2"], best["cv_accuracy"], best["cv_loss"]
        else:  # too few items per class to cross-validate: the middle of the grid
            l2, cv_accuracy, cv_loss = sorted(options.l2_grid)[len(options.l2_grid) // 2], None, None
        w, b, it = fit_logistic(z, y, num_classes, l2, options)
        total_iter += it
        logits = z @ w.T + b
        train_loss = float(_loss(logits, y, options))
        train_accuracy = float((logits.argmax(1) == y).double().mean())
    raw_w = w / std
    raw_b = b - raw_w @ mean
    result = ProbeResult("lbfgs-logistic", l2, cv_accuracy, cv_loss, train_loss, train_accuracy, total_iter,
                         round(time.perf_counter() - start, 3), grid)
    return raw_w.float(), raw_b.float(), result


def fit_mlp_head(head: nn.Module, features: torch.Tensor, labels: torch.Tensor, views: int = 1,
                 options: ProbeOptions | None = None) -> ProbeResult:
    """Train ``head`` in place with AdamW, early-stopped on a held-out part of the training items."""
    options = options or ProbeOptions()
    start = time.perf_counter()
    n = labels.shape[0]
    y_items = labels.detach().long().cpu()
    x = features.detach().float()
    y = y_items.repeat(views) if views > 1 else y_items
    folds = max(2, round(1 / options.holdout_fraction))
    held = item_folds(y_items, folds, options.seed) == 0
    if int(torch.bincount(y_items[~held]).min() if (~held).any() else 0) == 0 or not held.any():
        held = torch.zeros_like(held)  # too small to hold anything out: train on all, stop at max_epochs
    train_rows = _rows((~held).nonzero().flatten(), n, views)
    held_items = held.nonzero().flatten()
    optimizer = torch.optim.AdamW(head.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    generator = torch.Generator().manual_seed(options.seed)
    best_loss, best_state, best_epoch, epoch = math.inf, copy.deepcopy(head.state_dict()), 0, 0
    with torch.enable_grad(), _threads_for(x):
        for epoch in range(options.max_epochs):
            head.train()
            order = train_rows[torch.randperm(len(train_rows), generator=generator)]
            for i in range(0, len(order), options.batch_size):
                rows = order[i:i + options.batch_size]
                loss = _loss(head(x[rows]), y[rows], options)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if not len(held_items):
                continue
            head.eval()
            with torch.no_grad():
                held_loss = float(F.cross_entropy(head(x[held_items]), y_items[held_items]))
            if held_loss < best_loss - 1e-6:
                best_loss, best_state, best_epoch = held_loss, copy.deepcopy(head.state_dict()), epoch
            elif epoch - best_epoch >= options.patience:
                break
    if len(held_items):
        head.load_state_dict(best_state)
    head.eval()
    with torch.no_grad():
        held_accuracy = (float((head(x[held_items]).argmax(1) == y_items[held_items]).float().mean())
                         if len(held_items) else None)
        logits = head(x)
        train_loss = float(_loss(logits, y, options))
        train_accuracy = float((logits.argmax(1) == y).float().mean())
    return ProbeResult("adamw-early-stopping", None, held_accuracy, best_loss if len(held_items) else None,
                       train_loss, train_accuracy, epoch + 1, round(time.perf_counter() - start, 3))


def fit_head(head: nn.Module, features: torch.Tensor, labels: torch.Tensor, views: int = 1,
             options: ProbeOptions | None = None) -> ProbeResult:
    """Fit ``head`` (a :class:`~headstart.heads.classifier.ClassifierHead`) to convergence in place."""
    linear = isinstance(getattr(head, "hidden", None), nn.Identity) and isinstance(getattr(head, "fc", None), nn.Linear)
    if not linear:
        return fit_mlp_head(head, features, labels, views, options)
    w, b, result = fit_linear_probe(features, labels, head.fc.out_features, views, options)
    with torch.no_grad():
        head.fc.weight.copy_(w.to(head.fc.weight))
        head.fc.bias.copy_(b.to(head.fc.bias))
    return result
