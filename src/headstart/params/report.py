"""The parameter report printed before training: params, trainable and LR per layer group.

Why: the most common transfer-learning bug is training the wrong parameters (a head that is
frozen, a backbone that was meant to be). One table before training makes that visible.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..model import TransferModel


@dataclass
class GroupRow:
    name: str
    params: int
    trainable: int
    lr: float | None


@dataclass
class ParamReport:
    rows: list[GroupRow] = field(default_factory=list)
    phase: str | None = None

    @property
    def total(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def trainable(self) -> int:
        return sum(r.trainable for r in self.rows)

    def totals_line(self) -> str:
        return f"Trainable: {self.trainable:,} / Total: {self.total:,}"

    def to_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "total": self.total, "trainable": self.trainable,
                "groups": [asdict(r) for r in self.rows]}

    def to_text(self) -> str:
        width = max([len(r.name) for r in self.rows] + [5])
        lines = [f"{'group':<{width}}  {'params':>12}  {'trainable':>12}  {'lr':>9}"]
        for r in self.rows:
            lr = f"{r.lr:.2e}" if r.lr is not None else "-"
            lines.append(f"{r.name:<{width}}  {r.params:>12,}  {r.trainable:>12,}  {lr:>9}")
        lines.append(self.totals_line())
        return "\n".join(lines)

    def to_rich(self):
        from rich.table import Table

        title = f"Parameters ({self.phase})" if self.phase else "Parameters"
        table = Table(title=title, caption=self.totals_line())
        for col, justify in (("group", "left"), ("params", "right"), ("trainable", "right"), ("lr", "right")):
            table.add_column(col, justify=justify)
        for r in self.rows:
            style = None if r.trainable else "dim"
            table.add_row(r.name, f"{r.params:,}", f"{r.trainable:,}", f"{r.lr:.2e}" if r.lr else "-", style=style)
        return table


def parameter_report(model: TransferModel, param_groups: list[dict[str, Any]] | None = None, phase: str | None = None) -> ParamReport:
    """Count params per layer group; LRs come from ``param_groups`` (as built for the optimizer)."""
    lrs: dict[str, float] = {}
    for pg in param_groups or []:
        lrs.setdefault(pg["layer_group"], pg["lr"])
    params = dict(model.named_parameters())
    rows = []
    for g in model.layer_groups():
        tensors = [params[n] for n in g.param_names]
        trainable = sum(p.numel() for p in tensors if p.requires_grad)
        rows.append(GroupRow(g.name, sum(p.numel() for p in tensors), trainable, lrs.get(g.name) if trainable else None))
    return ParamReport(rows, phase)
