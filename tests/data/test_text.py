"""Text data: CSV/TSV/JSONL loading, checks with clear errors, splits, dynamic-padding batches."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from headstart.data.text import TextSplit, load_text_dataset, read_texts
from headstart.data.text_datamodule import TextDataModule, tokenize_texts
from headstart.errors import ConfigError, DataError

ROWS = [(f"good text number {i}", "pos") for i in range(6)] + [(f"bad text number {i}", "neg") for i in range(4)]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from headstart.backbones.hf_text import minilm_folder

    return AutoTokenizer.from_pretrained(minilm_folder(), local_files_only=True)


def write_csv(path: Path, rows, header=("text", "label"), sep=",") -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=sep)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, records) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ formats
def test_csv_tsv_jsonl_give_the_same_split(tmp_path):
    csv_path = write_csv(tmp_path / "d.csv", ROWS)
    tsv_path = write_csv(tmp_path / "d.tsv", ROWS, sep="\t")
    sniffed = write_csv(tmp_path / "tabs.csv", ROWS, sep="\t")  # tab-separated despite .csv
    jsonl_path = write_jsonl(tmp_path / "d.jsonl", [{"text": t, "label": l, "id": i} for i, (t, l) in enumerate(ROWS)])
    splits = [load_text_dataset(p, seed=3) for p in (csv_path, tsv_path, sniffed, jsonl_path)]
    for split in splits:
        assert split.classes == ["neg", "pos"]
        assert split.train == splits[0].train and split.val == splits[0].val
    split = splits[0]
    assert len(split.train) + len(split.val) == len(ROWS)
    assert split.class_counts("val") == {"neg": 1, "pos": 1}  # stratified: round(0.2 * n) per class
    assert set(split.train).isdisjoint(split.val)


def test_split_is_reproducible_and_seeded(tmp_path):
    rows = [(f"text {i}", str(i % 3)) for i in range(60)]
    path = write_csv(tmp_path / "d.csv", rows)
    a, b = load_text_dataset(path, seed=0), load_text_dataset(path, seed=0)
    assert a.val == b.val
    assert load_text_dataset(path, seed=1).val != a.val
    assert a.class_counts("val") == {"0": 4, "1": 4, "2": 4}


def test_numeric_labels_become_class_names_sorted_numerically(tmp_path):
    records = [{"text": f"t{i}", "label": lab} for i, lab in enumerate([2, 10, 2.0, 10, 1, 1])]
    split = load_text_dataset(write_jsonl(tmp_path / "d.jsonl", records), val_fraction=0.5)
    assert split.classes == ["1", "2", "10"]
    assert isinstance(split, TextSplit) and split.num_classes == 3


def test_separate_val_file_and_custom_columns(tmp_path):
    train = write_csv(tmp_path / "train.tsv", [(l, t) for t, l in ROWS], header=("y", "sentence"), sep="\t")
    val = write_csv(tmp_path / "val.tsv", [("pos", "nice"), ("neg", "awful")], header=("y", "sentence"), sep="\t")
    split = load_text_dataset(train, val_path=val, text_column="sentence", label_column="y")
    assert len(split.train) == len(ROWS)
    assert split.val == [("nice", 1), ("awful", 0)]


def test_quoted_csv_with_commas_newlines_and_unicode(tmp_path):
    rows = [("hello, world\nsecond line", "a"), ("emoji 😀 ünïcödé", "b"), ("plain", "a"), ("more", "b")]
    split = load_text_dataset(write_csv(tmp_path / "d.csv", rows), val_fraction=0.5)
    texts = {t for t, _ in split.train + split.val}
    assert texts == {t for t, _ in rows}


# ------------------------------------------------------------------------------ errors
def test_missing_file_and_unsupported_format(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_text_dataset(tmp_path / "nope.csv")
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(DataError, match=r"unsupported.*\.xlsx.*\.csv, \.tsv or \.jsonl"):
        load_text_dataset(tmp_path / "d.xlsx")


def test_missing_columns_list_found_columns_and_the_flag(tmp_path):
    path = write_csv(tmp_path / "d.csv", [(t, l) for t, l in ROWS], header=("sentence", "label"))
    with pytest.raises(DataError, match=r"d\.csv has no text column 'text'; columns found: 'sentence', 'label'.*--text-column sentence"):
        load_text_dataset(path)
    with pytest.raises(DataError, match=r"no label column 'target'.*--label-column label"):
        load_text_dataset(path, text_column="sentence", label_column="target")
    with pytest.raises(ConfigError, match="two columns"):
        load_text_dataset(path, text_column="label", label_column="label")


def test_empty_texts_are_counted_with_line_numbers(tmp_path):
    rows = list(ROWS)
    rows[2] = ("", "pos")
    rows[5] = ("   ", "pos")
    path = write_csv(tmp_path / "d.csv", rows)
    with pytest.raises(DataError, match=r"d\.csv: 2 rows have empty or missing text in column 'text' \(lines 4, 7\)"):
        load_text_dataset(path)
    records = [{"text": t, "label": l} for t, l in ROWS] + [{"label": "pos"}]
    with pytest.raises(DataError, match=r"1 rows have empty or missing text .*line 11\)"):
        load_text_dataset(write_jsonl(tmp_path / "d.jsonl", records))


def test_missing_labels_single_class_and_unknown_val_label(tmp_path):
    rows = list(ROWS)
    rows[0] = ("some text", "")
    with pytest.raises(DataError, match=r"1 rows have no label in column 'label' \(line 2\)"):
        load_text_dataset(write_csv(tmp_path / "nolabel.csv", rows))
    one = write_csv(tmp_path / "one.csv", [("a", "x"), ("b", "x")])
    with pytest.raises(DataError, match="single class.*'x'"):
        load_text_dataset(one)
    train = write_csv(tmp_path / "train.csv", ROWS)
    val = write_csv(tmp_path / "val.csv", [("ok", "pos"), ("hm", "meh"), ("hm2", "meh")])
    with pytest.raises(DataError, match=r"val\.csv: 2 rows have labels the training file .* lacks: 'meh' \(first at line 3\)"):
        load_text_dataset(train, val_path=val)


def test_bad_jsonl_and_val_fraction(tmp_path):
    bad = tmp_path / "d.jsonl"
    bad.write_text('{"text": "a", "label": 1}\n{oops\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        load_text_dataset(bad)
    with pytest.raises(ConfigError, match="val_fraction"):
        load_text_dataset(write_csv(tmp_path / "d.csv", ROWS), val_fraction=1.5)


# ------------------------------------------------------------------------------ read_texts
def test_read_texts_for_predict(tmp_path):
    txt = tmp_path / "in.txt"
    txt.write_text("first line\n\nsecond 😀\n", encoding="utf-8")
    assert read_texts(txt) == ["first line", "second 😀"]
    csv_path = write_csv(tmp_path / "in.csv", [("one", "x"), ("", "y")])
    assert read_texts(csv_path) == ["one", ""]
    assert read_texts(["a", "b"]) == ["a", "b"]
    assert read_texts("just a sentence") == ["just a sentence"]
    with pytest.raises(DataError, match="does not exist"):
        read_texts(str(tmp_path / "missing.txt"))
    with pytest.raises(DataError, match="--text-column"):
        read_texts(csv_path, text_column="body")


# ------------------------------------------------------------------------------ batches
def test_dynamic_padding_pads_to_the_longest_in_the_batch(tokenizer):
    short = tokenize_texts(tokenizer, ["hi", "hello there"], max_length=64)
    longer = tokenize_texts(tokenizer, ["hi", "hello there my good friend how are you"], max_length=64)
    assert set(short) == {"input_ids", "attention_mask"}
    assert short["input_ids"].dtype == torch.long
    assert short["input_ids"].shape[1] == int(short["attention_mask"].sum(1).max()) == 4  # [CLS] hello there [SEP]
    assert longer["input_ids"].shape[1] == int(longer["attention_mask"].sum(1).max()) > 4


def test_truncation_empty_and_emoji_texts(tokenizer):
    batch = tokenize_texts(tokenizer, ["word " * 5000, "", "😀🎉 ünïcödé"], max_length=16)
    assert batch["input_ids"].shape == (3, 16)
    assert batch["attention_mask"][0].sum() == 16
    assert batch["attention_mask"][1].sum() == 2  # [CLS] [SEP]
    assert batch["input_ids"][0, -1] == tokenizer.sep_token_id


def test_datamodule_batches_labels_and_counts(tmp_path, tokenizer):
    rows = [(f"text number {i} " + "x " * (i % 5), "ab"[i % 2]) for i in range(20)]
    split = load_text_dataset(write_csv(tmp_path / "d.csv", rows), seed=0)
    dm = TextDataModule(split, tokenizer, max_length=8, batch_size=4, seed=0)
    assert dm.classes == ["a", "b"] and dm.num_classes == 2
    assert dm.class_counts() == {"a": 8, "b": 8}
    assert len(dm.train_dataset) == 16 and len(dm.val_dataset) == 4
    assert dm.train_dataset[0] == split.train[0]
    inputs, labels = next(iter(dm.train_dataloader()))
    assert labels.dtype == torch.long and labels.shape == (4,)
    assert inputs["input_ids"].shape[0] == 4 and inputs["input_ids"].shape[1] <= 8
    assert len(list(dm.train_dataloader())) == 4
    val_labels = torch.cat([y for _, y in dm.val_dataloader()])
    assert val_labels.tolist() == [label for _, label in split.val]
    order = lambda d: [y.tolist() for _, y in d.train_dataloader()]  # noqa: E731
    assert order(TextDataModule(split, tokenizer, 8, 4, seed=5)) == order(TextDataModule(split, tokenizer, 8, 4, seed=5))
    with pytest.raises(ConfigError, match="batch_size"):
        TextDataModule(split, tokenizer, max_length=8, batch_size=0)
