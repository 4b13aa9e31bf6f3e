"""One clear message for pretrained weights that cannot be downloaded.

Why: offline machines are common (clusters, CI, air-gapped labs). A hub download failing deep in
urllib is useless to a user; this says which weights, where they would be cached, and how to pass
a local file instead.
"""
from __future__ import annotations

from ..errors import WeightsError


def offline_error(model: str, cache_location: str, cause: BaseException) -> WeightsError:
    reason = str(cause).strip().splitlines()[0][:160] if str(cause).strip() else type(cause).__name__
    return WeightsError(
        f"Could not get pretrained weights for {model} ({reason}). Offline? They would be cached "
        f"at {cache_location}.",
        "Put the file there, or pass a local file with --weights PATH (.pth/.pt/.safetensors), "
        "or use --weights none for random init (or the offline default `efficientnet_lite0`).",
    )
