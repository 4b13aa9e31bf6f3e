"""``hs.train`` from every kind of data, then predict, export and serve from the run it wrote.

Tiny on purpose: ``tinycnn`` at 32 px / ``tinybert``, one fine-tune epoch on 3 x 8 images or 24 texts.
Every source must give a complete run folder: the same checks run on each.
"""
from __future__ import annotations

import inspect
import io
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

import headstart as hs
from headstart.errors import ConfigError, RunError
from headstart.export.predictor import Predictor
from headstart.export.serve import create_app, serve_in_background

CLASSES = ["blue", "green", "red"]
COLOURS = {"red": (210, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 210)}
TINY = dict(model="tinycnn", weights="none", image_size=32, batch_size=8, num_workers=0, strategy="fine-tune",
            epochs=1, progress=False)
TEXT_TINY = dict(model="tinybert", weights="none", batch_size=8, num_workers=0, strategy="fine-tune", epochs=1,
                 progress=False)
WORDS = {"pos": ["great", "love", "superb"], "neg": ["awful", "hate", "boring"]}


def colour_images(per_class: int = 8, seed: int = 0) -> list[tuple[np.ndarray, str]]:
    rng = np.random.default_rng(seed)
    return [(np.clip(np.array(COLOURS[c]) + rng.normal(0, 25, (20, 24, 3)), 0, 255).astype(np.uint8), c)
            for c in CLASSES for _ in range(per_class)]


def texts(rows: int = 24) -> list[tuple[str, str]]:
    return [(f"the film was {WORDS[lab][i % 3]} really", lab) for i in range(rows) for lab in [("pos", "neg")[i % 2]]]


class ColourDataset(torch.utils.data.Dataset):
    """A torch Dataset of (CHW float tensor in [0, 1], class index), with a ``classes`` attribute."""

    classes = CLASSES

    def __init__(self, pairs):
        self.pairs = pairs

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        array, label = self.pairs[i]
        return torch.from_numpy(array).permute(2, 0, 1).float() / 255, CLASSES.index(label)


def _folder(root: Path, pairs) -> Path:
    for i, (array, label) in enumerate(pairs):
        (root / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(root / label / f"{i}.png")
    return root


def _source(kind: str, tmp: Path):
    """(data for hs.train, extra keywords, one input to predict)."""
    pairs = colour_images()
    if kind == "path":
        return str(_folder(tmp / "images", pairs)), {}, pairs[0][0]
    if kind == "dataframe":
        import pandas as pd

        folder = _folder(tmp / "images", pairs)
        paths = sorted(str(p) for p in folder.rglob("*.png"))
        return pd.DataFrame({"path": paths, "label": [Path(p).parent.name for p in paths]}), {}, paths[0]
    if kind == "pairs":
        return [(Image.fromarray(a), label) for a, label in pairs], {}, Image.fromarray(pairs[0][0])
    if kind == "hf":
        datasets = pytest.importorskip("datasets")
        features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=CLASSES)})
        ds = datasets.Dataset.from_dict({"image": [Image.fromarray(a) for a, _ in pairs],
                                         "label": [CLASSES.index(c) for _, c in pairs]}, features=features)
        return ds, {}, torch.from_numpy(pairs[0][0])  # HWC tensor
    if kind == "torch":
        return ColourDataset(pairs), {}, ColourDataset(pairs)[0][0]  # CHW float tensor
    if kind == "text-dataframe":
        import pandas as pd

        rows = texts()
        return pd.DataFrame({"review": [t for t, _ in rows], "label": [y for _, y in rows]}), \
            {"text_column": "review"}, "I love it"
    if kind == "text-pairs":
        return texts(), {}, "awful film"
    if kind == "text-hf":
        datasets = pytest.importorskip("datasets")
        rows = texts()
        ds = datasets.Dataset.from_dict({"text": [t for t, _ in rows], "label": [int(y == "pos") for _, y in rows]},
                                        features=datasets.Features({"text": datasets.Value("string"),
                                                                    "label": datasets.ClassLabel(names=["neg", "pos"])}))
        return ds, {}, "superb"
    raise AssertionError(kind)


def _serve_label(run_dir: Path, item, text: bool) -> str:
    with serve_in_background(create_app(Predictor.from_run(run_dir, device="cpu"))) as url:
        if text:
            response = httpx.post(f"{url}/predict", json={"texts": [item]}, timeout=60)
        else:
            buffer = io.BytesIO()
            Image.fromarray(item).save(buffer, "PNG")
            response = httpx.post(f"{url}/predict", files=[("file", ("x.png", buffer.getvalue(), "image/png"))], timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["predictions"][0]["label"]


@pytest.mark.parametrize("kind", ["path", "dataframe", "pairs", "hf", "torch", "text-dataframe", "text-pairs", "text-hf"])
def test_train_from_each_source_then_predict_export_serve(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    text = kind.startswith("text")
    data, extra, one = _source(kind, tmp_path)
    options = {**(TEXT_TINY if text else TINY), **extra}
    run = hs.train(data, output_dir=str(tmp_path / "runs"), name=kind, **options)

    # a complete run folder
    for name in ("config.yaml", "model.json", "model.safetensors", "metrics.json", "val_predictions.json", "report.html"):
        assert (run.run_dir / name).is_file(), name
    assert run.classes == (["neg", "pos"] if text else CLASSES)
    assert 0.0 <= run.metrics["val_accuracy"] <= 1.0 and run.report_path == run.run_dir / "report.html"
    assert isinstance(run.model, torch.nn.Module)
    recorded = (run.run_dir / "config.yaml").read_text()
    assert ("data: <" in recorded) == (kind != "path")  # in-memory data is described, not a path

    # val_predictions inputs are files (images) or texts, so the gallery and export parity can read them
    items = json.loads((run.run_dir / "val_predictions.json").read_text())["items"]
    if not text:
        assert all(Path(i["input"]).is_file() for i in items)

    # predict: one input gives a dict, in memory and after loading from disk
    result = run.predict(one)
    assert result["label"] in run.classes
    assert hs.load(run.run_dir).predict(one)["label"] == result["label"]

    # export (parity-checked) and the hf folder, which loads back
    assert run.export("torchscript").is_file()
    hf = run.export("hf")
    assert hs.load(hf).predict(one)["label"] == result["label"]

    # serve answers what predict answers
    served_input = one if text else colour_images(1)[0][0]
    assert _serve_label(run.run_dir, served_input, text) == run.predict(served_input)["label"]

    # evaluate on the same kind of data
    assert 0.0 <= run.evaluate(data, **({"text_column": extra["text_column"]} if extra else {}))["accuracy"] <= 1.0


def test_report_and_compare_accept_in_memory_runs(tmp_path, monkeypatch):
    from headstart.report.compare import compare_runs

    pairs = [(Image.fromarray(a), c) for a, c in colour_images()]
    a = hs.train(pairs, output_dir=str(tmp_path), name="a", **TINY)
    b = hs.train(ColourDataset(colour_images(seed=1)), output_dir=str(tmp_path), name="b", **TINY)
    # the gallery shows the validation images written into RUN/val_images/: force a mistake, re-render
    from headstart.report.html import write_report

    predictions_path = a.run_dir / "val_predictions.json"
    predictions = json.loads(predictions_path.read_text())
    first = predictions["items"][0]
    assert Path(first["input"]).parent == a.run_dir / "val_images"
    first["pred"], first["confidence"] = (first["label"] + 1) % 3, 0.99
    predictions_path.write_text(json.dumps(predictions))
    html = Path(write_report(a.run_dir)).read_text()
    assert f'alt="{Path(first["input"]).name}"' in html and "image not found" not in html
    assert [row["run"] for row in compare_runs([a.run_dir, b.run_dir])] == ["a", "b"]
    assert a.export("onnx").is_file()


def test_predict_accepts_every_image_kind(tmp_path):
    array, _ = colour_images(1)[0]
    path = tmp_path / "x.png"
    Image.fromarray(array).save(path)
    run = hs.train(str(_folder(tmp_path / "d", colour_images())), output_dir=str(tmp_path), name="p", **TINY)
    expected = run.predict_proba([str(path)])[0]
    singles = [str(path), path, Image.fromarray(array), array, torch.from_numpy(array),
               torch.from_numpy(array).permute(2, 0, 1), torch.from_numpy(array).permute(2, 0, 1).float() / 255]
    for item in singles:
        assert run.predict(item)["label"] == run.classes[int(expected.argmax())], type(item)
        np.testing.assert_allclose(run.predict_proba(item)[0], expected, atol=1e-5)
    mixed = run.predict(singles)
    assert isinstance(mixed, list) and len(mixed) == len(singles)
    assert len(run.predict(torch.zeros(2, 3, 32, 32))) == 2  # a 4-D tensor is a batch
    with pytest.raises(hs.DataError, match="normalised"):
        run.predict(torch.full((3, 8, 8), -1.0))


def test_unknown_keyword_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="'epoch'.*Did you mean 'epochs'"):
        hs.train("somewhere", epoch=3)


def test_signature_and_help_come_from_the_option_metadata():
    from headstart.config import RunConfig, option_help

    params = inspect.signature(hs.train).parameters
    for name, spec in option_help().items():
        if spec["cli"] and name not in ("data", "val_data"):
            assert params[name].default == getattr(RunConfig(), name)
            assert spec["help"] in hs.train.__doc__
    assert "progress" in params and "resume" in params


def test_version_and_lazy_import():
    import subprocess
    import sys

    from importlib.metadata import version

    code = "import sys, headstart; print(headstart.__version__); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [version("headstart"), "False"]  # import headstart stays light: torch loads on first use


def test_progress_false_prints_nothing(tmp_path, capfd):
    hs.train([(Image.fromarray(a), c) for a, c in colour_images()], output_dir=str(tmp_path), name="q", **TINY)
    out, err = capfd.readouterr()
    assert out == ""
    assert "GPU available" not in err and "Epoch" not in err


def test_config_of_an_in_memory_run_is_a_clear_error_and_resume_needs_the_data(tmp_path):
    from headstart.cli import main

    pairs = [(Image.fromarray(a), c) for a, c in colour_images()]
    run = hs.train(pairs, output_dir=str(tmp_path), name="mem", **TINY)
    assert main(["train", "--config", str(run.run_dir / "config.yaml")]) == 2
    with pytest.raises(ConfigError, match="in-memory"):
        hs.train(None, resume=run.run_dir)
    with pytest.raises(ConfigError, match="trained on <list 24 items>"):
        hs.train(pairs[:20], resume=run.run_dir)
    resumed = hs.train(pairs, resume=run.run_dir, progress=False)
    assert resumed.run_dir == run.run_dir


def test_load_of_a_non_run_folder_names_it(tmp_path):
    with pytest.raises(RunError, match="neither model.json"):
        hs.load(tmp_path)


def test_separate_validation_data_in_memory(tmp_path):
    train = [(Image.fromarray(a), c) for a, c in colour_images()]
    val = [(a, c) for a, c in colour_images(per_class=2, seed=3)]  # numpy arrays this time
    run = hs.train(train, val_data=val, output_dir=str(tmp_path), name="v", **TINY)
    assert (run.metrics["train_size"], run.metrics["val_size"]) == (24, 6)
    assert "val_data: <list 6 items>" in (run.run_dir / "config.yaml").read_text()
    with pytest.raises(ConfigError, match="val_data 'photos/' is a path but data is in memory"):
        hs.train(train, val_data="photos/", output_dir=str(tmp_path), **TINY)

