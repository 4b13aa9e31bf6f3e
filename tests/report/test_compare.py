"""compare_runs rows, the rich table, and `headstart compare` in table and JSON form."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import headstart.cli.compare  # noqa: F401
import headstart.cli.report  # noqa: F401
from headstart.cli.app import app
from headstart.errors import RunError
from headstart.report.compare import COLUMNS, compare_runs, format_compare, format_compare_table


@pytest.fixture
def two_runs(make_run) -> list[Path]:
    return [make_run(name="two-phase"), make_run(name="[text]", modality="text", n_classes=2, per_class_items=3)]


def test_rows(two_runs: list[Path]) -> None:
    rows = compare_runs(two_runs)
    assert [r["run"] for r in rows] == ["two-phase", "[text]"]
    assert set(COLUMNS) <= set(rows[0])
    first, second = rows
    assert first["strategy"] == "two_phase" and first["backbone"] == "torchvision:resnet50"
    assert first["val_accuracy"] == pytest.approx(8 / 12)
    assert first["macro_f1"] == pytest.approx(0.6627, abs=1e-4)
    assert first["wall_time_s"] == 93.4
    assert (first["trainable_params"], first["total_params"]) == (14_970_883, 23_514_179)
    assert second["backbone"] == "hf:minilm" and second["total_params"] == 23_512_130


def test_missing_params_gives_none(two_runs: list[Path]) -> None:
    (two_runs[0] / "params.json").unlink()
    row = compare_runs(two_runs[:1])[0]
    assert row["trainable_params"] is None and row["total_params"] is None


def test_errors(tmp_path: Path, two_runs: list[Path]) -> None:
    with pytest.raises(RunError, match="No run folders"):
        compare_runs([])
    with pytest.raises(RunError, match="run folder not found"):
        compare_runs([two_runs[0], tmp_path / "missing"])
    (two_runs[1] / "metrics.json").write_text("{not json")
    with pytest.raises(RunError, match=r"metrics\.json"):
        compare_runs(two_runs)


def test_folders_that_are_not_finished_runs_are_skipped_with_a_note(tmp_path: Path, two_runs: list[Path]) -> None:
    lr_find = tmp_path / "lr-find-20260101-120000"
    lr_find.mkdir()
    (lr_find / "lr_find.json").write_text("{}")
    (two_runs[1] / "metrics.json").unlink()  # an interrupted run
    skipped: list[str] = []
    assert [r["run"] for r in compare_runs([lr_find, *two_runs], skipped)] == ["two-phase"]
    assert skipped == [f"{lr_find}: not a run folder (no model.json)", f"{two_runs[1]}: not finished (no metrics.json)"]
    result = CliRunner().invoke(app, ["compare", str(lr_find), *map(str, two_runs)], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "note: skipped" in result.output and "two-phase" in result.output
    with pytest.raises(RunError, match="None of the given folders is a finished run"):
        compare_runs([lr_find])


def test_long_run_names_stay_on_one_line_at_80_columns(make_run) -> None:
    names = ["efficientnet_lite0-two-phase-20261130-134501", "tinycnn-fine-tune-20261130-134502"]
    rows = compare_runs([make_run(name=n) for n in names])
    for width in (80, 200):
        console = Console(record=True, width=width)
        console.print(format_compare(rows, width))
        text = console.export_text()
        assert all(name in text for name in names) and "66.67%" in text, text
        assert ("┃" in text) == (width == 200)  # a table when it fits, else one block per run


def test_table(two_runs: list[Path]) -> None:
    console = Console(record=True, width=200)
    console.print(format_compare_table(compare_runs(two_runs)))
    text = console.export_text()
    assert "[text]" in text  # printed literally, not parsed as markup
    assert "66.67%" in text and "14,970,883" in text and "23,514,179" in text and "93.4s" in text


def test_table_without_params(two_runs: list[Path]) -> None:
    (two_runs[0] / "params.json").unlink()
    console = Console(record=True, width=200)
    console.print(format_compare_table(compare_runs(two_runs)))
    assert "14,970,883" not in console.export_text()


def test_cli_json_lines(two_runs: list[Path]) -> None:
    result = CliRunner().invoke(app, ["compare", *map(str, two_runs), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.strip().splitlines()]
    assert [line["run"] for line in lines] == ["two-phase", "[text]"]
    assert lines[0]["trainable_params"] == 14_970_883


def test_cli_table(two_runs: list[Path]) -> None:
    result = CliRunner().invoke(app, ["compare", *map(str, two_runs)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Run comparison" in result.output and "two-phase" in result.output


def test_cli_help_has_example() -> None:
    result = CliRunner().invoke(app, ["compare", "--help"])
    assert "Example: headstart compare runs/head-only runs/two-phase --json" in result.output


def test_cli_error_is_raised_not_printed(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "missing")])
    assert isinstance(result.exception, RunError)
