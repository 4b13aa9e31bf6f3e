"""``headstart serve RUN``: answer predictions for a trained run over HTTP.

The heavy imports (FastAPI, uvicorn, torch through the Predictor) happen inside the command so
``headstart --help`` stays fast.
"""
from __future__ import annotations

from pathlib import Path

import typer

from headstart.cli.app import app
from headstart.errors import RunError
from headstart.export.batching import DEFAULT_MAX_BATCH

_HELP = """Serve a trained run as an HTTP prediction service (FastAPI + uvicorn).

Endpoints: GET /health, GET /labels, POST /predict, and interactive docs at /docs.

Example:

    headstart serve runs/pets --port 8000

    curl -F file=@cat.jpg -F file=@dog.jpg 'http://127.0.0.1:8000/predict?top_k=3'

A text run takes JSON instead:

    curl -H 'Content-Type: application/json' -d '{"texts": ["great value"]}' http://127.0.0.1:8000/predict

The service listens on 127.0.0.1 only; pass --host 0.0.0.0 to expose it to your network.
"""


@app.command("serve", help=_HELP)
def serve_command(
    run: Path = typer.Argument(..., help="Run folder written by `headstart train` (holds model.json)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on; 0.0.0.0 exposes it to the network."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port to listen on."),
    max_upload_mb: float = typer.Option(10.0, "--max-upload-mb", min=0.01,
                                        help="Largest request body accepted, in MB (all files of one request)."),
    top_k: int = typer.Option(5, "--top-k", min=1,
                              help="Best labels returned per input unless ?top_k= asks otherwise."),
    device: str | None = typer.Option(None, "--device",
                                      help="Torch device, e.g. cpu or cuda:0 (default: best available)."),
    max_batch: int = typer.Option(DEFAULT_MAX_BATCH, "--max-batch", min=1,
                                  help="Inputs of concurrent requests run in one forward pass (gathered for up "
                                       "to 5 ms); 1 turns micro-batching off."),
) -> None:
    """Load RUN's predictor and serve it until Ctrl+C."""
    if not run.is_dir():
        raise RunError(f"run folder {str(run)!r} does not exist.",
                       "Pass the folder `headstart train` wrote, e.g. runs/<name>.")
    if device is not None:
        _check_device(device)
    from headstart.export.serve import serve

    typer.echo(f"Serving {run} on http://{host}:{port} (docs at http://{host}:{port}/docs); Ctrl+C stops.")
    serve(run, host=host, port=port, max_upload_bytes=int(max_upload_mb * 2**20), top_k=top_k, device=device,
          max_batch=max_batch)


def _check_device(device: str) -> None:
    """A ConfigError for a ``--device`` torch does not know or this machine does not have."""
    import torch

    from ..errors import ConfigError

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"--device {device!r} is not a torch device.", "Use cpu, cuda or cuda:N.") from None
    count = torch.cuda.device_count() if parsed.type == "cuda" else 1
    present = parsed.type == "cpu" or (parsed.type == "cuda" and (parsed.index or 0) < count) or (
        parsed.type == "mps" and torch.backends.mps.is_available())
    if not present:
        raise ConfigError(f"--device {device!r} is not available on this machine.", "Use cpu, or leave --device out.")
