"""Images that break: truncated JPEGs found up front (even with 64+ files, loader workers), files
that break after the check stand-in at load time, decompression bombs, repeated CSV rows."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from headstart.data.images import ImageDataset, check_image_file, load_image_dataset, read_image_rgb
from headstart.errors import DataError

from ..broken_files import huge_png


def _jpeg(path: Path, color: tuple[int, int, int], size=(48, 40)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, "JPEG")
    return path


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _dataset(root: Path, per_class: int) -> Path:
    for c, color in (("ants", (200, 40, 40)), ("bees", (40, 40, 200))):
        for i in range(per_class):
            _jpeg(root / c / f"{c}_{i}.jpg", color)
    return root


def test_truncated_jpeg_is_found_by_the_check_though_its_header_is_fine(tmp_path):
    path = _truncate(_jpeg(tmp_path / "cut.jpg", (10, 200, 10), size=(320, 240)))
    with Image.open(path) as image:
        image.verify()  # headers alone pass: that is why the check decodes
    assert "corrupt image" in check_image_file(path)
    assert check_image_file(_jpeg(tmp_path / "whole.jpg", (10, 200, 10))) is None


def test_truncated_jpeg_among_64_images_is_skipped_before_training(tmp_path):
    root = _dataset(tmp_path / "data", 33)
    _truncate(root / "ants" / "ants_5.jpg")
    with pytest.warns(UserWarning, match="skipped 1 unreadable image file.*ants_5.jpg"):
        split = load_image_dataset(root)
    assert [Path(p).name for p, _ in split.skipped] == ["ants_5.jpg"]
    assert len(split.train) + len(split.val) == 65


def test_file_that_breaks_after_the_check_is_replaced_in_loader_workers(tmp_path):
    root = _dataset(tmp_path / "data", 40)
    split = load_image_dataset(root, val_fraction=0.2)
    broken = split.train[3][0]
    _truncate(Path(broken))  # e.g. overwritten while training
    dataset = ImageDataset(split.train)
    loader = DataLoader(dataset, batch_size=8, num_workers=2, collate_fn=lambda batch: batch)
    with pytest.warns(UserWarning, match="skipped unreadable image"):
        items = [item for batch in loader for item in batch]
        image, label = dataset[3]  # in this process too, the next readable image stands in
    assert len(items) == len(split.train)
    assert torch.equal(image, read_image_rgb(split.train[4][0])) and label == split.train[4][1]
    assert dataset.unreadable == {broken}


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    bomb = huge_png(tmp_path / "bomb.png")
    with pytest.raises(DataError, match="bomb.png is too large to decode safely"):
        read_image_rgb(bomb)
    assert "too large" in check_image_file(bomb)


def test_repeated_csv_rows_are_used_once_so_val_never_holds_a_training_image(tmp_path):
    root = _dataset(tmp_path / "data", 5)
    rows = [f"data/{c}/{c}_{i}.jpg,{c}" for c in ("ants", "bees") for i in range(5)]
    table = tmp_path / "labels.csv"
    table.write_text("path,label\n" + "\n".join(rows * 3) + "\n")
    with pytest.warns(UserWarning, match="lists 20 image\\(s\\) more than once"):
        split = load_image_dataset(table, val_fraction=0.4)
    train, val = {p for p, _ in split.train}, {p for p, _ in split.val}
    assert not train & val and len(train) + len(val) == 10


def test_image_in_both_csv_splits_is_an_error(tmp_path):
    _dataset(tmp_path / "data", 2)
    table = tmp_path / "labels.csv"
    table.write_text("path,label,split\ndata/ants/ants_0.jpg,ants,train\ndata/ants/ants_0.jpg,ants,val\n"
                     "data/bees/bees_0.jpg,bees,train\n")
    with pytest.raises(DataError, match="both the train and the val split"):
        load_image_dataset(table)


def test_truncated_big_jpeg_is_found_at_reduced_scale(tmp_path):
    """A 12-megapixel JPEG is checked at 1/8 scale (cheap) and truncation still shows."""
    path = tmp_path / "big.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (4000, 3000), (90, 120, 30)).save(buffer, "JPEG", quality=90)
    path.write_bytes(buffer.getvalue())
    assert check_image_file(path) is None
    assert "corrupt image" in check_image_file(_truncate(path))
