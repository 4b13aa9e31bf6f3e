"""RunConfig: defaults in one place, YAML applied, then flags; unknown keys and wrong types are errors."""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from headstart.config import RunConfig, config_from_dict, load_config
from headstart.errors import ConfigError


def test_defaults() -> None:
    config = RunConfig()
    assert config.model == "efficientnet_lite0" and config.weights == "imagenet"
    assert config.strategy == "auto" and config.head_fit == "converge" and config.augment == "light" and config.head == "linear"
    assert (config.epochs, config.head_epochs, config.lr, config.batch_size) == (5, 2, 1e-3, 32)
    assert config.finetune_lr_factor == 0.1 and config.val_fraction == 0.2
    assert config.seed == 0 and config.output_dir == "runs" and config.name is None
    assert config.gradual is False and config.strict is False


def test_yaml_overrides_only_the_keys_it_names(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("data: photos/\nmodel: torchvision:resnet18\nepochs: 3\nlr: 3e-4\nweight_decay: 0\nlayer_decay: 0.7\n")
    config = load_config(path)
    assert (config.data, config.model, config.epochs) == ("photos/", "torchvision:resnet18", 3)
    assert config.lr == pytest.approx(3e-4) and isinstance(config.lr, float)  # YAML reads 3e-4 as text
    assert config.weight_decay == 0.0 and isinstance(config.weight_decay, float)  # int accepted for float
    assert config.layer_decay == 0.7
    assert config.batch_size == RunConfig().batch_size  # untouched keys keep their defaults


def test_saved_config_round_trips(tmp_path: Path) -> None:
    config = RunConfig(data="x", model="tinycnn", lr=2.5e-5, layer_decay=0.75, name="a", devices=2)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    assert load_config(path) == config


def test_a_runs_resolved_runtime_is_accepted_and_ignored(tmp_path: Path) -> None:
    """A run's config.yaml records how it ran; running that config elsewhere resolves it anew."""
    config = RunConfig(data="x", model="tinycnn", precision="32-true")
    path = tmp_path / "config.yaml"
    recorded = {"accelerator": "cpu", "devices": 1, "precision": "32-true", "channels_last": True, "num_workers": 2}
    path.write_text(yaml.safe_dump({**config.to_dict(), "resolved_runtime": recorded}, sort_keys=False))
    assert load_config(path) == config
    with pytest.raises(ConfigError, match="resolved_runtim"):  # only that exact key
        config_from_dict({"resolved_runtim": {}})


def test_empty_yaml_is_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config(path) == RunConfig()


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("epochz: 3\n")
    with pytest.raises(ConfigError, match=r"exp\.yaml: unknown key 'epochz'\. Did you mean 'epochs'\?"):
        load_config(path)


def test_unknown_key_without_a_close_match_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'zzz'\. Valid keys: data, val_data") as info:
        config_from_dict({"zzz": 1})
    assert all(f.name in str(info.value) for f in fields(RunConfig))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("epochs", "three", r"'epochs' must be int, got 'three'"),
        ("epochs", 2.5, r"'epochs' must be int, got 2\.5"),
        ("epochs", True, r"'epochs' must be int, got True"),  # a bool is not a number here
        ("batch_size", None, r"'batch_size' must be int, got None"),
        ("gradual", "yes please", r"'gradual' must be bool"),
        ("gradual", 1, r"'gradual' must be bool, got 1"),
        ("layer_decay", "steep", r"'layer_decay' must be float or null, got 'steep'"),
        ("model", 18, r"'model' must be str, got 18"),
        ("lr", "fast", r"lr \(--lr\) must be a finite number > 0 or 'auto', got 'fast'"),
        ("lr", [1e-3], r"'lr' must be float or str"),
    ],
)
def test_wrong_types_name_the_key(tmp_path: Path, key: str, value: object, message: str) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({key: value}))
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_lr_auto_and_optional_fields() -> None:
    config = config_from_dict({"lr": "auto", "layer_decay": None, "devices": "auto", "limit_train_batches": 0.5})
    assert config.lr == "auto" and config.layer_decay is None and config.limit_train_batches == 0.5


def test_updated_ignores_none_and_checks_types() -> None:
    base = RunConfig(epochs=7, model="tinycnn")
    new = base.updated(epochs=None, model=None, batch_size=8, gradual=True)
    assert (new.epochs, new.model, new.batch_size, new.gradual) == (7, "tinycnn", 8, True)
    assert base.batch_size == 32  # a copy: the original is unchanged
    with pytest.raises(ConfigError, match=r"command line: 'epochs' must be int"):
        base.updated(epochs="many")
    with pytest.raises(ConfigError, match=r"command line: unknown key 'epoch'\. Did you mean 'epochs'"):
        base.updated(epoch=3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epochs: [1\n", r"is not valid YAML"),
        ("- a\n- b\n", r"must hold a mapping of keys to values"),
    ],
)
def test_unreadable_config_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml.*does not exist"):
        load_config(tmp_path / "nope.yaml")
