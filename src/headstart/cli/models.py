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

    from ..backbone_catalog import SOURCE_DESCRIPTIONS, named_backbones, source_prefixes

    # Without a library prefix everything comes from the torch-free catalog: instant.
    rows = []
    prefixes = source_prefixes()
    if ":" not in pattern:
        for entry in named_backbones():
            if fnmatch.fnmatch(entry.name, pattern):
                rows.append({"name": entry.name, "source": entry.source, "modality": entry.modality,
                             "pretrained_offline": bool(entry.offline()), "description": entry.description})
        rows += [{"name": f"{prefix}:*", "source": prefix, "modality": "text" if prefix == "hf" else "image",
                  "pretrained_offline": None, "description": SOURCE_DESCRIPTIONS[prefix]} for prefix in prefixes]
    else:
        rows = _library_rows(pattern, prefixes, limit)
    if as_json:
        for r in rows:
            print(json.dumps(r))
        return
    from rich.console import Console
    from rich.table import Table

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


def _library_rows(pattern: str, prefixes: list[str], limit: int) -> list[dict]:
    """Rows for ``prefix:glob``: imports only the libraries whose prefix matches."""
    import fnmatch

    prefix, _, sub = pattern.partition(":")
    matching = [p for p in prefixes if fnmatch.fnmatch(p, prefix)]
    if not matching:
        from ..errors import UnknownNameError

        raise UnknownNameError(f"No backbone source matches {prefix!r} in {pattern!r}. "
                               f"Valid prefixes: {', '.join(p + ':' for p in prefixes)}.")
    from ..backbones import SOURCES
    from ..backbones.torchvision_source import offline_weights_available

    rows = []
    for src_name in matching:
        names = [n for n in SOURCES.get(src_name).list_models("*") if fnmatch.fnmatch(n, sub or "*")][:limit]
        for n in names:
            offline = offline_weights_available(n) if src_name == "torchvision" else None
            rows.append({"name": f"{src_name}:{n}", "source": src_name, "modality": "text" if src_name == "hf" else "image",
                         "pretrained_offline": offline, "description": ""})
    return rows
