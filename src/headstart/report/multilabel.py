"""The parts of the report that differ for a multi-label run (``metrics.json`` has ``task: multi-label``).

Why apart: a multi-label run has no confusion matrix (an item can be right on one label and wrong
on another) and its headline is mAP, not accuracy. The HTML report and the plots ask these
functions for the summary cards, the per-label table, the findings and how to name a label set;
everything else (curves, phases, parameters, gallery) is shared.
"""
from __future__ import annotations

from typing import Any, Sequence

# Rules of thumb for the findings, stated in the text they produce.
WEAK_AP = 0.5              # a label below this AP is barely ranked better than chance
RARE_LABEL_SUPPORT = 5     # fewer positive validation items than this: its numbers are noise


def is_multilabel(metrics: dict[str, Any]) -> bool:
    return metrics.get("task") == "multi-label"


def label_names(classes: Sequence[str], value: int | list[int]) -> str:
    """A class index, or a label set as ``a + b`` (``(none)`` for the empty set)."""
    if isinstance(value, list):
        return " + ".join(str(classes[i]) for i in value) or "(none)"
    return str(classes[value])


def summary_cards(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("mAP", f"{float(metrics['val_map']):.3f}"),
        ("micro-F1", f"{float(metrics['micro_f1']):.3f}"),
        ("macro-F1", f"{float(metrics['macro_f1']):.3f}"),
        ("exact match", f"{float(metrics['val_accuracy']):.2%}"),
        ("val loss", f"{float(metrics['val_loss']):.4f}"),
    ]


def class_headers() -> list[tuple[str, bool]]:
    return [("label", False), ("precision", True), ("recall", True), ("F1", True), ("AP", True),
            ("threshold", True), ("positives", True)]


def class_cells(entry: dict[str, Any]) -> list[str]:
    """Per-label numbers (not yet escaped: plain numbers) in :func:`class_headers` order."""
    ap = entry.get("ap")
    return [f"{float(entry['precision']):.3f}", f"{float(entry['recall']):.3f}", f"{float(entry['f1']):.3f}",
            "-" if ap is None else f"{float(ap):.3f}", f"{float(entry.get('threshold', 0.5)):.3f}",
            str(entry.get("support", "-"))]


def diagnose(metrics: dict[str, Any], classes: Sequence[str]) -> list[tuple[str, str]]:
    """Findings for a multi-label run: the mAP, the weakest labels and labels too rare to judge."""
    per = metrics["per_class"]
    findings: list[tuple[str, str]] = [("info", (
        f"mAP {float(metrics['val_map']):.3f} (threshold-free ranking quality, mean over labels); "
        f"micro-F1 {float(metrics['micro_f1']):.3f} and exact match {float(metrics['val_accuracy']):.1%} use "
        "per-label thresholds chosen on this same validation data, so they are optimistic."))]
    scored = [(float(per[c]["ap"]), c) for c in classes if per[c].get("ap") is not None]
    if scored:
        ap, worst = min(scored)
        level = "warn" if ap < WEAK_AP else "info"
        findings.append((level, f"Weakest label: '{worst}' (AP {ap:.3f}, F1 {float(per[worst]['f1']):.3f}, "
                                f"{per[worst].get('support', '?')} positive items)."))
    rare = [c for c in classes if int(per[c].get("support", 0)) < RARE_LABEL_SUPPORT]
    if rare:
        shown = ", ".join(f"'{c}'" for c in rare[:5]) + (" ..." if len(rare) > 5 else "")
        findings.append(("warn", f"{len(rare)} label(s) have fewer than {RARE_LABEL_SUPPORT} positive validation "
                                 f"items ({shown}): their thresholds and scores are noise."))
    return findings
