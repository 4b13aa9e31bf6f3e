"""Hub ids without an org are accepted; `headstart models 'hf:*'` lists aliases and the local cache."""
from __future__ import annotations

import json

import pytest

from headstart.backbones.hf_text import has_hf_model, list_hf_models
from headstart.backbones.registry import resolve


@pytest.mark.parametrize("name", ["distilbert-base-uncased", "bert-base-cased", "sentence-transformers/all-MiniLM-L6-v2"])
def test_hub_ids_with_and_without_org_are_accepted(name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert has_hf_model(name)
    assert resolve(f"hf:{name}") == ("hf", name)


@pytest.mark.parametrize("name", ["a/b/c", "no spaces", "-leading-dash"])
def test_malformed_ids_are_refused(name: str) -> None:
    assert not has_hf_model(name)


def test_offline_hub_id_fails_with_the_offline_weights_error(cli_main, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    (tmp_path / "t.csv").write_text("text,label\ngood,pos\nbad,neg\nfine,pos\nawful,neg\n")
    code, err = cli_main("train", tmp_path / "t.csv", "--model", "hf:distilbert-base-uncased", "--output-dir", tmp_path / "runs")
    assert code == 2 and err.count("\n") == 1 and "distilbert-base-uncased" in err and "not in the cache" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_models_lists_the_local_cache_and_says_the_hub_is_not_searched(cli_main, tmp_path, monkeypatch) -> None:
    cache = tmp_path / "hub"
    (cache / "models--distilbert--distilbert-base-uncased").mkdir(parents=True)
    (cache / "models--bert-base-cased").mkdir()
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    assert list_hf_models("*dist*") == ["distilbert/distilbert-base-uncased"]
    assert "bert-base-cased" in list_hf_models("*") and "minilm" in list_hf_models("*")
    code, out = cli_main("models", "hf:*dist*", "--json", stream="out")
    assert code == 0 and [json.loads(line)["name"] for line in out.splitlines()] == ["hf:distilbert/distilbert-base-uncased"]
    code, out = cli_main("models", "hf:*dist*", stream="out")
    assert code == 0 and "the hub is not searched" in " ".join(out.split())


@pytest.fixture
def cli_main(capsys):
    from headstart.cli import main

    def run(*argv, stream: str = "err"):
        capsys.readouterr()
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.err if stream == "err" else captured.out
    return run
