"""The progress bar names the phase, counts epochs from 1 of N, and hides the logger's v_num."""
from __future__ import annotations

from types import SimpleNamespace

from headstart.engine.progress_bar import PhaseProgressBar


def test_epoch_is_counted_from_one_of_n() -> None:
    bar = PhaseProgressBar("head")
    bar._trainer = SimpleNamespace(max_epochs=1)
    assert bar._get_train_description(0).strip() == "head epoch 1/1"
    bar._trainer = SimpleNamespace(max_epochs=5)
    assert bar._get_train_description(4).strip() == "head epoch 5/5"


def test_v_num_is_not_shown(monkeypatch) -> None:
    from lightning.pytorch.callbacks import RichProgressBar

    monkeypatch.setattr(RichProgressBar, "get_metrics", lambda self, t, m: {"v_num": "phase0", "train_loss": 0.5})
    assert PhaseProgressBar("finetune").get_metrics(None, None) == {"train_loss": 0.5}
