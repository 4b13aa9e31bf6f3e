"""``headstart models [PATTERN]``: the backbones headstart knows and whether weights are offline."""
from __future__ import annotations

import json

import typer

from .app import app


@app.command("models", help="List backbones. Named ones with offline-weight availability; "
             "with a PATTERN like 'timm:*convnext*' or 'torchvision:resnet*' the library's models.\n\n"
             "Examples:\n\n  headstart models\n\n  headstart models 'torchvision:*'\n\n  headstart models 'timm:vit_*' --json")
def models(
    pattern: str = typer.Argument("*", help="Glob over names; prefix with torchvision: or timm: to search a library."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines output."),
    limit: int = typer.Option(50, help="Max models listed per library."),
) -> None:
    import fnmatch

    from rich.console import Console
    from rich.table import Table

    from ..backbones import BACKBONES, SOURCES
    from ..backbones.torchvision_source import offline_weights_available

    rows = []
    if ":" not in pattern:
        for name, entry in BACKBONES.items():
            if fnmatch.fnmatch(name, pattern):
                rows.append({"name": name, "source": entry.source, "modality": entry.modality,
                             "pretrained_offline": bool(entry.offline()), "description": entry.description})
    prefix, _, sub = pattern.partition(":") if ":" in pattern else ("*", "", pattern)
    if ":" in pattern and not any(fnmatch.fnmatch(s, prefix) for s in SOURCES):
        from ..errors import UnknownNameError

        raise UnknownNameError(f"No backbone source matches {prefix!r} in {pattern!r}. "
                               f"Valid prefixes: {', '.join(s + ':' for s in SOURCES)}.")
    for src_name, src in SOURCES.items():
        if ":" not in pattern:
            rows.append({"name": f"{src_name}:*", "source": src_name, "modality": "text" if src_name == "hf" else "image",
                         "pretrained_offline": None, "description": src.description})
            continue
        if not fnmatch.fnmatch(src_name, prefix):
            continue
        names = [n for n in src.list_models("*") if fnmatch.fnmatch(n, sub or "*")][:limit]
        for n in names:
            offline = offline_weights_available(n) if src_name == "torchvision" else None
            rows.append({"name": f"{src_name}:{n}", "source": src_name, "modality": "text" if src_name == "hf" else "image",
                         "pretrained_offline": offline, "description": ""})
    if as_json:
        for r in rows:
            print(json.dumps(r))
        return
    table = Table(title="Backbones")
    for col in ("name", "modality", "pretrained offline", "description"):
        table.add_column(col)
    for r in rows:
        flag = {True: "yes", False: "no", None: "-"}[r["pretrained_offline"]]
        table.add_row(r["name"], r["modality"], flag, r["description"])
    Console().print(table)
    if pattern.startswith("hf:"):
        Console().print("hf: lists the text aliases and the models in your local Hugging Face cache; the hub is not "
                        "searched. Any hub id works: --model hf:ID (downloaded when online).")
