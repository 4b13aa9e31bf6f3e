"""Text classification data: CSV / TSV / JSONL files read into a checked train/val split.

Why strict checks up front: a text column name typo, a blank row or a validation label the
training file never had would otherwise surface as a tokenizer crash or a silently wrong metric
an hour into training. Every problem is reported as one :class:`DataError` line that names the
file, the column or the line numbers, and the flag that fixes it.

Formats: ``.csv`` (comma; a header with tabs and no commas is read as TSV), ``.tsv``/``.tab``
(tab separated, no quoting, as GLUE/SST-2 ship it), ``.jsonl``/``.ndjson`` (one JSON object per
line) and ``.json`` (a list of objects). Labels may be strings or numbers; their string form is
the class name (``1`` and ``1.0`` both become ``"1"``).

Example::

    split = load_text_dataset("sms_spam.csv", val_fraction=0.2)
    split.classes        # ['ham', 'spam']
    split.train[0]       # ('Go until jurong point, ...', 0)
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..errors import ConfigError, DataError
from .splits import check_val_fraction, label_counts, split_items, stratified_split

CSV_SUFFIXES = (".csv",)
TSV_SUFFIXES = (".tsv", ".tab")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
JSON_SUFFIXES = (".json",)
TABLE_SUFFIXES = CSV_SUFFIXES + TSV_SUFFIXES + JSONL_SUFFIXES + JSON_SUFFIXES
SHOWN_LINES = 5  # line numbers quoted in an error message


@dataclass
class TextSplit:
    """A text classification dataset: ``(text, class index)`` pairs and sorted class names."""

    train: list[tuple[str, int]]
    val: list[tuple[str, int]]
    classes: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self, which: str = "train") -> dict[str, int]:
        """Number of texts per class name (in class order) for ``"train"`` or ``"val"``."""
        return label_counts(split_items(self, which), self.classes)


@dataclass
class _Table:
    path: Path
    columns: list[str]
    rows: list[tuple[int, dict[str, Any]]]  # (line number in the file, record)


def load_text_dataset(
    path: str | Path,
    *,
    val_path: str | Path | None = None,
    text_column: str = "text",
    label_column: str = "label",
    val_fraction: float = 0.2,
    seed: int = 0,
) -> TextSplit:
    """Read labelled texts; split off a stratified, seeded validation set unless ``val_path`` is given.

    Classes are the training file's label strings, sorted (numerically when every label is an
    integer, so ``"2"`` comes before ``"10"``). Rows with empty text or no label are an error, not
    skipped: a classifier trained on silently dropped rows is hard to trust.
    """
    if text_column == label_column:
        raise ConfigError(
            f"--text-column and --label-column are both {text_column!r}; they must name two columns."
        )
    train_rows = _labelled_rows(_read_table(path), text_column, label_column)
    labels = [label for _, label, _ in train_rows]
    classes = _sort_classes(set(labels))
    if len(classes) < 2:
        raise DataError(
            f"{path}: column {label_column!r} has a single class ({classes[0]!r}); a classifier "
            "needs at least 2.",
            "Check --label-column, or add examples of the other classes.",
        )
    index = {name: i for i, name in enumerate(classes)}
    items = [(text, index[label]) for text, label, _ in train_rows]
    if val_path is None:
        check_val_fraction(val_fraction)
        train, val = stratified_split(items, labels, val_fraction=val_fraction, seed=seed)
        if not val:
            raise DataError(
                f"{path}: too few rows to split off a validation set (every class has 1 row).",
                "Add rows, or pass a separate validation file with --val.",
            )
        return TextSplit(train=train, val=val, classes=classes)

    val_rows = _labelled_rows(_read_table(val_path), text_column, label_column)
    unknown = [(label, line) for _, label, line in val_rows if label not in index]
    if unknown:
        names = sorted({label for label, _ in unknown})
        raise DataError(
            f"{val_path}: {len(unknown)} rows have labels the training file {path} lacks: "
            f"{', '.join(map(repr, names[:SHOWN_LINES]))} (first at line {unknown[0][1]}).",
            f"Every validation label must appear in training; known classes: {', '.join(classes)}.",
        )
    val = [(text, index[label]) for text, label, _ in val_rows]
    return TextSplit(train=items, val=val, classes=classes)


def read_texts(
    path_or_strings: str | Path | Sequence[str], *, text_column: str = "text"
) -> list[str]:
    """Texts to predict: a list of strings, a ``.txt`` file (one text per line) or a table file.

    A table (``.csv``/``.tsv``/``.jsonl``/``.json``) gives its ``text_column`` in row order, empty
    texts included so outputs line up with input rows; blank lines of a ``.txt`` are skipped. A
    single string that is not an existing file and has no file suffix is taken as one text.
    """
    if isinstance(path_or_strings, (list, tuple)):
        bad = [i for i, t in enumerate(path_or_strings) if not isinstance(t, str)]
        if bad:
            raise DataError(
                f"Text inputs must be strings; item {bad[0]} is a {type(path_or_strings[bad[0]]).__name__}."
            )
        return list(path_or_strings)
    path = Path(path_or_strings)
    suffix = path.suffix.lower()
    if isinstance(path_or_strings, str) and not path.is_file() and suffix not in TABLE_SUFFIXES + (".txt",):
        return [path_or_strings]
    if suffix == ".txt":
        _check_file(path)
        return [line for line in _lines_of(_read_text(path)) if line.strip()]
    table = _read_table(path)
    if text_column not in table.columns:
        raise _missing_column(table, text_column, "text", "--text-column", avoid=None)
    return [_as_text(record.get(text_column)) or "" for _, record in table.rows]


# --------------------------------------------------------------------------------- rows
def _labelled_rows(table: _Table, text_column: str, label_column: str) -> list[tuple[str, str, int]]:
    """``(text, label string, line)`` for every row; raise on missing columns/text/labels."""
    for column, kind, flag, other in (
        (text_column, "text", "--text-column", label_column),
        (label_column, "label", "--label-column", text_column),
    ):
        if column not in table.columns:
            raise _missing_column(table, column, kind, flag, avoid=other)
    if not table.rows:
        raise DataError(f"{table.path} has a header but no rows.", "Add labelled examples.")
    rows, empty_text, no_label = [], [], []
    for line, record in table.rows:
        text = _as_text(record.get(text_column))
        label = _as_label(record.get(label_column))
        if text is None or not text.strip():
            empty_text.append(line)
        if label is None:
            no_label.append(line)
        rows.append((text or "", label or "", line))
    if empty_text:
        raise DataError(
            f"{table.path}: {len(empty_text)} rows have empty or missing text in column "
            f"{text_column!r} ({_lines(empty_text)}).",
            "Remove or fill those rows.",
        )
    if no_label:
        raise DataError(
            f"{table.path}: {len(no_label)} rows have no label in column {label_column!r} "
            f"({_lines(no_label)}).",
            "Label or remove those rows.",
        )
    return rows


def _missing_column(table: _Table, column: str, kind: str, flag: str, avoid: str | None) -> DataError:
    found = ", ".join(repr(c) for c in table.columns) or "none"
    candidates = [c for c in table.columns if c != avoid]
    fix = f"Pass {flag} {candidates[0]}" if len(candidates) == 1 else f"Pass {flag} NAME"
    return DataError(
        f"{table.path} has no {kind} column {column!r}; columns found: {found}.",
        f"{fix} to name the {kind} column.",
    )


def _lines(lines: list[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:SHOWN_LINES])
    more = f" and {len(lines) - SHOWN_LINES} more" if len(lines) > SHOWN_LINES else ""
    return f"line{'s' if len(lines) > 1 else ''} {shown}{more}"


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _as_label(value: Any) -> str | None:
    """The class name of a label cell: strings stripped, ``1.0`` -> ``"1"``, blanks -> None."""
    if value is None or isinstance(value, (list, dict)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    label = str(value).strip()
    return label or None


def _sort_classes(labels: Iterable[str]) -> list[str]:
    labels = list(labels)
    try:
        return sorted(labels, key=int)
    except ValueError:
        return sorted(labels)


# --------------------------------------------------------------------------------- files
def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(
            f"Text data file {str(path)!r} does not exist.",
            "Pass an existing .csv, .tsv or .jsonl file (or .txt for predict).",
        )
    if not path.is_file():
        raise DataError(f"{path} is a folder; text data must be a .csv, .tsv or .jsonl file.")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not UTF-8 text (byte {exc.start}).", "Re-save the file as UTF-8."
        ) from None


def _lines_of(content: str) -> list[str]:
    """Split on newlines only (``str.splitlines`` would also split on U+2028 inside a text)."""
    return [line.rstrip("\r") for line in content.split("\n")]


def _read_table(path: str | Path) -> _Table:
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(
            f"{path}: unsupported text data format {suffix or '(no suffix)'!r}.",
            "Use .csv, .tsv or .jsonl (with a text and a label column).",
        )
    content = _read_text(path)
    if suffix in JSONL_SUFFIXES:
        return _parse_jsonl(path, content)
    if suffix in JSON_SUFFIXES:
        return _parse_json(path, content)
    header = content.split("\n", 1)[0]
    tab = suffix in TSV_SUFFIXES or ("\t" in header and "," not in header)
    return _parse_delimited(path, content, tab)


def _parse_delimited(path: Path, content: str, tab: bool) -> _Table:
    # Long documents exceed csv's default 128 KiB field limit; raise it (process-wide, harmless).
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    options: dict[str, Any] = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if tab else {}
    reader = csv.reader(io.StringIO(content, newline=""), **options)
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise DataError(f"{path} is empty; it needs a header row naming the text and label columns.")
        columns = [h.strip() for h in header]
        rows = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            record = {col: (cells[i] if i < len(cells) else None) for i, col in enumerate(columns)}
            rows.append((reader.line_num, record))
    except csv.Error as exc:
        kind = "TSV" if tab else "CSV"
        raise DataError(f"{path}: malformed {kind} at line {reader.line_num}: {exc}.") from None
    return _Table(path, columns, rows)


def _parse_jsonl(path: Path, content: str) -> _Table:
    columns: dict[str, None] = {}
    rows = []
    for line_no, line in enumerate(_lines_of(content), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}: line {line_no} is not valid JSON ({exc.msg}).",
                "Each line of a .jsonl file must be one JSON object.",
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f"{path}: line {line_no} is a JSON {type(record).__name__}, not an object.",
                'Write each row as {"text": ..., "label": ...}.',
            )
        columns.update(dict.fromkeys(record))
        rows.append((line_no, record))
    return _Table(path, list(columns), rows)


def _parse_json(path: Path, content: str) -> _Table:
    try:
        records = json.loads(content)
    except json.JSONDecodeError:
        return _parse_jsonl(path, content)  # JSON lines saved as .json
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataError(
            f"{path}: a .json data file must be a list of objects.",
            'Write [{"text": ..., "label": ...}, ...] or use .jsonl.',
        )
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    # Line numbers are not meaningful in a JSON array; report the 1-based record number instead.
    return _Table(path, list(columns), [(i, r) for i, r in enumerate(records, start=1)])
