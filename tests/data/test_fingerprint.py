"""The data fingerprint: equal for the same data, and a one-line error naming what changed."""
from __future__ import annotations

from pathlib import Path

import pytest

from headstart.data.fingerprint import check_same_data, data_fingerprint
from headstart.data.splits import ImageSplit
from headstart.data.text import TextSplit
from headstart.errors import DataError

ROWS = [("great film", 1), ("dull plot", 0), ("loved it", 1), ("boring", 0)]


def _text(train: list[tuple[str, int]], val: list[tuple[str, int]], classes=("neg", "pos")) -> dict:
    return data_fingerprint(TextSplit(train, val, list(classes)), "text")


def test_text_fingerprint_is_stable_and_sees_rows_labels_and_split() -> None:
    recorded = _text(ROWS[:3], ROWS[3:])
    check_same_data(recorded, _text(list(ROWS[:3]), list(ROWS[3:])), "reviews.csv")  # same data: no error
    assert recorded["train"]["rows"] == 3 and len(recorded["train"]["sha256"]) == 64
    changes = {
        "edited row": _text([("great film!", 1), *ROWS[1:3]], ROWS[3:]),
        "relabelled row": _text([("great film", 0), *ROWS[1:3]], ROWS[3:]),
        "row moved to val": _text(ROWS[:2], ROWS[2:]),
    }
    for what, current in changes.items():
        with pytest.raises(DataError, match=r"data in reviews.csv changed since this run started: the training rows differ"):
            check_same_data(recorded, current, "reviews.csv")
    with pytest.raises(DataError, match=r"classes in reviews.csv changed .*\(missing neg; new negative\)"):
        check_same_data(recorded, _text(ROWS[:3], ROWS[3:], classes=("negative", "pos")), "reviews.csv")


def test_image_fingerprint_names_changed_files_relative_to_the_data(tmp_path: Path) -> None:
    files = {}
    for name, size in (("train/a/1.png", 10), ("train/b/2.png", 20), ("val/a/3.png", 30)):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
        files[name] = str(path)
    split = ImageSplit([(files["train/a/1.png"], 0), (files["train/b/2.png"], 1)], [(files["val/a/3.png"], 0)], ["a", "b"])
    recorded = data_fingerprint(split, "image")
    assert recorded["train"]["files"] == {"train/a/1.png": ["a", 10], "train/b/2.png": ["b", 20]}
    Path(files["train/b/2.png"]).write_bytes(b"y" * 21)  # same name, other content
    with pytest.raises(DataError, match=r"training images: 1 changed in size or class \(train/b/2.png\)\.") as error:
        check_same_data(recorded, data_fingerprint(split, "image"), "photos")
    assert "\n" not in str(error.value)
