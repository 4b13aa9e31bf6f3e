"""Looking backbones up by name: aliases, plain names, prefixes, and the errors for bad names.

Also: pretrained weights that cannot be downloaded (the machine is offline) give one WeightsError
that says where the file would be cached and how to pass a local file instead.
"""
from __future__ import annotations

import urllib.error

import pytest
import timm
import torch

from headstart.backbones import BACKBONES, SOURCES, create_backbone, resolve
from headstart.backbones.efficientnet_lite0 import EfficientNetLite0
from headstart.backbones.registry import BackboneEntry, register_backbone
from headstart.errors import UnknownNameError, WeightsError
from headstart.registry import Registry


def test_alias_wins_over_library_names() -> None:
    # timm also has an `efficientnet_lite0`; the registered alias (offline weights) takes precedence.
    assert SOURCES.get("timm").has_model("efficientnet_lite0")
    assert resolve("efficientnet_lite0") == ("alias", "efficientnet_lite0")
    assert isinstance(create_backbone("efficientnet_lite0", weights="none"), EfficientNetLite0)


@pytest.mark.parametrize("name, owner", [("convnext_atto", "timm"), ("regnet_y_400mf", "torchvision")])
def test_plain_name_only_one_library_has(name: str, owner: str) -> None:
    assert resolve(name) == (owner, name)
    backbone = create_backbone(name, weights="none")
    assert backbone.source == owner and backbone.name == f"{owner}:{name}"


def test_prefixed_names() -> None:
    assert resolve("torchvision:resnet18") == ("torchvision", "resnet18")
    assert resolve("timm:resnet18") == ("timm", "resnet18")
    assert resolve("timm:resnet18.a1_in1k") == ("timm", "resnet18.a1_in1k")


def test_name_in_two_libraries_is_ambiguous() -> None:
    with pytest.raises(UnknownNameError, match="ambiguous") as info:
        create_backbone("resnet18", weights="none")
    assert "torchvision:resnet18" in str(info.value) and "timm:resnet18" in str(info.value)


def test_unknown_prefix() -> None:
    with pytest.raises(UnknownNameError, match=r"Unknown backbone source 'keras'.*Valid prefixes: .*timm:, torchvision:"):
        create_backbone("keras:resnet50", weights="none")


def test_unknown_model_in_a_library() -> None:
    with pytest.raises(UnknownNameError, match=r"torchvision has no model 'resnet9000'.*headstart models"):
        create_backbone("torchvision:resnet9000", weights="none")
    with pytest.raises(UnknownNameError, match=r"timm has no model 'not_a_net'"):
        create_backbone("timm:not_a_net", weights="none")


def test_unknown_plain_name_lists_named_backbones() -> None:
    with pytest.raises(UnknownNameError, match=r"Unknown backbone 'resnet9000'.*efficientnet_lite0.*tinycnn"):
        resolve("resnet9000")


def test_duplicate_registration_raises() -> None:
    entry = BACKBONES.get("tinycnn")
    with pytest.raises(ValueError, match="already registered"):
        register_backbone(BackboneEntry("tinycnn", entry.source, entry.build, "a second tinycnn"))
    assert BACKBONES.get("tinycnn") is entry
    fresh: Registry[int] = Registry("thing")
    fresh.register("a", 1)
    with pytest.raises(ValueError, match="thing 'a' is already registered"):
        fresh.register("a", 2)
    with pytest.raises(UnknownNameError, match="Unknown thing 'b'. Valid: a"):
        fresh.get("b")


def test_source_lists_models_by_pattern() -> None:
    listed = SOURCES.get("torchvision").list_models("resnet*")
    assert "resnet18" in listed and "resnet50" in listed
    assert all(name.startswith("resnet") for name in listed)


# --- offline: pretrained weights that cannot be fetched ------------------------------------------

def _no_network(*args, **kwargs):
    raise urllib.error.URLError("[Errno -2] Name or service not known")


def test_torchvision_weights_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.models._api as tv_api

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", _no_network)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _no_network)
    with pytest.raises(WeightsError) as info:
        create_backbone("torchvision:resnet18", weights="imagenet")
    message = str(info.value)
    assert "torchvision:resnet18" in message and "Name or service not known" in message
    assert torch.hub.get_dir() in message and "resnet18-f37072fd.pth" in message  # the cache path
    assert "--weights" in message


def test_timm_weights_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    import timm.models._builder as builder

    monkeypatch.setattr(builder, "load_state_dict_from_hf", _no_network)
    monkeypatch.setattr(builder, "load_state_dict_from_url", _no_network)
    monkeypatch.setattr(builder, "download_cached_file", _no_network)
    monkeypatch.setenv("HF_HUB_CACHE", "/nonexistent/hf-cache")
    with pytest.raises(WeightsError, match=r"timm:resnet18.*Name or service not known.*/nonexistent/hf-cache.*--weights"):
        create_backbone("timm:resnet18", weights="imagenet")


def test_timm_model_without_pretrained_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_weights(*args, **kwargs):
        raise RuntimeError("No pretrained weights exist for this model. Use `pretrained=False` for random init.")

    monkeypatch.setattr(timm, "create_model", no_weights)
    with pytest.raises(WeightsError, match=r"timm has no pretrained weights for timm:resnet18\. Use --weights none"):
        create_backbone("timm:resnet18", weights="imagenet")


def test_tinycnn_has_no_imagenet_weights() -> None:
    with pytest.raises(WeightsError, match="tinycnn has no ImageNet weights.*--weights none"):
        create_backbone("tinycnn", weights="imagenet")
