"""The Hugging Face text backbone: groups, pooling, offline MiniLM, assets, weights and errors."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from headstart.backbones import BACKBONES, SOURCES, create_backbone, resolve
from headstart.backbones.hf_text import HFTextBackbone, build_tinybert, text_layer_groups
from headstart.errors import ConfigError, UnknownNameError, WeightsError


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def tiny() -> HFTextBackbone:
    torch.manual_seed(0)
    return build_tinybert("none").eval()


@pytest.fixture(scope="module")
def minilm() -> HFTextBackbone:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        return create_backbone("minilm").eval()


def encode(backbone: HFTextBackbone, texts: list[str]) -> dict[str, torch.Tensor]:
    enc = backbone.tokenizer(texts, padding="longest", return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def assert_partition(groups, module: nn.Module) -> None:
    listed = [n for g in groups for n in g.param_names]
    assert len(listed) == len(set(listed)), "a parameter is in two groups"
    assert sorted(listed) == sorted(n for n, _ in module.named_parameters())


# ------------------------------------------------------------------------------ groups
def test_tinybert_groups_partition_params_in_order(tiny):
    groups = tiny.group_param_names()
    assert [g.name for g in groups] == ["embeddings", "layer.0", "layer.1"]  # unused HF pooler dropped
    assert_partition(groups, tiny)
    assert all(n.startswith("model.encoder.layer.1.") for n in groups[2].param_names)


@pytest.mark.parametrize("kind", ["distilbert", "roberta"])
def test_groups_for_other_encoder_families(kind):
    from transformers import AutoConfig, AutoModel

    sizes = dict(vocab_size=100, max_position_embeddings=64)
    if kind == "distilbert":
        config = AutoConfig.for_model("distilbert", dim=16, n_layers=3, n_heads=2, hidden_dim=32, **sizes)
    else:
        config = AutoConfig.for_model(
            "roberta", hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32, **sizes
        )
    model = AutoModel.from_config(config)
    groups = text_layer_groups(model)
    names = [g.name for g in groups]
    assert names[:4] == ["embeddings", "layer.0", "layer.1", "layer.2"]
    assert_partition(groups, model)


def test_groups_fall_back_to_top_level_children():
    model = nn.Sequential()
    model.add_module("stem", nn.Linear(3, 4))
    model.add_module("proj", nn.Linear(4, 2))
    groups = text_layer_groups(model)
    assert [g.name for g in groups] == ["stem", "proj"]
    assert_partition(groups, model)


# ------------------------------------------------------------------------------ pooling
def test_mean_and_cls_pooling_shapes_and_difference(tiny):
    inputs = encode(tiny, ["a short one", "a somewhat longer sentence than that"])
    with torch.no_grad():
        mean = tiny(inputs)
        tiny.pooling = "cls"
        try:
            cls = tiny(inputs)
        finally:
            tiny.pooling = "mean"
    assert mean.shape == cls.shape == (2, tiny.num_features) == (2, 32)
    assert not torch.allclose(mean, cls)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_padding_does_not_change_features(pooling):
    torch.manual_seed(0)
    backbone = build_tinybert("none", pooling=pooling).eval()
    alone = encode(backbone, ["the quick brown fox"])
    padded = encode(backbone, ["the quick brown fox", "jumps over the very lazy dog again and again"])
    assert padded["attention_mask"][0].sum() < padded["input_ids"].shape[1]  # really padded
    with torch.no_grad():
        a = backbone(alone)[0]
        b = backbone(padded)[0]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_invalid_pooling_and_max_length():
    with pytest.raises(ConfigError, match="pooling"):
        build_tinybert("none", pooling="max")
    assert build_tinybert("none", max_length=64).data_config.max_length == 64
    assert build_tinybert("none", max_length=100_000).data_config.max_length == 512  # positions cap


# ------------------------------------------------------------------------------ MiniLM
def test_minilm_loads_offline_from_package(minilm):
    assert minilm.num_features == 384
    assert minilm.data_config.modality == "text"
    assert minilm.data_config.max_length == 256
    assert minilm.spec["name"] == "minilm" and minilm.spec["source"] == "hf"
    assert minilm.spec["pooling"] == "mean"
    assert [g.name for g in minilm.group_param_names()][:2] == ["embeddings", "layer.0"]
    assert len(minilm.group_param_names()) == 7  # embeddings, 6 layers (unused HF pooler dropped)
    texts = ["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today."]
    with torch.no_grad():
        feats = torch.nn.functional.normalize(minilm(encode(minilm, texts)), dim=-1)
    paraphrase = float(feats[0] @ feats[1])
    unrelated = float(feats[0] @ feats[2])
    assert paraphrase > 0.6
    assert paraphrase > unrelated + 0.3


def test_registry_entries():
    assert BACKBONES.get("minilm").modality == "text" and BACKBONES.get("minilm").offline()
    assert BACKBONES.get("tinybert").source == "hf"
    hf = SOURCES.get("hf")
    assert {"minilm", "tinybert"} <= set(hf.list_models("*"))
    assert hf.list_models("mini*") == ["minilm"]
    assert resolve("hf:sentence-transformers/all-MiniLM-L6-v2") == ("hf", "sentence-transformers/all-MiniLM-L6-v2")
    assert resolve("minilm") == ("alias", "minilm")
    with pytest.raises(UnknownNameError):
        resolve("hf:not a model")


# ------------------------------------------------------------------------------ weights
def test_hub_id_offline_and_uncached_raises_one_clear_error():
    with pytest.raises(WeightsError, match=r"no-such-org/no-such-model.*cache.*hf:\./folder.*minilm") as info:
        create_backbone("hf:no-such-org/no-such-model")
    assert "models--no-such-org--no-such-model" in str(info.value)
    assert "\n" not in str(info.value)


def test_tinybert_has_no_pretrained_weights():
    with pytest.raises(WeightsError, match="tinybert has no pretrained weights.*--weights none"):
        create_backbone("tinybert")  # project default weights="imagenet"
    with pytest.raises(WeightsError, match="Unknown weights"):
        build_tinybert("bogus")


def test_weights_file_loads_plain_and_prefixed_state_dicts(tiny, tmp_path):
    from safetensors.torch import save_file

    plain = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in tiny.model.state_dict().items()}, str(plain))
    prefixed = tmp_path / "run.pt"
    torch.save({f"backbone.{k}": v for k, v in tiny.state_dict().items()}, prefixed)  # TransferModel keys
    for path in (plain, prefixed):
        torch.manual_seed(1)
        loaded = create_backbone("tinybert", weights=str(path))
        for (name, a), (_, b) in zip(tiny.named_parameters(), loaded.named_parameters()):
            assert torch.equal(a, b), name


def test_local_folder_pretrained_and_none(tiny, tmp_path):
    folder = tmp_path / "tiny_hf"
    tiny.model.save_pretrained(folder)
    tiny.tokenizer.save_pretrained(folder)
    assert resolve(f"hf:{folder}") == ("hf", str(folder))
    loaded = create_backbone(f"hf:{folder}", pooling="cls", max_length=32)
    assert loaded.spec == {"name": f"hf:{folder}", "source": "hf", "model": str(folder), "pooling": "cls", "max_length": 32}
    assert torch.equal(loaded.model.encoder.layer[1].output.dense.weight, tiny.model.encoder.layer[1].output.dense.weight)
    random = create_backbone(f"hf:{folder}", weights="none")
    assert not torch.equal(random.model.encoder.layer[1].output.dense.weight, tiny.model.encoder.layer[1].output.dense.weight)


def test_folder_without_tokenizer_is_a_weights_error(tiny, tmp_path):
    tiny.model.config.save_pretrained(tmp_path)
    with pytest.raises(WeightsError, match="Cannot load the Hugging Face folder"):
        HFTextBackbone.from_pretrained(tmp_path)


# ------------------------------------------------------------------------------ assets
def test_save_assets_and_rebuild_reproduce_architecture(tiny, tmp_path):
    folder = tiny.save_assets(tmp_path / "assets")
    assert (folder / "config.json").is_file()
    assert not list(folder.glob("*.safetensors")) and not list(folder.glob("*.bin"))
    rebuilt = HFTextBackbone.from_assets(folder, tiny.spec).eval()
    assert rebuilt.spec == tiny.spec
    assert rebuilt.num_features == tiny.num_features
    assert rebuilt.data_config.max_length == tiny.data_config.max_length
    shapes = {k: v.shape for k, v in tiny.state_dict().items()}
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == shapes
    texts = ["héllo wörld 😀", "x"]
    assert torch.equal(encode(rebuilt, texts)["input_ids"], encode(tiny, texts)["input_ids"])
    rebuilt.load_state_dict(tiny.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(encode(rebuilt, texts)), tiny(encode(tiny, texts)))


def test_from_assets_needs_a_config(tmp_path):
    with pytest.raises(WeightsError, match="no config.json"):
        HFTextBackbone.from_assets(tmp_path)
