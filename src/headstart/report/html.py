"""A single self-contained ``report.html`` for a finished run.

Why self-contained: a report gets mailed, attached to a ticket or opened from an archive years
later. Every image is embedded as a base64 data URI and the CSS is inline; the page references no
URL and needs no JavaScript, so it renders offline and identically everywhere. Every string that
comes from a run file (class names, config values, input texts) is HTML-escaped.

Example::

    path = write_report("runs/flowers")   # runs/flowers/report.html
"""
from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Any, Iterable

import yaml
from PIL import Image, UnidentifiedImageError

from . import multilabel
from .plots import write_run_plots
from .run_files import RunFiles, confident_mistakes, load_run, resolve_input_path

#: Items shown in the misclassified gallery.
GALLERY_LIMIT = 24
#: Longest thumbnail side in pixels.
THUMBNAIL_PX = 160
#: Characters of a text input shown in the gallery.
TEXT_PREVIEW_CHARS = 400
#: Class names listed in the header before "and N more".
HEADER_CLASSES = 40

# Thresholds for the diagnosis; rules of thumb, stated in the text they produce.
OVERFIT_LOSS_RATIO = 2.0     # val loss this many times the train loss ...
OVERFIT_LOSS_GAP = 0.2       # ... and at least this far above it
VAL_LOSS_RISE = 1.1          # last val loss 10 % above its best
STILL_LEARNING = 0.05        # train loss still fell 5 % in the last epoch
IMBALANCE_RATIO = 3.0        # largest class / smallest class
CONFIDENT_WRONG = 0.8        # mean confidence of the wrong predictions

PLOT_TITLES = {
    "curves": "Loss and accuracy per epoch",
    "confusion_matrix": "Confusion matrix",
    "per_class": "Precision and recall per class",
    "params": "Trainable and frozen parameters per layer group",
    "misclassified": "Most confidently wrong validation images",
}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
main{max-width:1100px;margin:0 auto;padding:24px}
header{background:#1d2330;color:#fff;padding:20px 24px}
header h1{margin:0 0 6px;font-size:1.6em}
header p{margin:2px 0;color:#c9d1e0}
section{background:#fff;border-radius:8px;padding:16px 20px;margin:16px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{margin-top:0;font-size:1.2em;border-bottom:1px solid #e3e6eb;padding-bottom:6px}
h3{font-size:1em;margin:14px 0 6px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{flex:1 1 150px;background:#f0f3f8;border-radius:6px;padding:10px 14px}
.card .v{font-size:1.5em;font-weight:600}
.card .k{font-size:.8em;color:#5b6476;text-transform:uppercase;letter-spacing:.04em}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:6px 0}
th,td{padding:4px 8px;border-bottom:1px solid #eceef2;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{background:#eaf7ea}
tr.total td{font-weight:600;border-top:2px solid #c9ced8}
.scroll{overflow-x:auto}
pre{background:#f0f3f8;padding:10px;border-radius:6px;overflow-x:auto;font-size:.85em}
figure{margin:10px 0}
figure img{max-width:100%;height:auto;border:1px solid #eceef2}
figcaption{font-size:.85em;color:#5b6476}
ul.findings{padding-left:0;list-style:none}
ul.findings li{padding:6px 10px;margin:4px 0;border-left:4px solid #8a94a6;background:#f7f8fa}
ul.findings li.good{border-color:#2e9d4d}
ul.findings li.warn{border-color:#d98c1a}
ul.findings li.bad{border-color:#c8372d}
.gallery{display:flex;flex-wrap:wrap;gap:10px}
.item{width:180px;background:#f7f8fa;border-radius:6px;padding:8px;font-size:.8em}
.item img{display:block;margin:0 auto 6px;max-width:160px;max-height:160px}
.item blockquote{margin:0 0 6px;font-style:italic;word-wrap:break-word}
.item .missing{height:60px;display:flex;align-items:center;justify-content:center;color:#8a94a6}
.muted{color:#5b6476}
""".strip()


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _count(value: int) -> str:
    return f"{int(value):,}"


def _lr(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2e}"


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _thumbnail_uri(path: Path | None) -> str | None:
    """A JPEG data URI of the image at ``path`` shrunk to <= THUMBNAIL_PX; None if unreadable."""
    if path is None:
        return None
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=85)
    except (OSError, UnidentifiedImageError):
        return None
    return _data_uri(buffer.getvalue(), "image/jpeg")


def _table(headers: Iterable[tuple[str, bool]], rows: Iterable[tuple[str, list[str]]]) -> str:
    """headers: (label, numeric); rows: (css class, already-escaped cells)."""
    headers = list(headers)
    head = "".join(f'<th class="n">{_e(h)}</th>' if numeric else f"<th>{_e(h)}</th>" for h, numeric in headers)
    body = []
    for css, cells in rows:
        tds = "".join(
            f'<td class="n">{cell}</td>' if numeric else f"<td>{cell}</td>" for cell, (_, numeric) in zip(cells, headers)
        )
        body.append(f'<tr class="{css}">{tds}</tr>' if css else f"<tr>{tds}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _section(title: str, body: str, anchor: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{body}</section>'


# ---------------------------------------------------------------- diagnosis


def diagnose(run: RunFiles) -> list[tuple[str, str]]:
    """Plain-language findings about why the model is good or bad, as (level, text) pairs.

    Levels: ``good``, ``warn``, ``bad``, ``info``. Each finding is derived from the run's numbers
    only (baseline, loss curves, per-class scores, confidences), so it can be checked by hand.
    """
    metrics, classes = run.metrics, run.classes
    if multilabel.is_multilabel(metrics):
        return multilabel.diagnose(metrics, classes) + _curve_findings(metrics["epochs"])
    findings: list[tuple[str, str]] = []
    support = [sum(int(v) for v in row) for row in metrics["confusion_matrix"]]
    n_val = sum(support)
    acc = float(metrics["val_accuracy"])
    if n_val:
        majority = max(support) / n_val
        top = classes[support.index(max(support))]
        chance = 1 / len(classes)
        if acc <= majority + 0.01:
            findings.append(("bad", f"Val accuracy {acc:.1%} is no better than always predicting the most frequent class '{top}' ({majority:.1%}): the model has not learned a useful rule yet."))
        else:
            gain = (acc - majority) / (1 - majority) if majority < 1 else 0.0
            findings.append(("good", f"Val accuracy {acc:.1%} beats the majority-class baseline ({majority:.1%}, always '{top}') and chance ({chance:.1%}); it removes {gain:.0%} of the baseline's errors."))
        half_width = 1.96 * math.sqrt(max(acc * (1 - acc), 1e-12) / n_val)
        if n_val < 500:
            findings.append(("info", f"Only {n_val} validation items: the accuracy is uncertain by about ±{half_width:.1%} (95 %); smaller differences between runs are noise."))
        if min(support) > 0 and max(support) / min(support) >= IMBALANCE_RATIO:
            findings.append(("warn", f"Classes are imbalanced ({max(support)} vs {min(support)} validation items); macro-F1 ({float(metrics['macro_f1']):.3f}) is the fairer summary than accuracy."))
    findings.extend(_curve_findings(metrics["epochs"]))
    findings.extend(_strategy_findings(run))
    findings.extend(_class_findings(run, support))
    mistakes = confident_mistakes(run.predictions, limit=10**9)
    if mistakes:
        mean_conf = sum(float(m["confidence"]) for m in mistakes) / len(mistakes)
        if mean_conf >= CONFIDENT_WRONG:
            findings.append(("warn", f"Wrong predictions are confident (mean {mean_conf:.0%}): check those items for label noise or a shortcut in the data (see the gallery)."))
    return findings


def _strategy_findings(run: RunFiles) -> list[tuple[str, str]]:
    """Why ``auto`` chose this strategy, and whether fine-tuning beat the head (both recorded by the run)."""
    findings: list[tuple[str, str]] = []
    auto = run.metrics.get("auto") or run.model.get("auto")
    if isinstance(auto, dict) and auto.get("reasons"):
        findings.append(("info", f"Strategy chosen by auto: {auto['reasons']}"))
    batchnorm = run.model.get("batchnorm")
    if isinstance(batchnorm, dict) and batchnorm.get("mode"):
        kept = "kept as pretrained" if batchnorm["mode"] == "frozen" else "re-estimated"
        findings.append(("info", f"BatchNorm statistics {kept} while fine-tuning ({batchnorm['mode']}): {batchnorm.get('why', '')}."))
    verdict = run.metrics.get("finetune_verdict")
    if isinstance(verdict, dict) and verdict.get("message"):
        findings.append(("good" if verdict.get("finetune_won") else "warn", str(verdict["message"])))
    return findings


def _curve_findings(epochs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    findings: list[tuple[str, str]] = []
    if not epochs:
        return findings
    last = epochs[-1]
    train, val = float(last["train_loss"]), float(last["val_loss"])
    if val > OVERFIT_LOSS_RATIO * train and val - train > OVERFIT_LOSS_GAP:
        findings.append(("warn", f"Possible overfitting: final train loss {train:.3f} is far below val loss {val:.3f}. Try stronger augmentation, more weight decay, fewer fine-tuned layers or fewer epochs."))
    val_losses = [float(e["val_loss"]) for e in epochs]
    best = min(range(len(val_losses)), key=val_losses.__getitem__)
    if best < len(epochs) - 1 and val_losses[-1] > VAL_LOSS_RISE * val_losses[best]:
        findings.append(("warn", f"Val loss was lowest at epoch {epochs[best].get('epoch', best)} ({val_losses[best]:.3f}) and rose to {val_losses[-1]:.3f}: later epochs made the model worse. The run kept the lowest-val_loss epoch's weights; fewer epochs (or --early-stopping) would save the time."))
    if len(epochs) >= 2:
        before, now = float(epochs[-2]["train_loss"]), train
        if before > 0 and (before - now) / before > STILL_LEARNING and val <= val_losses[best] * VAL_LOSS_RISE:
            findings.append(("info", f"Train loss still fell {(before - now) / before:.0%} in the last epoch and val loss did not rise: more epochs may help."))
    phase_end: dict[str, float] = {}
    for epoch in epochs:
        phase_end[str(epoch["phase"])] = float(epoch["val_accuracy"])
    if len(phase_end) >= 2:
        names = list(phase_end)
        steps = ", then ".join(f"{phase_end[n]:.1%} after '{n}'" for n in names)
        level = "good" if phase_end[names[-1]] > phase_end[names[0]] else "warn"
        verdict = "the later phases helped" if level == "good" else "the later phases did not improve on the first"
        findings.append((level, f"Val accuracy by phase: {steps}; {verdict}."))
    return findings


def _class_findings(run: RunFiles, support: list[int]) -> list[tuple[str, str]]:
    classes, per_class, matrix = run.classes, run.metrics["per_class"], run.metrics["confusion_matrix"]
    if len(classes) < 2:
        return []
    f1 = [float(per_class[c]["f1"]) for c in classes]
    worst = min(range(len(classes)), key=f1.__getitem__)
    best = max(range(len(classes)), key=f1.__getitem__)
    entry = per_class[classes[worst]]
    text = (f"Worst class: '{classes[worst]}' (F1 {f1[worst]:.3f}, precision {float(entry['precision']):.3f}, "
            f"recall {float(entry['recall']):.3f}, {support[worst]} items); best: '{classes[best]}' (F1 {f1[best]:.3f}).")
    row = [int(v) for v in matrix[worst]]
    confusions = [(count, j) for j, count in enumerate(row) if j != worst and count > 0]
    if confusions:
        count, j = max(confusions)
        text += f" It is most often predicted as '{classes[j]}' ({count} of {support[worst]})."
    return [("warn" if f1[worst] < 0.5 else "info", text)]


# ---------------------------------------------------------------- sections


def _header(run: RunFiles) -> str:
    classes = run.classes
    shown = ", ".join(_e(c) for c in classes[:HEADER_CLASSES])
    if len(classes) > HEADER_CLASSES:
        shown += f" and {len(classes) - HEADER_CLASSES} more"
    lora = run.model.get("lora")
    lora_line = f"<p>LoRA: {_e(lora)}</p>" if lora else ""
    return (
        f"<header><h1>{_e(run.name)}</h1>"
        f"<p>Backbone: <b>{_e(run.backbone_name)}</b> &middot; Strategy: <b>{_e(run.strategy)}</b>"
        f"{' (chosen by auto)' if run.model.get('auto') else ''} &middot; "
        f"Modality: {_e(run.modality)}</p>"
        f"<p>{len(classes)} classes: {shown}</p>{lora_line}</header>"
    )


def _summary(run: RunFiles) -> str:
    m = run.metrics
    cards = [
        ("val accuracy", f"{float(m['val_accuracy']):.2%}"),
        ("macro-F1", f"{float(m['macro_f1']):.3f}"),
        ("val loss", f"{float(m['val_loss']):.4f}"),
        ("wall time", _duration(m["wall_time_s"])),
    ]
    if multilabel.is_multilabel(m):
        cards[:3] = multilabel.summary_cards(m)
    if run.params:
        cards.append(("trainable params", f"{_count(run.params['trainable'])} / {_count(run.params['total'])}"))
    body = "".join(f'<div class="card"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div></div>' for k, v in cards)
    return _section("Final metrics", f'<div class="cards">{body}</div>', "metrics")


def _findings(run: RunFiles) -> str:
    items = "".join(f'<li class="{level}">{_e(text)}</li>' for level, text in diagnose(run))
    return _section("Why is the model good or bad?", f'<ul class="findings">{items}</ul>', "diagnosis")


def _phases(run: RunFiles) -> str:
    epochs = run.metrics["epochs"]
    tables = {p["phase"]: p for p in (run.params or {}).get("phases", [])}
    order = list(dict.fromkeys([str(e["phase"]) for e in epochs] + list(tables)))
    if not order:
        return ""
    rows = []
    for name in order:
        in_phase = [e for e in epochs if str(e["phase"]) == name]
        table = tables.get(name)
        if in_phase:
            first, last = in_phase[0], in_phase[-1]
            span = f"{first.get('epoch', '?')}–{last.get('epoch', '?')}" if len(in_phase) > 1 else str(first.get("epoch", "?"))
            lrs = f"{_lr(_phase_head_lr(table) if table else first.get('lr'))} → {_lr(last.get('lr'))}"
            acc = f"{float(last['val_accuracy']):.2%}"
        else:
            span, lrs, acc = "-", "-", "-"
        trained = ", ".join(g["name"] for g in table["groups"] if g["trainable"] > 0) if table else ""
        trainable = f"{_count(table['trainable'])} / {_count(table['total'])}" if table else "-"
        rows.append(("", [_e(name), _e(len(in_phase)), _e(span), _e(lrs), _e(trainable), _e(trained or "-"), _e(acc)]))
    headers = [("phase", False), ("epochs", True), ("epoch range", False), ("head LR set → at end", False),
               ("trainable / total", True), ("trained groups", False), ("val acc at end", True)]
    return _section(f"Strategy '{run.strategy}': phases", _table(headers, rows), "phases")


def _phase_head_lr(table: dict[str, Any]) -> float | None:
    """The head LR a phase was set to (its largest group LR, from params.json), before warm-up and decay."""
    lrs = [float(g["lr"]) for g in table.get("groups", []) if g.get("lr") is not None and g.get("trainable", 0) > 0]
    return max(lrs) if lrs else None


def kept_epoch(epochs: list[dict[str, Any]]) -> int | None:
    """Index of the epoch whose weights are the final model: the lowest val loss over all phases
    (the first one on a tie, as the checkpointing keeps it)."""
    losses = [(float(e["val_loss"]), i) for i, e in enumerate(epochs) if e.get("val_loss") is not None]
    return min(losses)[1] if losses else None


def _seconds(epoch: dict[str, Any]) -> str:
    seconds = float(epoch.get("seconds") or 0)
    text = f"{seconds:.2f}" if seconds < 10 else f"{seconds:.1f}"
    extract = epoch.get("extract_seconds")
    return text if extract is None else f"{text} (+{float(extract):.1f} feature extraction)"


def _param_tables(run: RunFiles) -> str:
    if not run.params:
        return _section("Parameters", '<p class="muted">params.json not recorded for this run.</p>', "params")
    parts = []
    for phase in run.params["phases"]:
        rows = []
        for g in phase["groups"]:
            share = "all" if g["trainable"] == g["params"] and g["params"] else ("frozen" if g["trainable"] == 0 else _count(g["trainable"]))
            rows.append(("", [_e(g["name"]), _e(_count(g["params"])), _e(share), _e(_lr(g.get("lr")))]))
        total = f"Trainable: {_count(phase['trainable'])} / Total: {_count(phase['total'])}"
        pct = phase["trainable"] / phase["total"] if phase["total"] else 0.0
        rows.append(("total", [_e(total), "", _e(f"{pct:.2%}"), ""]))
        headers = [("group", False), ("params", True), ("trainable", True), ("LR", True)]
        parts.append(f"<h3>Phase '{_e(phase['phase'])}'</h3>{_table(headers, rows)}")
    overall = f"Trainable: {_count(run.params['trainable'])} / Total: {_count(run.params['total'])}"
    parts.insert(0, f"<p>Final model: <b>{_e(overall)}</b></p>")
    return _section("Parameters per phase", "".join(parts), "params")


def _epoch_table(run: RunFiles) -> str:
    epochs = run.metrics["epochs"]
    if not epochs:
        return _section("Epochs", '<p class="muted">No epochs recorded.</p>', "epochs")
    best = kept_epoch(epochs)
    rows = []

    def number(value: Any, form: str) -> str:
        return "-" if value is None else format(float(value), form)

    for i, e in enumerate(epochs):
        cells = [e.get("epoch", i), e["phase"], number(e.get("train_loss"), ".4f"), number(e.get("val_loss"), ".4f"),
                 number(e.get("val_accuracy"), ".2%"), _lr(e.get("lr")), _seconds(e)]
        rows.append(("best" if i == best else "", [_e(c) for c in cells]))
    headers = [("epoch", True), ("phase", False), ("train loss", True), ("val loss", True), ("val acc", True), ("LR at end", True), ("seconds", True)]
    notes = ["Highlighted: the kept epoch (lowest val loss); its weights are the final model."]
    if any(e.get("extract_seconds") is not None for e in epochs):
        notes.append("Epochs on cached features train only the head (the backbone ran once, before the phase: "
                     "its feature extraction time is shown with the phase's first epoch), which makes them fast.")
    phases = list(dict.fromkeys(str(e["phase"]) for e in epochs))
    cached = {str(e["phase"]) for e in epochs if e.get("extract_seconds") is not None}
    boundary = next((i for i, e in enumerate(epochs) if len(phases) > 1 and str(e["phase"]) == phases[1]), 0)
    jumped = boundary > 0 and None not in (epochs[boundary].get("train_loss"), epochs[boundary - 1].get("train_loss")) \
        and float(epochs[boundary]["train_loss"]) > float(epochs[boundary - 1]["train_loss"])
    if jumped and phases[0] in cached and phases[1] not in cached:
        notes.append(f"The train loss jumps at the start of '{phases[1]}': '{phases[0]}' trained on features of the "
                     "un-augmented (eval-transform) images, the next phase on augmented images, which are harder. "
                     "Compare val loss across the boundary instead.")
    text = "".join(f'<p class="muted">{_e(n)}</p>' for n in notes)
    return _section("Metrics per epoch", _table(headers, rows) + text, "epochs")


def _class_table(run: RunFiles) -> str:
    if multilabel.is_multilabel(run.metrics):
        rows = [("", [_e(c), *[_e(v) for v in multilabel.class_cells(run.metrics["per_class"][c])]]) for c in run.classes]
        return _section("Per-label scores", _table(multilabel.class_headers(), rows), "classes")
    rows = []
    for c in run.classes:
        s = run.metrics["per_class"][c]
        rows.append(("", [_e(c), f"{float(s['precision']):.3f}", f"{float(s['recall']):.3f}", f"{float(s['f1']):.3f}", _e(s.get("support", "-"))]))
    headers = [("class", False), ("precision", True), ("recall", True), ("F1", True), ("support", True)]
    return _section("Per-class scores", _table(headers, rows), "classes")


def _plots(plots: dict[str, Path]) -> str:
    figures = []
    for name, path in plots.items():
        uri = _data_uri(path.read_bytes(), "image/png")
        title = PLOT_TITLES.get(name, name)
        figures.append(f'<figure><img src="{uri}" alt="{_e(title)}"><figcaption>{_e(title)} ({_e(path.name)})</figcaption></figure>')
    return _section("Plots", "".join(figures), "plots")


def _gallery(run: RunFiles) -> str:
    if run.predictions is None:
        return _section("Misclassified validation items", '<p class="muted">val_predictions.json not recorded for this run.</p>', "gallery")
    mistakes = confident_mistakes(run.predictions, GALLERY_LIMIT)
    if not mistakes:
        return _section("Misclassified validation items", '<p class="muted">No validation item was misclassified.</p>', "gallery")
    classes = [str(c) for c in run.predictions.get("classes") or run.classes]
    total_wrong = sum(1 for item in run.predictions["items"] if item["label"] != item["pred"])
    cards = []
    for item in mistakes:
        if run.modality == "image":
            uri = _thumbnail_uri(resolve_input_path(run.run_dir, item["input"]))
            shown = (f'<img src="{uri}" alt="{_e(Path(item["input"]).name)}">' if uri
                     else f'<div class="missing">image not found: {_e(Path(item["input"]).name)}</div>')
        else:
            text = item["input"]
            text = text if len(text) <= TEXT_PREVIEW_CHARS else text[:TEXT_PREVIEW_CHARS] + "…"
            shown = f"<blockquote>{_e(text)}</blockquote>"
        cards.append(
            f'<div class="item">{shown}<div>true: <b>{_e(multilabel.label_names(classes, item["label"]))}</b><br>'
            f'pred: <b>{_e(multilabel.label_names(classes, item["pred"]))}</b> ({float(item["confidence"]):.0%})</div></div>'
        )
    note = f'<p class="muted">{len(mistakes)} most confident of {total_wrong} mistakes, most confident first.</p>'
    return _section("Misclassified validation items", note + f'<div class="gallery">{"".join(cards)}</div>', "gallery")


def _config(run: RunFiles) -> str:
    if run.config is None:
        return _section("Resolved config", '<p class="muted">config.yaml not found in the run folder.</p>', "config")
    config = dict(run.config)
    runtime = config.pop("resolved_runtime", None) or run.model.get("runtime")
    parts = []
    if isinstance(runtime, dict) and runtime:
        rows = [("", [_e(k), _e(v)]) for k, v in runtime.items()]
        parts.append("<h3>How it ran (resolved at run time)</h3>" + _table([("setting", False), ("value", False)], rows))
    auto = sorted(k for k, v in config.items() if v == "auto")
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False)
    parts.append(f"<h3>Options (config.yaml)</h3><pre>{_e(text)}</pre>")
    if auto:
        where = "the table above" if parts[0].startswith("<h3>How") else "the console output of the run"
        parts.append(f'<p class="muted">auto ({_e(", ".join(auto))}): chosen at run time for this machine; see {where}.</p>')
    return _section("Resolved config", "".join(parts), "config")


def render_report(run: RunFiles, plots: dict[str, Path]) -> str:
    """The complete HTML document for ``run`` with the given plot files embedded."""
    body = "".join([
        _summary(run),
        _findings(run),
        _phases(run),
        _param_tables(run),
        _epoch_table(run),
        _class_table(run),
        _plots(plots),
        _gallery(run),
        _config(run),
    ])
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>headstart report: {_e(run.name)}</title><style>{CSS}</style></head>"
        f"<body>{_header(run)}<main>{body}</main></body></html>\n"
    )


def write_report(run_dir: str | Path) -> Path:
    """Regenerate the plots, then write ``run_dir/report.html`` and return its path.

    Raises RunError when the run folder lacks model.json/metrics.json or holds an invalid file.
    """
    run = load_run(run_dir)
    plots = write_run_plots(run)
    path = run.run_dir / "report.html"
    path.write_text(render_report(run, plots), encoding="utf-8")
    return path
