"""Throughput and latency of the HTTP prediction service on loopback.

Starts the service in this process (uvicorn in a background thread, 127.0.0.1, a free port), sends
a bounded number of requests from a pool of concurrent clients and prints a Markdown table of
requests/s, inputs/s and p50/p95 latency for 1 and for 8 inputs per request, for each
``--max-batch`` (1 = micro-batching off). ``--rounds`` alternates the settings, so a shared
machine's changing load hits both alike.

    PYTHONPATH=src python bench/serve_bench.py                  # fake predictor: the HTTP layer alone
    PYTHONPATH=src python bench/serve_bench.py runs/pets -n 200 -c 8
    PYTHONPATH=src python bench/serve_bench.py runs/pets --inputs 1 --max-batch 1 16 --rounds 3

CPU ms/input is the CPU time of this process (server and clients) per input served: on a shared
machine it says more about capacity than img/s, which follows whatever else is running.

Without a run folder the predictor is a stand-in that labels an image by its mean intensity, so the
numbers show what parsing, decoding and the service cost on their own. All traffic stays on
127.0.0.1.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from headstart.export.serve import create_app, serve_in_background

MAX_REQUESTS = 5000


class MeanIntensityPredictor:
    """Stand-in predictor: 'dark' or 'bright' by mean pixel value; costs about what a resize does."""

    classes = ["dark", "bright"]
    modality = "image"

    def predict(self, inputs, top_k=5, batch_size=32, tta=False):
        results = []
        for image in inputs:
            mean = float(np.asarray(image.resize((64, 64)), dtype=np.float32).mean()) / 255.0
            probs = {"dark": 1.0 - mean, "bright": mean}
            ranked = sorted(probs.items(), key=lambda kv: -kv[1])[:top_k]
            top = [{"label": k, "probability": v} for k, v in ranked]
            results.append({"label": top[0]["label"], "probability": top[0]["probability"], "top_k": top})
        return results


def _jpeg(size: int, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _request_kwargs(modality: str, count: int, size: int) -> dict:
    if modality == "image":
        return {"files": [("file", (f"{i}.jpg", _jpeg(size, i), "image/jpeg")) for i in range(count)]}
    return {"json": {"texts": [f"benchmark sentence number {i}, of moderate length." for i in range(count)]}}


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def run_load(url: str, kwargs: dict, requests: int, concurrency: int) -> dict:
    """Send ``requests`` identical requests from ``concurrency`` threads; return the timings."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=url, timeout=120, limits=limits) as client:
        for _ in range(min(3, requests)):  # warm up connections and the model
            client.post("/predict", **kwargs).raise_for_status()

        def one(_: int) -> float:
            began = time.perf_counter()
            client.post("/predict", **kwargs).raise_for_status()
            return time.perf_counter() - began

        began, began_cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            latencies = list(pool.map(one, range(requests)))
        elapsed, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    return {"elapsed": elapsed, "latencies": latencies, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="?", type=Path, help="run folder to serve (default: a fake predictor)")
    parser.add_argument("-n", "--requests", type=int, default=200, help=f"requests per row (at most {MAX_REQUESTS})")
    parser.add_argument("-c", "--concurrency", type=int, default=8, help="concurrent clients")
    parser.add_argument("--inputs", type=int, nargs="+", default=[1, 8], help="inputs per request, one row each")
    parser.add_argument("--size", type=int, default=224, help="side of the JPEG images sent, in pixels")
    parser.add_argument("--device", default=None, help="torch device for a real run")
    parser.add_argument("--max-batch", type=int, nargs="+", default=[1, 16],
                        help="micro-batch sizes to compare (1 = off), one row each")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the settings alternately this many times")
    args = parser.parse_args()
    if not 1 <= args.requests <= MAX_REQUESTS or args.concurrency < 1 or min(args.inputs) < 1:
        parser.error(f"--requests must be 1..{MAX_REQUESTS}; --concurrency and --inputs at least 1")

    if args.run is None:
        predictor, source = MeanIntensityPredictor(), "fake predictor (mean intensity)"
    else:
        from headstart.export.predictor import Predictor

        predictor, source = Predictor.from_run(args.run, device=args.device), str(args.run)
    sent = f", {args.size}px JPEG" if predictor.modality == "image" else ""
    print(f"serving {source} ({predictor.modality}) on 127.0.0.1; {args.requests} requests per row, "
          f"{args.concurrency} concurrent clients{sent}; {os.cpu_count()} CPUs\n")
    print("| round | max batch | inputs/req | requests | req/s | inputs/s | p50 ms | p95 ms | max ms | inputs/pass "
          "| CPU ms/input | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for round_ in range(1, args.rounds + 1):
        for max_batch in args.max_batch:
            app = create_app(predictor, max_files=max(32, max(args.inputs)), max_texts=max(256, max(args.inputs)),
                             max_upload_bytes=64 * 2**20, max_batch=max_batch)
            with serve_in_background(app, host="127.0.0.1") as url:
                for count in args.inputs:
                    passes_before = app.state.batcher.batches_run if app.state.batcher else 0
                    result = run_load(url, _request_kwargs(predictor.modality, count, args.size),
                                      args.requests, args.concurrency)
                    ms = [t * 1000 for t in result["latencies"]]
                    rate = args.requests / result["elapsed"]
                    sent_inputs = (args.requests + min(3, args.requests)) * count  # warm-up requests too
                    passes = (app.state.batcher.batches_run - passes_before) if app.state.batcher else args.requests
                    print(f"| {round_} | {max_batch} | {count} | {args.requests} | {rate:.1f} | {rate * count:.1f} | "
                          f"{statistics.median(ms):.0f} | {_percentile(ms, 95):.0f} | {max(ms):.0f} | "
                          f"{sent_inputs / max(passes, 1) if app.state.batcher else count:.1f} | "
                          f"{1000 * result['cpu'] / (args.requests * count):.0f} | "
                          f"{os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
