"""Loading image datasets (folders, CSV), decoding, and the Lightning data module."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from headstart.backbones.data_config import DataConfig
from headstart.data import (
    ImageDataModule,
    ImageDataset,
    load_image_dataset,
    read_image_rgb,
    stratified_split,
)
from headstart.data.image_datamodule import default_num_workers
from headstart.errors import ConfigError, DataError


def make_image(path: Path, color=(200, 30, 30), size=(20, 16), mode="RGB", fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, format=fmt)
    return path


def make_class_folders(root: Path, counts: dict[str, int], ext: str = ".jpg") -> Path:
    for i, (name, n) in enumerate(sorted(counts.items())):
        for j in range(n):
            make_image(root / name / f"{name}_{j}{ext}", color=(40 * i, 10 * j, 90))
    return root


# --- layouts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("val_name", ["val", "valid", "validation"])
def test_train_val_folders(tmp_path, val_name):
    make_class_folders(tmp_path / "train", {"cat": 3, "dog": 2})
    make_class_folders(tmp_path / val_name, {"cat": 1, "dog": 2}, ext=".png")
    split = load_image_dataset(tmp_path)
    assert split.classes == ["cat", "dog"]
    assert sorted(label for _, label in split.train) == [0, 0, 0, 1, 1]
    assert sorted(label for _, label in split.val) == [0, 1, 1]
    assert all(os.path.isabs(p) and Path(p).exists() for p, _ in split.train + split.val)
    assert all(f"{os.sep}{val_name}{os.sep}" in p for p, _ in split.val)
    assert split.skipped == []


def test_class_folders_stratified_split_is_seeded(tmp_path):
    make_class_folders(tmp_path, {"a": 10, "b": 10, "c": 2, "d": 1})
    split = load_image_dataset(tmp_path, val_fraction=0.2, seed=0)
    assert split.classes == ["a", "b", "c", "d"]
    assert split.class_counts("val") == {"a": 2, "b": 2, "c": 1, "d": 0}
    assert split.class_counts("train") == {"a": 8, "b": 8, "c": 1, "d": 1}
    assert not set(split.train) & set(split.val)
    again = load_image_dataset(tmp_path, val_fraction=0.2, seed=0)
    assert (again.train, again.val) == (split.train, split.val)
    other = load_image_dataset(tmp_path, val_fraction=0.2, seed=1)
    assert set(other.val) != set(split.val)


def test_split_of_one_class_does_not_depend_on_other_classes():
    items = [f"a{i}" for i in range(10)] + [f"b{i}" for i in range(10)]
    labels = ["a"] * 10 + ["b"] * 10
    _, val = stratified_split(items, labels, 0.3, seed=3)
    _, val_a_only = stratified_split(items[:10], labels[:10], 0.3, seed=3)
    assert [v for v in val if v.startswith("a")] == val_a_only


def test_only_train_folder_is_split(tmp_path):
    make_class_folders(tmp_path / "train", {"x": 5, "y": 5})
    split = load_image_dataset(tmp_path, val_fraction=0.4)
    assert split.class_counts("val") == {"x": 2, "y": 2}


def test_scan_is_recursive_case_insensitive_and_ignores_other_files(tmp_path):
    make_image(tmp_path / "a" / "one.JPG")
    make_image(tmp_path / "a" / "sub" / "two.PNG", fmt="PNG")
    make_image(tmp_path / "a" / ".hidden.jpg")
    make_image(tmp_path / "b" / "three.jpeg", fmt="JPEG")
    make_image(tmp_path / "b" / "four.webp", fmt="WEBP")
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    make_class_folders(tmp_path / ".ipynb_checkpoints", {"junk": 2})
    split = load_image_dataset(tmp_path, val_fraction=0.5)
    names = sorted(Path(p).name for p, _ in split.train + split.val)
    assert names == ["four.webp", "one.JPG", "three.jpeg", "two.PNG"]
    assert split.classes == ["a", "b"]


def test_csv_with_split_column(tmp_path):
    for i in range(3):
        make_image(tmp_path / "imgs" / f"r{i}.jpg")
    absolute = make_image(tmp_path / "elsewhere" / "abs.png", fmt="PNG")
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text(
        "Path,Label,split\n"
        "imgs/r0.jpg,red,train\n"
        "imgs/r1.jpg,blue,train\n"
        f"{absolute},red,val\n"
        "imgs/r2.jpg,blue,VAL\n"
        "imgs/r2.jpg,red,test\n"
        "\n"
    )
    split = load_image_dataset(csv_path)
    assert split.classes == ["blue", "red"]
    assert [(Path(p).name, y) for p, y in split.train] == [("r0.jpg", 1), ("r1.jpg", 0)]
    assert [(Path(p).name, y) for p, y in split.val] == [("abs.png", 1), ("r2.jpg", 0)]


def test_csv_without_split_is_stratified_and_val_path_csv(tmp_path):
    rows = ["path,label"]
    for i in range(8):
        make_image(tmp_path / f"{i}.png", fmt="PNG")
        rows.append(f"{i}.png,{'even' if i % 2 == 0 else 'odd'}")
    (tmp_path / "all.csv").write_text("\n".join(rows) + "\n")
    split = load_image_dataset(tmp_path / "all.csv", val_fraction=0.25)
    assert split.class_counts("val") == {"even": 1, "odd": 1}
    assert split.class_counts("train") == {"even": 3, "odd": 3}

    (tmp_path / "val.csv").write_text("path,label\n0.png,odd\n")
    with_val = load_image_dataset(tmp_path / "all.csv", val_path=tmp_path / "val.csv")
    assert len(with_val.train) == 8 and with_val.val == [(str(tmp_path / "0.png"), 1)]


def test_val_path_folder(tmp_path):
    make_class_folders(tmp_path / "data", {"a": 2, "b": 2})
    make_class_folders(tmp_path / "holdout", {"b": 1})
    split = load_image_dataset(tmp_path / "data", val_path=tmp_path / "holdout")
    assert len(split.train) == 4 and [y for _, y in split.val] == [1]


# --- errors ----------------------------------------------------------------------------------

def test_missing_path(tmp_path):
    with pytest.raises(DataError, match=r"'.*nowhere' does not exist"):
        load_image_dataset(tmp_path / "nowhere")


def test_no_images(tmp_path):
    with pytest.raises(DataError, match="no images found in"):
        load_image_dataset(tmp_path)


def test_images_without_class_folders(tmp_path):
    make_image(tmp_path / "loose.jpg")
    with pytest.raises(DataError, match="no class subfolders"):
        load_image_dataset(tmp_path)


def test_empty_class_folder(tmp_path):
    make_class_folders(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "c").mkdir()
    with pytest.raises(DataError, match=r"class folder .*c has no images; add images"):
        load_image_dataset(tmp_path)


def test_only_one_class(tmp_path):
    make_class_folders(tmp_path, {"solo": 3})
    with pytest.raises(DataError, match=r"only 1 class \('solo'\).*at least 2"):
        load_image_dataset(tmp_path)


def test_val_label_missing_from_train(tmp_path):
    make_class_folders(tmp_path / "train", {"a": 2, "b": 2})
    make_class_folders(tmp_path / "val", {"a": 1, "zebra": 1})
    with pytest.raises(DataError, match="val label 'zebra' is not a training class"):
        load_image_dataset(tmp_path)


def test_val_folder_without_train(tmp_path):
    make_class_folders(tmp_path / "val", {"a": 1, "b": 1})
    with pytest.raises(DataError, match="no 'train/' folder"):
        load_image_dataset(tmp_path)


def test_csv_missing_column_lists_found_columns(tmp_path):
    (tmp_path / "x.csv").write_text("file_name,kind\na.jpg,cat\n")
    with pytest.raises(DataError, match=r"no 'path' column \(found columns: file_name, kind\)"):
        load_image_dataset(tmp_path / "x.csv")
    (tmp_path / "y.csv").write_text("path,kind\na.jpg,cat\n")
    with pytest.raises(DataError, match=r"no 'label' column \(found columns: path, kind\)"):
        load_image_dataset(tmp_path / "y.csv")


def test_csv_bad_row_names_row(tmp_path):
    make_image(tmp_path / "a.jpg")
    (tmp_path / "x.csv").write_text("path,label\na.jpg,cat\na.jpg\n")
    with pytest.raises(DataError, match=r"x.csv row 3: expected 2 values"):
        load_image_dataset(tmp_path / "x.csv")
    (tmp_path / "y.csv").write_text("path,label\na.jpg,cat\n,dog\n")
    with pytest.raises(DataError, match=r"y.csv row 3: empty 'path'"):
        load_image_dataset(tmp_path / "y.csv")
    (tmp_path / "z.csv").write_text("path,label,split\na.jpg,cat,holdout\n")
    with pytest.raises(DataError, match=r"z.csv row 2: split 'holdout' is not one of"):
        load_image_dataset(tmp_path / "z.csv")


def test_csv_path_that_does_not_exist(tmp_path):
    make_image(tmp_path / "a.jpg")
    (tmp_path / "x.csv").write_text("path,label\na.jpg,cat\nmissing.jpg,dog\ngone.jpg,dog\n")
    with pytest.raises(DataError, match=r"row 3: image 'missing.jpg' not found \(and 1 more\)"):
        load_image_dataset(tmp_path / "x.csv")


def test_bad_val_fraction(tmp_path):
    make_class_folders(tmp_path, {"a": 2, "b": 2})
    with pytest.raises(ConfigError, match="val_fraction=1.5"):
        load_image_dataset(tmp_path, val_fraction=1.5)


def test_no_validation_images(tmp_path):
    make_class_folders(tmp_path, {"a": 1, "b": 1})
    with pytest.raises(DataError, match="no validation images"):
        load_image_dataset(tmp_path)


# --- corrupt files ---------------------------------------------------------------------------

def test_corrupt_files_are_skipped_with_warning_or_raise_when_strict(tmp_path):
    make_class_folders(tmp_path, {"a": 3, "b": 3})
    (tmp_path / "a" / "broken.jpg").write_bytes(b"this is not a jpeg")
    (tmp_path / "b" / "empty.png").write_bytes(b"")
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable image file\(s\).*broken.jpg"):
        split = load_image_dataset(tmp_path)
    assert sorted(Path(p).name for p, _ in split.skipped) == ["broken.jpg", "empty.png"]
    assert all(reason for _, reason in split.skipped)
    assert len(split.train) + len(split.val) == 6
    with pytest.raises(DataError, match=r"broken.jpg is not a readable image"):
        load_image_dataset(tmp_path, strict=True)


def test_class_with_only_corrupt_files(tmp_path):
    make_class_folders(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x.jpg").write_bytes(b"junk")
    with pytest.raises(DataError, match="class 'c' has no readable"):
        load_image_dataset(tmp_path)


# --- decoding --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name, mode, color, fmt",
    [
        ("gray.jpg", "L", 128, "JPEG"),
        ("rgba.png", "RGBA", (10, 20, 30, 0), "PNG"),
        ("gray.png", "L", 77, "PNG"),
        ("deep.png", "I;16", 3000, "PNG"),
        ("pal.gif", "P", 3, "GIF"),
        ("pic.bmp", "RGB", (1, 2, 3), "BMP"),
        ("pic.tiff", "RGB", (4, 5, 6), "TIFF"),
        ("actually_png.jpg", "RGB", (9, 8, 7), "PNG"),
    ],
)
def test_read_image_rgb_gives_three_uint8_channels(tmp_path, name, mode, color, fmt):
    path = make_image(tmp_path / name, color=color, size=(12, 10), mode=mode, fmt=fmt)
    image = read_image_rgb(path)
    assert image.dtype == torch.uint8 and tuple(image.shape) == (3, 10, 12)


def test_torchvision_and_pil_paths_agree(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 255, (10, 12, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    Image.fromarray(pixels).save(tmp_path / "a.bmp")  # BMP is decoded by PIL
    assert torch.equal(read_image_rgb(tmp_path / "a.png"), read_image_rgb(tmp_path / "a.bmp"))
    expected = torch.from_numpy(pixels).permute(2, 0, 1)
    assert torch.equal(read_image_rgb(tmp_path / "a.png"), expected)


def test_unreadable_file_at_load_time_raises_data_error(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(DataError, match=r"cannot decode image .*bad.png"), pytest.warns(UserWarning, match="skipped unreadable"):
        ImageDataset([(str(tmp_path / "bad.png"), 0)])[0]  # no readable image left to stand in for it


# --- data module -----------------------------------------------------------------------------

def tiny_config() -> DataConfig:
    return DataConfig(input_size=(3, 16, 16), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def test_datamodule_batches(tmp_path):
    make_class_folders(tmp_path, {"a": 6, "b": 5})
    split = load_image_dataset(tmp_path, val_fraction=0.3)  # 6*0.3 -> 2, 5*0.3 = 1.5 -> 2
    dm = ImageDataModule(split, tiny_config(), batch_size=4)
    assert dm.classes == ["a", "b"] and dm.num_classes == 2 and dm.num_workers == 0
    assert dm.class_counts() == {"a": 4, "b": 3}
    assert len(dm.train_dataset) == 7 and len(dm.val_dataset) == 4
    batches = list(dm.train_dataloader())
    assert [tuple(x.shape) for x, _ in batches] == [(4, 3, 16, 16)]  # 7 images: last 3 dropped
    assert all(y.dtype == torch.int64 for _, y in batches)
    x, y = next(iter(dm.val_dataloader()))
    assert tuple(x.shape) == (4, 3, 16, 16) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1


def test_datamodule_drop_last_only_when_larger_than_batch(tmp_path):
    make_class_folders(tmp_path, {"a": 4, "b": 4})
    split = load_image_dataset(tmp_path, val_fraction=0.25)  # 6 train

    def batch_sizes(batch_size: int) -> list[int]:
        dm = ImageDataModule(split, tiny_config(), batch_size=batch_size)
        return [len(y) for _, y in dm.train_dataloader()]

    assert batch_sizes(4) == [4]
    assert batch_sizes(8) == [6]


def test_datamodule_shuffle_is_seeded(tmp_path):
    make_class_folders(tmp_path, {"a": 8, "b": 8})
    split = load_image_dataset(tmp_path)

    def two_epochs(seed: int) -> list[list[int]]:
        dm = ImageDataModule(split, tiny_config(), batch_size=32, seed=seed)
        dm.train_dataset.transform = None  # raw pixels identify the images
        return [(x[:, 0, 0, 0].int() * 1000 + x[:, 1, 0, 0]).tolist()
                for _ in range(2) for x, _ in dm.train_dataloader()]

    first = two_epochs(0)
    assert first == two_epochs(0)
    assert first != two_epochs(1)
    assert first[0] != first[1]  # the second epoch is reshuffled


def test_datamodule_rejects_bad_sizes(tmp_path):
    make_class_folders(tmp_path, {"a": 2, "b": 2})
    split = load_image_dataset(tmp_path)
    with pytest.raises(ConfigError, match="batch_size=0"):
        ImageDataModule(split, tiny_config(), batch_size=0)
    with pytest.raises(ConfigError, match="num_workers=-1"):
        ImageDataModule(split, tiny_config(), num_workers=-1)


def test_default_num_workers(monkeypatch):
    assert default_num_workers(10) == 0
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert default_num_workers(1000) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert default_num_workers(1000) == 4
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert default_num_workers(1000) == 0
