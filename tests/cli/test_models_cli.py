"""``headstart models [PATTERN]``: named backbones with offline-weight status, library globs, JSON lines."""
from __future__ import annotations

import json

from .test_bad_input import assert_one_line_error


def _json_rows(out: str) -> dict[str, dict]:
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {row["name"]: row for row in rows}


def test_models_table_shows_offline_weights(cli) -> None:
    result = cli("models")
    assert result.code == 0, result.err
    row = next(line for line in result.out.splitlines() if "efficientnet_lite0" in line)
    assert "yes" in row  # its ImageNet weights ship as a package: usable offline
    assert "tinycnn" in result.out and "torchvision:*" in result.out


def test_models_json_lines(cli) -> None:
    result = cli("models", "--json")
    assert result.code == 0, result.err
    rows = _json_rows(result.out)
    assert rows["efficientnet_lite0"]["pretrained_offline"] is True
    assert rows["efficientnet_lite0"]["modality"] == "image"
    assert rows["tinycnn"]["pretrained_offline"] is False
    assert {"name", "source", "modality", "pretrained_offline", "description"} <= set(rows["tinycnn"])


def test_models_glob_filters_named_backbones(cli) -> None:
    rows = _json_rows(cli("models", "tiny*", "--json").out)
    named = {name for name in rows if ":" not in name}
    assert "tinycnn" in named and "efficientnet_lite0" not in named


def test_models_library_glob(cli) -> None:
    result = cli("models", "torchvision:resnet*")
    assert result.code == 0, result.err
    assert "torchvision:resnet18" in result.out and "torchvision:vgg16" not in result.out
    rows = _json_rows(cli("models", "torchvision:resnet*", "--json").out)
    assert "torchvision:resnet18" in rows and all(name.startswith("torchvision:resnet") for name in rows)


def test_models_unknown_library_prefix(cli) -> None:
    assert_one_line_error(cli("models", "tensorflow:resnet*"), "'tensorflow'", "torchvision:")
