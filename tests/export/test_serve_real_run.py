"""The HTTP service in front of a real trained run answers what Predictor.predict answers.

test_serve.py checks the service with fakes; here a tiny tinycnn run is trained, served for real
with uvicorn on loopback, and its HTTP answers are compared with in-process predictions, for the
PyTorch Predictor and for the onnxruntime OnnxPredictor behind the same service.
"""
from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from headstart.export.onnx_export import export_onnx
from headstart.export.onnx_predictor import OnnxPredictor
from headstart.export.predictor import Predictor
from headstart.export.serve import create_app, serve_in_background

from .test_export import shared_image_run


@pytest.fixture(scope="module")
def run_and_images(tmp_path_factory) -> tuple[Path, list[Path]]:
    run_dir = shared_image_run(tmp_path_factory)
    images = sorted((run_dir.parents[1] / "data" / "val").rglob("*.*"))
    return run_dir, images


def post_images(url: str, images: list[Path], top_k: int) -> list[dict]:
    files = [("file", (p.name, p.read_bytes(), "image/png" if p.suffix == ".png" else "image/jpeg")) for p in images]
    response = httpx.post(f"{url}/predict", params={"top_k": top_k}, files=files, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def assert_matches(http: list[dict], expected: list[dict], images: list[Path], atol: float) -> None:
    assert [p["filename"] for p in http] == [p.name for p in images]
    for got, want in zip(http, expected):
        assert got["label"] == want["label"]
        assert [t["label"] for t in got["top_k"]] == [t["label"] for t in want["top_k"]]
        np.testing.assert_allclose([t["probability"] for t in got["top_k"]],
                                   [t["probability"] for t in want["top_k"]], atol=atol)


def test_http_predictions_equal_predictor(run_and_images):
    run_dir, images = run_and_images
    predictor = Predictor.from_run(run_dir, device="cpu")
    expected = predictor.predict([str(p) for p in images], top_k=3)
    with serve_in_background(create_app(predictor)) as url:
        health = httpx.get(f"{url}/health").json()
        assert health == {"status": "ok", "modality": "image", "num_classes": 3}
        assert httpx.get(f"{url}/labels").json()["labels"] == predictor.classes
        http = post_images(url, images, top_k=3)
        single = post_images(url, images[:1], top_k=1)
    assert_matches(http, expected, images, atol=1e-5)
    assert single[0]["label"] == expected[0]["label"] and len(single[0]["top_k"]) == 1


def test_service_runs_the_onnx_predictor_too(run_and_images, tmp_path):
    run_dir, images = run_and_images
    onnx = OnnxPredictor.from_files(export_onnx(run_dir, tmp_path, exporter="torchscript").path)
    expected = Predictor.from_run(run_dir, device="cpu").predict([str(p) for p in images], top_k=2)
    with serve_in_background(create_app(onnx)) as url:
        http = post_images(url, images, top_k=2)
    assert_matches(http, expected, images, atol=1e-3)  # PIL vs torchvision resize, see onnx_predictor
