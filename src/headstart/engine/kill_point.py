"""Test-only hook: die at a named point of a training run, exactly as ``kill -9`` would.

Why: a run must survive a kill at *any* moment, and the dangerous moments (between two file writes,
at a phase boundary) are too short to hit from outside. With ``HEADSTART_TEST_KILL_AT=LABEL`` (or
``LABEL@N`` for the N-th time the point is passed) the process SIGKILLs itself at that point; no
cleanup, no ``finally``. Unset, which is always the case outside tests, :func:`kill_point` returns
at once. The labels used by the engine:

- ``state-saved``: ``state.json`` was just written at an epoch's end, ``last.ckpt`` not yet.
- ``saved-last.ckpt`` / ``saved-best.ckpt``: a checkpoint file was just written.
- ``phase-weights-saved``: a phase's end weights are written, ``state.json`` does not list it as done yet.
- ``phase-started``: a phase printed its report and is about to train.
- ``train-batch``: a training batch just finished (mid-epoch).
"""
from __future__ import annotations

import os
import signal
from collections import Counter

import lightning as L

ENV = "HEADSTART_TEST_KILL_AT"
_passed: Counter[str] = Counter()


def kill_point(label: str) -> None:
    """SIGKILL this process if ``HEADSTART_TEST_KILL_AT`` names ``label`` (and this is its N-th pass)."""
    target = os.environ.get(ENV)
    if not target:
        return
    name, _, nth = target.partition("@")
    if name != label:
        return
    _passed[label] += 1
    if _passed[label] == int(nth or 1):
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


def kill_callbacks() -> list[L.Callback]:
    """``[KillMidEpoch()]`` when a test asked for ``train-batch``, else nothing (no per-batch cost)."""
    return [KillMidEpoch()] if os.environ.get(ENV, "").partition("@")[0] == "train-batch" else []


class KillMidEpoch(L.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        kill_point("train-batch")
