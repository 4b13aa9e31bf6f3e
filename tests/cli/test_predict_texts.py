"""Text predict: an argument that looks like a file is read as one, and a mistyped path is an
error instead of a sentence to classify (``--text`` forces literal text)."""
from __future__ import annotations

import pytest

from headstart.cli.predict import expand_texts
from headstart.errors import DataError


def test_sentences_stay_texts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert expand_texts(["great movie", "and/or", "5/5", "wow!"]) == ["great movie", "and/or", "5/5", "wow!"]


def test_existing_text_file_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reviews.txt").write_text("good\nbad\n")
    assert expand_texts(["reviews.txt"]) == ["good", "bad"]


@pytest.mark.parametrize("item", ["data/missing.txt", "missing.csv", "notes.jsonl", "data/reviews"])
def test_mistyped_path_is_an_error(tmp_path, monkeypatch, item):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    with pytest.raises(DataError, match="looks like a file path but does not exist.*--text"):
        expand_texts([item])
    assert expand_texts([item], literal=True) == [item]
