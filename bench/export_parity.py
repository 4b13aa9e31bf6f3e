"""Parity and latency of a run's exports: PyTorch vs onnxruntime vs TorchScript.

Exports the run to ONNX and TorchScript (into a temporary folder unless ``--output`` is given),
then on up to ``--max-inputs`` of the run's validation inputs prints, per backend: the largest
absolute logit difference from PyTorch, top-1 agreement, and the median latency of one batch of
1 and of N inputs. A last row compares the deployed paths end to end: OnnxPredictor (Pillow
preprocessing, onnxruntime) against Predictor (torchvision preprocessing, PyTorch).

    PYTHONPATH=src python bench/export_parity.py runs/pets
    PYTHONPATH=src python bench/export_parity.py runs/pets --max-inputs 64 --repeats 20
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from headstart.export.onnx_export import export_onnx, onnx_runner
from headstart.export.onnx_predictor import OnnxPredictor
from headstart.export.parity import Runner, exportable, input_names, parity_batches, torch_runner, validation_items
from headstart.export.predictor import Predictor
from headstart.export.torchscript_export import export_torchscript, torchscript_runner
from headstart.run_model import load_run


def median_ms(runner: Runner, feeds: dict, repeats: int) -> float:
    runner(feeds)  # warm-up (TorchScript optimises on its first calls, onnxruntime allocates)
    runner(feeds)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner(feeds)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder")
    parser.add_argument("--output", type=Path, default=None, help="export folder (default: a temporary one)")
    parser.add_argument("--max-inputs", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--exporter", default="auto", help="ONNX exporter: auto | dynamo | torchscript")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = args.output or Path(tmp)
        start = time.perf_counter()
        onnx = export_onnx(args.run, out, max_inputs=args.max_inputs, exporter=args.exporter)
        onnx_seconds = time.perf_counter() - start
        start = time.perf_counter()
        script = export_torchscript(args.run, out, max_inputs=args.max_inputs)
        script_seconds = time.perf_counter() - start

        run = load_run(args.run)
        batches = parity_batches(run, validation_items(run, args.max_inputs))
        n = max(batches)
        reference = torch_runner(exportable(run), input_names(run.modality))
        onnx_name = f"onnxruntime ({onnx.report.details.get('exporter')})"
        rows = [("torch (eager)", None, reference, 0.0),
                (onnx_name, onnx.report, onnx_runner(onnx.path), onnx_seconds),
                ("torchscript (trace)", script.report, torchscript_runner(script.path), script_seconds)]
        print(f"run {args.run}  modality {run.modality}  {n} validation inputs, batch sizes 1 and {n}\n")
        print(f"{'backend':<34} {'max|dlogit|':>12} {'top-1 agree':>12} {'ms/batch 1':>11} "
              f"{f'ms/batch {n}':>12} {'export s':>9}")
        for name, report, runner, seconds in rows:
            one = median_ms(runner, batches[1][0], args.repeats)
            many = median_ms(runner, batches[n][0], args.repeats)
            diff = f"{report.max_abs_diff:.3g}" if report else "-"
            agree = f"{report.top1_agreement:.4f}" if report else "-"
            print(f"{name:<34} {diff:>12} {agree:>12} {one:>11.2f} {many:>12.2f} {seconds:>9.1f}")

        items = validation_items(run, args.max_inputs)
        expected = Predictor.from_run(args.run, device="cpu").predict_proba(items)
        got = OnnxPredictor.from_files(onnx.path).predict_proba(items)
        print(f"\nOnnxPredictor vs Predictor (preprocessing included) on {len(items)} inputs: "
              f"max |dprob| {float(np.abs(got - expected).max()):.3g}, "
              f"top-1 agreement {float((got.argmax(1) == expected.argmax(1)).mean()):.4f}")


if __name__ == "__main__":
    main()
