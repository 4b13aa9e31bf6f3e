"""In-memory data sources and image inputs: what each kind becomes, and the errors that name the fix."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from headstart.data.inputs import image_tensor, is_single_image
from headstart.data.sources import data_source, is_memory_description
from headstart.errors import ConfigError, DataError


def _pil(value: int = 100) -> Image.Image:
    return Image.new("RGB", (6, 4), (value, value, value))


def test_every_image_kind_gives_the_same_uint8_chw_tensor(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    path = tmp_path / "x.png"
    Image.fromarray(array).save(path)
    expected = torch.from_numpy(array).permute(2, 0, 1)
    kinds = [str(path), path, path.read_bytes(), Image.fromarray(array), array, torch.from_numpy(array),
             expected, expected.float() / 255]
    for item in kinds:
        out = image_tensor(item)
        assert out.dtype == torch.uint8 and torch.equal(out, expected), type(item)
    assert image_tensor(np.zeros((4, 6), np.uint8)).shape == (3, 4, 6)  # grey -> 3 channels
    assert image_tensor(Image.fromarray(array).convert("RGBA")).shape == (3, 4, 6)


def test_bad_image_arrays_name_the_problem():
    with pytest.raises(DataError, match=r"\[0, 1\].*normalised"):
        image_tensor(torch.randn(3, 8, 8) * 3)
    with pytest.raises(DataError, match="no channel axis"):
        image_tensor(np.zeros((5, 6, 7), np.uint8))
    with pytest.raises(DataError, match="2 or 3 dimensions"):
        image_tensor(np.zeros((1, 2, 3, 4, 5), np.uint8))


def test_single_or_batch():
    assert is_single_image("a.jpg") and is_single_image(np.zeros((4, 4, 3))) and is_single_image(_pil())
    assert not is_single_image(["a.jpg"]) and not is_single_image(torch.zeros(2, 3, 4, 4))


def test_dataframe_paths_and_texts(tmp_path):
    pd = pytest.importorskip("pandas")
    for i in range(4):
        _pil(i * 60).save(tmp_path / f"{i}.png")
    df = pd.DataFrame({"file": [str(tmp_path / f"{i}.png") for i in range(4)], "label": ["a", "b", "a", "b"]})
    source = data_source(df)
    assert source.kind == "path" and source.classes == ["a", "b"] and source.description == "<DataFrame 4 rows>"
    text = data_source(pd.DataFrame({"review": ["good", "bad", "fine", "meh"], "stars": [1, 0, 1, 0]}),
                       text_column="review", label_column="stars")
    assert text.kind == "text" and text.classes == ["0", "1"]
    with pytest.raises(DataError, match="no label column 'label'.*label_column"):
        data_source(pd.DataFrame({"path": ["x"], "y": [1]}))
    with pytest.raises(DataError, match="not found"):
        data_source(pd.DataFrame({"path": ["missing.png", "m2.png"], "label": ["a", "b"]}))


def test_pairs_with_integer_labels_and_class_names():
    source = data_source([(_pil(), 0), (_pil(), 1), (_pil(), 1)], classes=["cat", "dog"])
    assert source.kind == "image" and [y for _, y in source.items] == ["cat", "dog", "dog"]
    with pytest.raises(DataError, match="out of range"):
        data_source([(_pil(), 0), (_pil(), 5)], classes=["cat", "dog"])
    with pytest.raises(DataError, match="single class"):
        data_source([(_pil(), "cat"), (_pil(), "cat")])
    with pytest.raises(DataError, match="not an \\(input, label\\) pair"):
        data_source([_pil(), _pil()])
    assert data_source([("so good", "pos"), ("so bad", "neg")]).kind == "text"


def test_torch_dataset_needs_class_names():
    dataset = torch.utils.data.TensorDataset(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 0, 1]))
    with pytest.raises(ConfigError, match="classes=\\["):
        data_source(dataset)
    source = data_source(dataset, classes=["x", "y"])
    assert source.kind == "image" and repr(source.items[2][0]) == "item 2"
    assert image_tensor(source.items[0][0]).shape == (3, 8, 8)  # read lazily, on demand


def test_modality_mismatch_and_descriptions():
    source = data_source([("so good", "pos"), ("so bad", "neg")])
    with pytest.raises(DataError, match="holds texts, but the model takes image inputs"):
        source.split("image")
    assert is_memory_description(source.description) and not is_memory_description("photos/")
    with pytest.raises(ConfigError, match="Cannot train from a int"):
        data_source(3)
