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


def test_catalog_names_what_the_registry_builds() -> None:
    """The torch-free catalog `models` prints and the registry that builds must not drift apart."""
    from headstart.backbone_catalog import SOURCE_DESCRIPTIONS, named_backbones, source_prefixes
    from headstart.backbones import BACKBONES, SOURCES

    assert [e.name for e in named_backbones()] == list(BACKBONES)
    for entry in named_backbones():
        built = BACKBONES.get(entry.name)
        assert (built.source, built.modality, built.description) == (entry.source, entry.modality, entry.description)
    assert source_prefixes() == list(SOURCES)
    assert all(SOURCES.get(p).description == SOURCE_DESCRIPTIONS[p] for p in SOURCES)


def test_models_without_a_library_prefix_imports_no_library() -> None:
    """`headstart models` must answer instantly: no torch, torchvision, timm or transformers."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src"
    script = ("import json, sys\nfrom headstart.cli import main\ncode = main(['models', 'tiny*'])\n"
              "print(json.dumps([code] + [m for m in ('torch', 'torchvision', 'timm', 'transformers', 'matplotlib')"
              " if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(src)})
    assert done.returncode == 0, done.stderr
    assert "tinycnn" in done.stdout
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [0]
