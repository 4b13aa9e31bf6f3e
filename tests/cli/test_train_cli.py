"""``headstart train`` end to end: every strategy writes a complete run folder, and configs reproduce."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml

from .conftest import CLASSES, TINY, CliResult, TrainedRun, run_cli

RUN_FILES = ("config.yaml", "model.safetensors", "model.json", "params.json", "metrics.json", "val_predictions.json")
TOTALS_LINE = re.compile(r"Trainable: ([\d,]+) / Total: ([\d,]+)")


def _number(value: object) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def check_run_folder(run_dir: Path, expected_phases: list[str], output: str, val_size: int) -> dict:
    """The run-folder contract (docs/contracts.md) for a finished image run; returns params.json."""
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), f"{name} missing from {run_dir}"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("val_accuracy", "val_loss", "macro_f1"):
        assert _number(metrics[key]), (key, metrics[key])
    assert 0.0 <= metrics["val_accuracy"] <= 1.0 and 0.0 <= metrics["macro_f1"] <= 1.0
    assert metrics["classes"] == sorted(CLASSES)
    assert sum(map(sum, metrics["confusion_matrix"])) == val_size
    # one entry per epoch, in order, with the phase that ran it
    assert [e["phase"] for e in metrics["epochs"]] == expected_phases
    assert [e["epoch"] for e in metrics["epochs"]] == list(range(len(expected_phases)))
    for entry in metrics["epochs"]:
        for key in ("train_loss", "val_loss", "val_accuracy", "seconds"):
            assert _number(entry[key]), (key, entry)
    preds = json.loads((run_dir / "val_predictions.json").read_text())
    assert preds["classes"] == sorted(CLASSES) and len(preds["items"]) == val_size
    assert {"input", "label", "pred", "confidence"} <= set(preds["items"][0])
    # accuracy recomputed from the saved predictions agrees with metrics.json
    correct = sum(item["label"] == item["pred"] for item in preds["items"])
    assert correct / val_size == pytest.approx(metrics["val_accuracy"])
    params = json.loads((run_dir / "params.json").read_text())
    # the parameter report was printed before each phase, with the same numbers as params.json
    printed = [(int(t.replace(",", "")), int(n.replace(",", ""))) for t, n in TOTALS_LINE.findall(output)]
    assert printed == [(p["trainable"], p["total"]) for p in params["phases"]], output[-2000:]
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["model"] == "tinycnn" and config["image_size"] == 32
    info = json.loads((run_dir / "model.json").read_text())
    assert info["classes"] == sorted(CLASSES) and info["backbone"]["name"] == "tinycnn"
    # how it ran, resolved: printed once at the start, recorded in config.yaml and model.json
    runtime = {"accelerator": "cpu", "devices": 1, "num_nodes": 1, "strategy": "auto", "precision": "32-true",
               "channels_last": True, "num_workers": 0}
    assert config["resolved_runtime"] == info["runtime"] == runtime
    assert config["precision"] == "32-true"  # never `auto`: the config runs with the same numerics anywhere
    assert output.count("Runtime: cpu x1, precision 32-true, 0 data workers, channels_last") == 1, output[:2000]
    # the headline is the kept (lowest val_loss) epoch's validation
    kept = min(metrics["epochs"], key=lambda e: e["val_loss"])
    assert metrics["val_loss"] == pytest.approx(kept["val_loss"], abs=1e-5)
    assert metrics["val_accuracy"] == pytest.approx(kept["val_accuracy"], abs=1e-6)
    return params


def _group(phase: dict, name: str) -> dict:
    return next(g for g in phase["groups"] if g["name"].split(".")[-1] == name)


def test_two_phase_trains_head_then_everything(trained_run: TrainedRun) -> None:
    result = trained_run.result
    assert result.code == 0, result.err
    params = check_run_folder(trained_run.run_dir, ["head", "finetune", "finetune"], result.out, val_size=9)
    head_phase, finetune_phase = params["phases"]
    assert [p["phase"] for p in params["phases"]] == ["head", "finetune"]
    head = _group(head_phase, "head")
    assert head_phase["trainable"] == head["params"] == head["trainable"] > 0
    assert all(g["trainable"] == 0 and g["lr"] is None for g in head_phase["groups"] if g is not head)
    assert finetune_phase["trainable"] == finetune_phase["total"] == params["total"]
    # discriminative LRs: earlier groups learn slower than the head
    lrs = [g["lr"] for g in finetune_phase["groups"]]
    assert lrs == sorted(lrs) and lrs[0] < lrs[-1]
    assert "val_accuracy=" in result.out


def test_feature_extraction_trains_only_the_head(cli, image_data: Path, no_report: None) -> None:
    result: CliResult = cli("train", image_data, *TINY, "--strategy", "feature-extraction", "--epochs", "2", "--name", "fe")
    assert result.code == 0, result.err
    params = check_run_folder(Path("runs/fe"), ["head"], result.out, val_size=9)  # a cached head is solved: one entry
    (phase,) = params["phases"]
    assert phase["trainable"] == _group(phase, "head")["params"] < phase["total"]


def test_fine_tune_trains_everything_from_the_start(cli, image_data: Path, no_report: None) -> None:
    result = cli("train", image_data, *TINY, "--strategy", "fine-tune", "--epochs", "1", "--name", "ft")
    assert result.code == 0, result.err
    params = check_run_folder(Path("runs/ft"), ["finetune"], result.out, val_size=9)
    (phase,) = params["phases"]
    assert phase["trainable"] == phase["total"]


def test_two_phase_gradual_unfreezes_one_group_per_epoch(cli, image_data: Path, no_report: None) -> None:
    result = cli("train", image_data, *TINY, "--strategy", "two-phase", "--gradual", "--head-epochs", "1",
                 "--epochs", "2", "--name", "gradual")
    assert result.code == 0, result.err
    params = check_run_folder(Path("runs/gradual"), ["head", "unfreeze-1", "finetune"], result.out, val_size=9)
    head, unfreeze, finetune = params["phases"]
    trainable = [[g["name"].split(".")[-1] for g in p["groups"] if g["trainable"]] for p in params["phases"]]
    assert trainable[0] == ["head"]
    assert trainable[1] == ["block3", "head"]  # the top backbone group joins the head
    assert finetune["trainable"] == finetune["total"]
    assert head["trainable"] < unfreeze["trainable"] < finetune["trainable"]


def test_config_file_flags_override_and_saved_config_reproduces(cli, image_data: Path, tmp_path: Path, no_report: None) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(
        f"data: {image_data}\nmodel: tinycnn\nweights: none\nimage_size: 32\nbatch_size: 4\n"
        "num_workers: 0\nstrategy: two-phase\nhead_epochs: 1\nepochs: 5\nlr: 3e-3\nseed: 7\n"
    )
    first = cli("train", "--config", config, "--epochs", "1", "--batch-size", "8", "--name", "first")
    assert first.code == 0, first.err
    saved = yaml.safe_load(Path("runs/first/config.yaml").read_text())
    assert saved["epochs"] == 1 and saved["batch_size"] == 8  # flags beat the YAML
    assert saved["seed"] == 7 and saved["strategy"] == "two-phase" and saved["lr"] == pytest.approx(3e-3)
    metrics = json.loads(Path("runs/first/metrics.json").read_text())
    assert [e["phase"] for e in metrics["epochs"]] == ["head", "finetune"]

    again = cli("train", "--config", "runs/first/config.yaml", "--name", "again")
    assert again.code == 0, again.err
    repeat = json.loads(Path("runs/again/metrics.json").read_text())
    assert repeat["val_accuracy"] == pytest.approx(metrics["val_accuracy"], abs=1e-6)
    assert repeat["val_loss"] == pytest.approx(metrics["val_loss"], abs=1e-6)
    assert [e["train_loss"] for e in repeat["epochs"]] == pytest.approx([e["train_loss"] for e in metrics["epochs"]], abs=1e-6)
    assert {k: v for k, v in yaml.safe_load(Path("runs/again/config.yaml").read_text()).items() if k != "name"} == \
        {k: v for k, v in saved.items() if k != "name"}
    assert saved["name"] is None  # so the saved config re-runs without clashing with its own folder
    third = cli("train", "--config", "runs/first/config.yaml")
    assert third.code == 0, third.err


def test_corrupt_image_is_skipped_with_a_count(cli, image_data: Path, tmp_path: Path, no_report: None) -> None:
    import shutil

    data = tmp_path / "with-corrupt"
    shutil.copytree(image_data, data)
    (data / "train" / "cat" / "broken.png").write_bytes(b"this is not a png")
    result = cli("train", data, *TINY, "--strategy", "feature-extraction", "--epochs", "1", "--name", "skip")
    assert result.code == 0, result.err
    assert re.search(r"skipped 1 unreadable image", result.out), result.out[:2000]
    assert "broken.png" in result.out
    assert "Data: 24 train / 9 val" in result.out  # 25 files, the broken one left out


def test_every_config_option_is_a_train_flag_with_its_default(monkeypatch) -> None:
    """The train flags are generated from RunConfig: a new field is a new flag, help and default included."""
    from headstart.config import flag_name, option_help

    monkeypatch.setenv("COLUMNS", "200")  # rich wraps (and may truncate) option names in narrow terminals

    result = run_cli(["train", "--help"])
    text = " ".join(result.out.replace("│", " ").split())
    for name, spec in option_help().items():
        if name == "data" or not spec["cli"]:
            continue
        assert flag_name(name) in text, name
    assert "Epochs of the main phase" in text and "(default: 5)" in text and "(default: 32)" in text


def test_out_of_range_flags_fail_before_anything_is_written(tmp_path) -> None:
    for flags, fragment in ((["--label-smoothing", "2"], "--label-smoothing"), (["--weight-decay", "-1"], "--weight-decay"),
                            (["--early-stopping", "0"], "--early-stopping"), (["--lr", "inf"], "--lr"),
                            (["--num-nodes", "0"], "--num-nodes"), (["--head-hidden", "0"], "--head-hidden")):
        result = run_cli(["train", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path / "runs"), *flags])
        assert result.code == 2 and fragment in result.err and "Traceback" not in result.err, (flags, result.err)
    assert not (tmp_path / "runs").exists()
