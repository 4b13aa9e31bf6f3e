"""Reading multi-label tables: both layouts, the split, and one-line errors for bad tables."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from headstart.data.multilabel import load_multilabel_dataset
from headstart.config import RunConfig, config_from_dict
from headstart.errors import ConfigError, DataError

from conftest import LABELS, MultiLabelData


def test_cell_and_one_hot_layouts_give_the_same_targets(ml_data: MultiLabelData) -> None:
    cell = load_multilabel_dataset(ml_data.cell_csv, modality="image")
    onehot = load_multilabel_dataset(ml_data.onehot_csv, modality="image")
    explicit = load_multilabel_dataset(ml_data.onehot_csv, modality="image", label_columns="blue,green,red")
    assert cell.classes == onehot.classes == explicit.classes == list(LABELS)
    for split in (onehot, explicit):
        assert [(x, y.tolist()) for x, y in split.train] == [(x, y.tolist()) for x, y in cell.train]
    x, y = cell.train[0]
    assert Path(x).is_absolute() and y.dtype == torch.float32 and y.shape == (3,)
    assert {int(y.sum()) for _, y in cell.train} == {1, 2}


def test_split_keeps_every_label_in_train_and_val(ml_data: MultiLabelData) -> None:
    split = load_multilabel_dataset(ml_data.cell_csv, modality="image", val_fraction=0.25, seed=3)
    assert len(split.train) + len(split.val) == 36
    assert all(count > 0 for count in split.class_counts("train").values())
    assert all(count > 0 for count in split.class_counts("val").values())
    assert {x for x, _ in split.train}.isdisjoint({x for x, _ in split.val})


def test_text_table_with_a_split_column(tmp_path: Path) -> None:
    rows = ["text,label,split", "red apple,red,train", "blue sea,blue,train", "red and blue,red;blue,train",
            "apple red,red,val", "sea blue,blue,val", "unused,red,test"]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    split = load_multilabel_dataset(tmp_path / "t.csv", modality="text")
    assert split.classes == ["blue", "red"]
    assert [x for x, _ in split.val] == ["apple red", "sea blue"]
    assert split.train[2][1].tolist() == [1.0, 1.0]


def test_all_zero_one_hot_row_is_an_empty_label_set(ml_data: MultiLabelData) -> None:
    lines = ml_data.onehot_csv.read_text().splitlines()
    lines.append(lines[1].split(",")[0] + ",0,0,0")
    table = ml_data.root / "with_empty.csv"
    table.write_text("\n".join(lines) + "\n")
    split = load_multilabel_dataset(table, modality="image", label_columns="blue,green,red")
    assert any(float(y.sum()) == 0 for _, y in split.train + split.val)


@pytest.mark.parametrize("rows, options, message", [
    (["path,label", "a.png,red", "b.png,"], {}, r"1 rows have no labels in column 'label' \(line 3\)"),
    (["path,blue,red", "a.png,1,0", "b.png,0,1"], {"label_columns": "blue,pink"}, r"no label column 'pink'"),
    (["path,tags", "a.png,red", "b.png,blue"], {}, r"no label column 'label' and no 0/1 label columns"),
    (["path,blue,red", "a.png,1,0", "b.png,2,1"], {"label_columns": "blue,red"}, r"line 3: column 'blue' is '2', not 0 or 1"),
    (["path,label", "a.png,red", "b.png,red"], {}, r"found 1 label\(s\) \['red'\]"),
])
def test_bad_tables_raise_one_line_errors(tmp_path: Path, rows: list[str], options: dict, message: str) -> None:
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(b"")  # existence is checked before readability
    (tmp_path / "bad.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=message) as info:
        load_multilabel_dataset(tmp_path / "bad.csv", modality="image", **options)
    assert "\n" not in str(info.value)


def test_folder_is_not_a_multilabel_table(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a folder; multi-label data is a table"):
        load_multilabel_dataset(tmp_path, modality="image")


def test_unknown_task_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"task \(--task\) must be one of single-label, multi-label, got 'multilabel'"):
        config_from_dict({"task": "multilabel"})
    assert RunConfig().task == "single-label"
