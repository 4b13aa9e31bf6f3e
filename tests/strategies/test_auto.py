"""``auto``: the rules as a pure function, and one tiny end-to-end run that reuses the probe's features."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from headstart.strategies.auto import (
    LARGE_PER_CLASS,
    MIN_PER_CLASS_TO_FINETUNE,
    AutoDecision,
    AutoFacts,
    decide,
    epochs_that_fit,
)


def facts(**overrides) -> AutoFacts:
    base = dict(modality="image", num_classes=4, min_per_class=500, probe_cv_accuracy=0.8, probe_seconds=1.0)
    return AutoFacts(**{**base, **overrides})


def test_small_data_or_no_headroom_means_feature_extraction() -> None:
    assert decide(facts(min_per_class=MIN_PER_CLASS_TO_FINETUNE - 1), 5).strategy == "feature-extraction"
    assert decide(facts(probe_cv_accuracy=0.99), 5).strategy == "feature-extraction"
    assert decide(facts(probe_cv_accuracy=None, min_per_class=1), 5).strategy == "feature-extraction"


def test_enough_data_and_headroom_means_lp_ft_or_lora() -> None:
    image = decide(facts(), 5)
    assert image.strategy == "two-phase" and image.epochs == 5 and "LP-FT" in image.reasons
    assert decide(facts(modality="text", lora_capable=True), 5).strategy == "lora"
    assert decide(facts(modality="text", lora_capable=False), 5).strategy == "two-phase"


def test_weak_probe_with_lots_of_data_means_full_fine_tuning() -> None:
    weak = facts(probe_cv_accuracy=0.5, min_per_class=LARGE_PER_CLASS)  # 4 classes: half-way mark is 0.625
    assert decide(weak, 3).strategy == "fine-tune"
    assert decide(facts(probe_cv_accuracy=0.5, min_per_class=LARGE_PER_CLASS - 1), 3).strategy == "two-phase"


def test_time_budget_sizes_the_epochs_or_falls_back_to_the_head() -> None:
    timed = dict(seconds_per_step=0.5, steps_per_epoch=40, spent_s=10.0)  # 25 s per epoch with the 1.25 margin
    # 115 s - 10 spent - 5 to finish (model, report) = 100 s: 4 epochs
    assert epochs_that_fit(facts(budget_s=115.0, **timed), 5) == 4
    # a final evaluation of 30 batches at a third of a step each (5 s) leaves 95 s: 3 epochs
    assert epochs_that_fit(facts(budget_s=115.0, val_steps=30, **timed), 5) == 3
    decision = decide(facts(budget_s=115.0, **timed), 5)
    assert decision.strategy == "two-phase" and decision.epochs == 4 and "4 epoch(s) fit" in decision.reasons
    assert decide(facts(budget_s=20.0, **timed), 5).strategy == "feature-extraction"
    assert epochs_that_fit(facts(), 7) == 7  # no budget: the configured epochs


def test_without_a_budget_the_timed_steps_give_an_estimate() -> None:
    decision = decide(facts(seconds_per_step=0.5, steps_per_epoch=40), 5)  # 5 x 40 x 0.5 s x 1.25 = 125 s
    assert decision.strategy == "two-phase" and decision.epochs == 5
    assert "about 2 min (5 epoch(s) of 40 steps at 0.50 s)" in decision.reasons and "--time-budget" in decision.reasons


def test_decision_round_trips_through_json() -> None:
    decision = decide(facts(), 5)
    again = AutoDecision.from_dict(json.loads(json.dumps(decision.to_dict())))
    assert again.to_dict() == decision.to_dict()


def test_auto_run_extracts_once_and_records_its_reasoning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
    from test_feature_cache import make_images

    import headstart.engine.feature_cache as feature_cache
    from headstart.config import RunConfig
    from headstart.runner import train_run

    calls = []
    real = feature_cache.extract_features
    monkeypatch.setattr(feature_cache, "extract_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    images = make_images(tmp_path / "images", per_class=6, val_per_class=3)
    config = RunConfig(data=str(images), model="tinycnn", weights="none", batch_size=8, num_workers=0,
                       accelerator="cpu", devices=1, precision="32-true", output_dir=str(tmp_path), name="run")
    result = train_run(config)
    assert len(calls) == 2  # train + val features, once: the head phase reused the probe's extraction
    auto = result.metrics["auto"]
    assert auto["strategy"] == "feature-extraction" and "smallest class has 6" in auto["reasons"]
    model_json = json.loads((result.run_dir / "model.json").read_text())
    assert model_json["auto"]["reasons"] == auto["reasons"] and model_json["strategy"] == "feature-extraction"
    assert [e["phase"] for e in result.metrics["epochs"]] == ["head"]


def test_auto_lora_starts_from_the_probe_head_and_reloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "text"))
    from test_text_training import write_reviews

    import headstart.strategies.auto as auto
    from headstart.config import RunConfig
    from headstart.export.predictor import Predictor
    from headstart.runner import train_run

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # tiny data would never pick LoRA: force the rule's answer, keep everything around it real
    monkeypatch.setattr(auto, "decide", lambda facts, epochs: AutoDecision("lora", 1, "lora: forced by the test.", facts))
    data = write_reviews(tmp_path / "reviews.csv")
    config = RunConfig(data=str(data), model="tinybert", weights="none", text_column="review", label_column="sentiment", batch_size=8,
                       num_workers=0, accelerator="cpu", devices=1, precision="32-true", output_dir=str(tmp_path), name="run")
    result = train_run(config)
    model_json = json.loads((result.run_dir / "model.json").read_text())
    assert model_json["strategy"] == "lora" and model_json["lora"] and model_json["auto"]["strategy"] == "lora"
    assert [e["phase"] for e in result.metrics["epochs"]] == ["lora"]
    predictor = Predictor.from_run(result.run_dir)
    assert len(predictor.predict(["a great superb movie"], top_k=1)) == 1


def test_timing_steps_leaves_the_run_as_it_was(tmp_path: Path) -> None:
    """Timing trains nothing and draws nothing: weights, modes, flags and every random stream are restored
    (else an auto run with a budget would train unlike the same strategy forced, and unlike its resume)."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
    from test_feature_cache import datamodule, make_images, tiny_model

    from headstart.strategies.auto import time_finetune_step

    model, dm = tiny_model(), datamodule(make_images(tmp_path / "images", per_class=8))
    model.batchnorm_stats = "frozen"
    for p in model.head.parameters():
        p.requires_grad_(False)
    model.eval()
    before = ({k: v.clone() for k, v in model.state_dict().items()}, [p.requires_grad for p in model.parameters()],
              [m.training for m in model.modules()], torch.random.get_rng_state(), dm._generator.get_state())
    assert time_finetune_step(model, dm, steps=2) > 0
    after = (model.state_dict(), [p.requires_grad for p in model.parameters()], [m.training for m in model.modules()],
             torch.random.get_rng_state(), dm._generator.get_state())
    assert all(torch.equal(v, after[0][k]) for k, v in before[0].items())
    assert before[1:3] == after[1:3]
    assert torch.equal(before[3], after[3]) and torch.equal(before[4], after[4])
