"""LoRA adapters: where they go, what trains, how the groups and the report see them."""
from __future__ import annotations

import pytest
import torch

from headstart.backbones import create_backbone
from headstart.backbones.hf_text import HFTextBackbone, build_tinybert, drop_unused_pooler
from headstart.backbones.lora import apply_lora, find_target_modules, lora_counts, lora_summary
from headstart.engine.fit import phase_report
from headstart.errors import ConfigError
from headstart.heads import build_head
from headstart.model import TransferModel
from headstart.params.param_groups import discriminative_param_groups
from headstart.strategies import StrategyOptions, plan_for

TEXTS = ["a short one", "a somewhat longer sentence than the first one"]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def tiny_model(seed: int = 0) -> TransferModel:
    torch.manual_seed(seed)
    backbone = build_tinybert("none")
    return TransferModel(backbone, build_head("linear", backbone.num_features, 2), ["neg", "pos"])


def encode(model: TransferModel, texts=TEXTS) -> dict[str, torch.Tensor]:
    enc = model.backbone.tokenizer(texts, padding="longest", return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def assert_partition(model: TransferModel) -> None:
    listed = [n for g in model.layer_groups() for n in g.param_names]
    assert len(listed) == len(set(listed)), "a parameter is in two groups"
    assert sorted(listed) == sorted(n for n, _ in model.named_parameters())


def test_adapters_on_every_projection_of_every_block():
    model = tiny_model()
    targets = apply_lora(model, r=4, alpha=8, dropout=0.0)
    suffixes = ["attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense", "intermediate.dense", "output.dense"]
    assert targets == [f"encoder.layer.{i}.{s}" for i in range(2) for s in suffixes]
    lora_names = [n for n, _ in model.named_parameters() if "lora_" in n]
    assert len(lora_names) == 2 * len(targets)  # lora_A and lora_B each
    assert not any("embeddings" in n for n in lora_names)


def test_groups_still_partition_and_adapters_join_their_layer():
    model = tiny_model()
    apply_lora(model)
    assert_partition(model)
    groups = {g.name: g.param_names for g in model.layer_groups()}
    assert list(groups) == ["embeddings", "layer.0", "layer.1", "head"]
    assert any("lora_A" in n for n in groups["layer.1"])
    assert all(".layer.1." in n for n in groups["layer.1"])
    assert all(n.startswith("backbone.model.base_model.model.embeddings.") for n in groups["embeddings"])


def test_zero_update_at_start_then_only_adapters_and_head_train():
    model = tiny_model().eval()
    x = encode(model)
    with torch.no_grad():
        before = model(x)
    apply_lora(model, dropout=0.0)
    with torch.no_grad():
        after = model(x)
    torch.testing.assert_close(before, after)  # lora_B starts at zero
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    head = {"head." + n for n, _ in model.head.named_parameters()}
    assert head <= trainable


def test_lora_phase_report_marks_adapters_trainable_with_one_lr():
    model = tiny_model()
    apply_lora(model, r=8)
    (phase,) = plan_for("lora", StrategyOptions(epochs=3, lr=2e-3), len(model.layer_groups()))
    assert (phase.name, phase.trainable, phase.epochs, phase.head_lr) == ("lora", "lora", 3, 2e-3)
    model.requires_grad_(True)  # the engine must reset this itself
    report = phase_report(model, phase, weight_decay=0.01)
    rows = {r.name: r for r in report.rows}
    counts = lora_counts(model)
    assert rows["embeddings"].trainable == 0
    assert rows["layer.0"].trainable == rows["layer.1"].trainable == counts["adapter"] // 2 > 0
    assert rows["layer.0"].trainable < rows["layer.0"].params
    assert rows["head"].trainable == rows["head"].params
    assert report.trainable == counts["trainable"] == counts["adapter"] + rows["head"].params
    assert 0 < counts["fraction"] < 0.05
    assert "% of the backbone" in lora_summary(model)
    groups = discriminative_param_groups(model, phase.head_lr, layer_decay=phase.layer_decay)
    assert {g["lr"] for g in groups} == {2e-3}


def test_target_names_of_other_encoder_families():
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.for_model("distilbert", dim=16, n_layers=2, n_heads=2, hidden_dim=32,
                                  vocab_size=50, max_position_embeddings=32)
    found = find_target_modules(AutoModel.from_config(config))
    assert {n.rsplit(".", 1)[-1] for n in found} == {"q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"}
    assert len(found) == 12
    assert find_target_modules(AutoModel.from_config(config), ["q_lin", "v_lin"]) == [
        f"transformer.layer.{i}.attention.{n}" for i in range(2) for n in ("q_lin", "v_lin")]


def test_attention_only_targets():
    model = tiny_model()
    targets = apply_lora(model, target_modules=["query", "value"])
    assert len(targets) == 4 and all(t.endswith(("query", "value")) for t in targets)


def test_unused_pooler_is_dropped():
    backbone = build_tinybert("none")
    assert backbone.model.pooler is None
    assert not any("pooler" in n for n, _ in backbone.named_parameters())
    assert not drop_unused_pooler(torch.nn.Linear(2, 2))


def test_errors_name_the_fix():
    with pytest.raises(ConfigError, match="lora_r"):
        apply_lora(tiny_model(), r=0)
    with pytest.raises(ConfigError, match="lora_alpha"):
        apply_lora(tiny_model(), alpha=-1)
    with pytest.raises(ConfigError, match="lora_dropout"):
        apply_lora(tiny_model(), dropout=1.5)
    with pytest.raises(ConfigError, match="No attention/FFN Linear layers"):
        apply_lora(tiny_model(), target_modules=["nothing_like_this"])
    model = tiny_model()
    apply_lora(model)
    with pytest.raises(ConfigError, match="already has LoRA"):
        apply_lora(model)


def test_image_backbone_is_refused():
    backbone = create_backbone("tinycnn", weights="none")
    assert not isinstance(backbone, HFTextBackbone)
    model = TransferModel(backbone, build_head("linear", backbone.num_features, 2), ["a", "b"])
    with pytest.raises(ConfigError, match="needs a Hugging Face text backbone.*minilm"):
        apply_lora(model)
