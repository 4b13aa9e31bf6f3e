"""Experiment loggers: one step axis across phases, LR per group, hyperparameters; MLflow and W&B offline.

One tiny two-phase run logs to every installed logger at once (no network: MLflow writes a local
``file:`` store under the run folder, W&B runs in offline mode).
"""
from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import headstart as hs
from headstart.config import RunConfig, config_from_dict
from headstart.errors import ConfigError

OPTIONAL = [name for name in ("tensorboard", "mlflow", "wandb") if importlib.util.find_spec(name)]


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    pairs = [(Image.fromarray(np.clip(np.array(c) + rng.normal(0, 20, (16, 16, 3)), 0, 255).astype(np.uint8)), name)
             for name, c in (("dark", (40, 40, 40)), ("light", (210, 210, 210))) for _ in range(60)]
    root = tmp_path_factory.mktemp("loggers")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        mp.delenv("WANDB_API_KEY", raising=False)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("WANDB_DIR", str(root))
        run = hs.train(pairs, model="tinycnn", weights="none", image_size=32, batch_size=8, num_workers=0,
                       strategy="two-phase", head_epochs=1, epochs=1, cache_features=False,
                       logger=["csv", *OPTIONAL], output_dir=str(root), name="logged", progress=False)
    return run.run_dir


def _csv_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "logs" / "csv" / "metrics.csv") as fh:
        return list(csv.DictReader(fh))


def test_phases_share_one_continuous_step_axis(logged_run):
    rows = _csv_rows(logged_run)
    val = [(int(r["phase"]), int(r["step"])) for r in rows if r.get("val_loss")]
    assert [p for p, _ in val] == [0, 1]
    assert val[1][1] > val[0][1]  # phase 1 continues after phase 0's steps instead of restarting at 0
    steps = [int(r["step"]) for r in rows]
    by_phase = {p: [int(r["step"]) for r in rows if int(r["phase"]) == p] for p in (0, 1)}
    assert min(by_phase[1]) > max(by_phase[0]), steps


def test_learning_rate_of_every_group_and_hyperparameters_are_logged(logged_run):
    columns = set(_csv_rows(logged_run)[0])
    groups = {c.split("/")[1] for c in columns if c.startswith("lr-")}
    assert {"stem", "head"} <= groups
    hparams = yaml.safe_load((logged_run / "logs" / "csv" / "hparams.yaml").read_text())
    assert hparams["strategy"] == "two-phase" and hparams["model"] == "tinycnn"


@pytest.mark.skipif("mlflow" not in OPTIONAL, reason="mlflow is not installed (pip install 'headstart[mlflow]')")
def test_mlflow_offline_file_store_holds_one_run_with_both_phases(logged_run):
    import json

    from mlflow.tracking import MlflowClient

    run_id = json.loads((logged_run / "logs" / "loggers.json").read_text())["mlflow"]
    client = MlflowClient(tracking_uri=(logged_run / "logs" / "mlruns").as_uri())
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.params["strategy"] == "two-phase"
    history = client.get_metric_history(run_id, "val_loss")
    assert len(history) == 2 and history[1].step > history[0].step
    assert {m.value for m in client.get_metric_history(run_id, "phase")} == {0.0, 1.0}


@pytest.mark.skipif("wandb" not in OPTIONAL, reason="wandb is not installed (pip install 'headstart[wandb]')")
def test_wandb_runs_offline_into_the_run_folder(logged_run):
    import wandb

    runs = list((logged_run / "logs" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("run-*.wandb"))
    assert wandb.run is None  # finished with the training run: the next hs.train gets its own


def test_logger_option_takes_a_list_or_commas_and_names_bad_values():
    assert config_from_dict({"logger": ["csv", "none"][:1]}).logger == "csv"
    assert RunConfig(logger="none").logger == "none"
    with pytest.raises(ConfigError, match="logger.*'neptune' is not one"):
        RunConfig(logger="csv,neptune")


def test_a_logger_whose_package_is_missing_says_how_to_install_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ConfigError, match=r"pip install 'headstart\[mlflow\]'"):
        RunConfig(logger="csv,mlflow")


@pytest.mark.skipif("tensorboard" not in OPTIONAL, reason="tensorboard is not installed (pip install 'headstart[tensorboard]')")
def test_tensorboard_writes_one_event_stream_for_the_run(logged_run):
    assert len(list((logged_run / "logs" / "tensorboard").glob("events.out.tfevents.*"))) == 1


def test_a_new_process_keeps_the_csv_columns_of_earlier_phases(tmp_path):
    """A resumed run (or a DDP worker) starts a fresh CSV writer on the run's existing metrics.csv."""
    from headstart.engine.loggers import build_loggers

    first = build_loggers("csv", tmp_path)[0]
    first.start_phase(0, 0)
    first.log_metrics({"train_loss_step": 1.0}, step=0)
    first.save()
    again = build_loggers("csv", tmp_path)[0]  # nothing in memory about train_loss_step
    again.start_phase(1, 10)
    again.log_metrics({"val_loss": 0.5}, step=3)
    again.save()
    with open(tmp_path / "logs" / "csv" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["phase"], r["step"], r["train_loss_step"], r["val_loss"]) for r in rows] == [
        ("0", "0", "1.0", ""), ("1", "13", "", "0.5")]
