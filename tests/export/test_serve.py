"""The HTTP prediction service, started for real with uvicorn on loopback and driven with httpx.

Fake predictors stand in for the real one: the image fake labels an image by its mean pixel
intensity and the text fake by whether the text says "good", so every answer can be checked.
"""
from __future__ import annotations

import io
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from PIL import Image

from headstart.errors import ConfigError, DataError
from headstart.export import serve as serve_module
from headstart.export.serve import create_app, serve_in_background

IMAGE_CLASSES = ["dark", "medium", "bright"]
TEXT_CLASSES = ["negative", "positive"]


def _ranked(scores: np.ndarray, classes: list[str], top_k: int) -> dict:
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    order = np.argsort(-probs)
    top = [{"label": classes[i], "probability": float(probs[i])} for i in order[:top_k]]
    return {"label": top[0]["label"], "probability": top[0]["probability"], "top_k": top}


class FakeImagePredictor:
    """Labels by mean intensity (dark < 85 <= medium < 170 <= bright); records how it is called."""

    classes = IMAGE_CLASSES
    modality = "image"

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.calls: list[int] = []
        self.active = self.max_active = 0
        self.started = threading.Event()
        self._count_lock = threading.Lock()

    def predict(self, inputs, top_k=5, batch_size=32, tta=False):
        with self._count_lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.calls.append(len(inputs))
        self.started.set()
        try:
            time.sleep(self.delay or 0.002)  # a little work, so overlapping calls would show
            results = []
            for image in inputs:
                if not isinstance(image, Image.Image) or image.mode != "RGB":
                    raise TypeError(f"expected an RGB PIL image, got {image!r}")
                mean = float(np.asarray(image, dtype=np.float32).mean())
                scores = -np.abs(mean - np.array([42.0, 127.0, 212.0])) / 20.0
                results.append(_ranked(scores, self.classes, top_k))
            return results
        finally:
            with self._count_lock:
                self.active -= 1


class FakeTextPredictor:
    """'positive' when the text contains "good"; "user-error" and "crash" make it fail."""

    classes = TEXT_CLASSES
    modality = "text"

    def predict(self, inputs, top_k=5, batch_size=32, tta=False):
        results = []
        for text in inputs:
            if text == "user-error":
                raise DataError("text 'user-error' cannot be tokenised.", "Send another text.")
            if text == "crash":
                raise RuntimeError("boom")
            positive = "good" in text.lower()
            results.append(_ranked(np.array([0.0, 2.0 if positive else -2.0]), self.classes, top_k))
        return results


def image_bytes(value: int, size: int = 32, fmt: str = "PNG", mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (size, size), value if mode == "L" else (value, value, value)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def image_fake() -> FakeImagePredictor:
    return FakeImagePredictor()


@pytest.fixture(scope="module")
def image_client(image_fake):
    app = create_app(image_fake, max_upload_bytes=64 * 1024, max_files=4, top_k=2, max_image_pixels=64 * 64)
    with serve_in_background(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        client.get("/health").raise_for_status()
        yield client


@pytest.fixture(scope="module")
def text_client():
    app = create_app(FakeTextPredictor(), max_texts=3, max_text_chars=50)
    with serve_in_background(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        client.get("/health").raise_for_status()
        yield client


def _detail(response: httpx.Response) -> str:
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    return detail


# --- happy paths ----------------------------------------------------------------------------------

def test_health_and_labels(image_client, text_client):
    assert image_client.get("/health").json() == {"status": "ok", "modality": "image", "num_classes": 3}
    assert text_client.get("/health").json() == {"status": "ok", "modality": "text", "num_classes": 2}
    assert image_client.get("/labels").json() == {"labels": IMAGE_CLASSES}
    assert text_client.get("/labels").json() == {"labels": TEXT_CLASSES}


def test_single_image_gets_its_label_filename_and_default_top_k(image_client):
    response = image_client.post("/predict", files={"file": ("night.png", image_bytes(10), "image/png")})
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    assert prediction["label"] == "dark" and prediction["filename"] == "night.png"
    assert [s["label"] for s in prediction["top_k"]] == ["dark", "medium"]  # top_k=2 from create_app
    assert prediction["probability"] == pytest.approx(prediction["top_k"][0]["probability"])


def test_several_images_keep_their_order_in_one_predict_call(image_client, image_fake):
    files = [("file", ("b.jpg", image_bytes(240, fmt="JPEG"), "image/jpeg")),
             ("file", ("d.png", image_bytes(5, mode="L"), "image/png")),
             ("file", ("m.bmp", image_bytes(128, fmt="BMP"), "image/bmp"))]
    image_fake.calls.clear()
    response = image_client.post("/predict", files=files, params={"top_k": 3})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [(p["filename"], p["label"]) for p in predictions] == [("b.jpg", "bright"), ("d.png", "dark"),
                                                                  ("m.bmp", "medium")]
    assert all(len(p["top_k"]) == 3 for p in predictions)
    assert image_fake.calls == [3]


def test_top_k_above_the_number_of_classes_is_capped(image_client):
    response = image_client.post("/predict", params={"top_k": 50}, files={"file": ("a.png", image_bytes(200))})
    assert response.status_code == 200
    assert len(response.json()["predictions"][0]["top_k"]) == 3


def test_texts_get_their_labels_without_filename(text_client):
    response = text_client.post("/predict", json={"texts": ["A good film", "dull and slow"]}, params={"top_k": 1})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["label"] for p in predictions] == ["positive", "negative"]
    assert all("filename" not in p and len(p["top_k"]) == 1 for p in predictions)


# --- bad requests ---------------------------------------------------------------------------------

def test_undecodable_upload_is_415_naming_the_file(image_client):
    files = [("file", ("ok.png", image_bytes(10))), ("file", ("notes.txt", b"just some text", "text/plain"))]
    response = image_client.post("/predict", files=files)
    assert response.status_code == 415
    assert "notes.txt" in _detail(response) and "not an image" in _detail(response)


def test_truncated_image_is_415(image_client):
    response = image_client.post("/predict", files={"file": ("cut.jpg", image_bytes(10, fmt="JPEG")[:60])})
    assert response.status_code == 415 and "cut.jpg" in _detail(response)


def test_image_with_too_many_pixels_is_413(image_client):
    response = image_client.post("/predict", files={"file": ("huge.png", image_bytes(10, size=100))})
    assert response.status_code == 413 and "huge.png" in _detail(response) and "100x100" in _detail(response)


def test_pillow_decompression_bomb_is_413(image_client, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 32x32 is over twice this: Pillow refuses it
    response = image_client.post("/predict", files={"file": ("bomb.png", image_bytes(10))})
    assert response.status_code == 413 and "bomb.png" in _detail(response)


def test_body_over_the_limit_is_413_by_content_length(image_client):
    response = image_client.post("/predict", files={"file": ("big.png", b"\0" * 200_000)})
    assert response.status_code == 413 and "larger than" in _detail(response)
    assert image_client.get("/health").status_code == 200


def test_declared_size_over_the_limit_is_refused_before_any_body_is_read(image_client):
    """Only headers are sent: a server that waited for the 1 GB body would time out here."""
    host, port = image_client.base_url.host, image_client.base_url.port
    with socket.create_connection((host, port), timeout=5) as conn:
        conn.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n"
                     b"Content-Type: multipart/form-data; boundary=xyz\r\n\r\n")
        status_line = conn.recv(4096).split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"


def test_body_over_the_limit_is_413_while_streaming_without_content_length(image_client):
    def chunks():
        yield b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n"
        for _ in range(40):
            yield b"\0" * 8192

    response = image_client.post("/predict", content=chunks(),
                                 headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert response.status_code == 413 and "larger than" in _detail(response)


def test_wrong_field_name_is_422_naming_file(image_client):
    response = image_client.post("/predict", files={"image": ("a.png", image_bytes(10))})
    assert response.status_code == 422
    assert "'image'" in _detail(response) and "field 'file'" in _detail(response)


def test_text_value_in_file_field_is_422(image_client):
    response = image_client.post("/predict", data={"file": "/etc/passwd"},
                                 files={"file": ("a.png", image_bytes(10))})
    assert response.status_code == 422 and "not a file" in _detail(response)


MULTIPART_EMPTY = {"content": b"--xyz--\r\n", "headers": {"content-type": "multipart/form-data; boundary=xyz"}}


@pytest.mark.parametrize("kwargs", [{}, MULTIPART_EMPTY], ids=["no-body", "multipart-without-parts"])
def test_missing_file_is_422(image_client, kwargs):
    response = image_client.post("/predict", **kwargs)
    assert response.status_code == 422 and "field 'file'" in _detail(response)


def test_url_encoded_form_is_415_naming_the_file_field(image_client):
    response = image_client.post("/predict", data={"file": "cat.jpg"})
    assert response.status_code == 415 and "field 'file'" in _detail(response)


def test_too_many_files_is_413(image_client, image_fake):
    image_fake.calls.clear()
    files = [("file", (f"{i}.png", image_bytes(10))) for i in range(5)]
    response = image_client.post("/predict", files=files)
    assert response.status_code == 413 and "more than 4 files" in _detail(response)
    assert image_fake.calls == []


def test_truncated_multipart_is_400(image_client):
    body = b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n" + image_bytes(9)
    response = image_client.post("/predict", content=body,
                                 headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert response.status_code == 400 and "closing boundary" in _detail(response)


def test_json_for_an_image_model_is_415_saying_what_it_expects(image_client):
    response = image_client.post("/predict", json={"texts": ["hello"]})
    assert response.status_code == 415
    assert "classifies images" in _detail(response) and "field 'file'" in _detail(response)


def test_raw_image_body_is_415(image_client):
    response = image_client.post("/predict", content=image_bytes(10), headers={"content-type": "image/png"})
    assert response.status_code == 415 and "'image/png'" in _detail(response)


def test_multipart_for_a_text_model_is_415_saying_what_it_expects(text_client):
    response = text_client.post("/predict", files={"file": ("a.png", image_bytes(10))})
    assert response.status_code == 415
    assert "classifies text" in _detail(response) and '"texts"' in _detail(response)


@pytest.mark.parametrize(("payload", "status", "message"), [
    ({"texts": []}, 400, "is empty"),
    ({}, 422, "missing field 'texts'"),
    ({"text": "hello"}, 422, "missing field 'texts'"),
    ({"texts": ["a"], "extra": 1}, 422, "unknown field 'extra'"),
    ({"texts": "hello"}, 422, "must be a list of strings"),
    ({"texts": ["ok", 3]}, 422, "texts[1] is int"),
    ({"texts": ["a", "b", "c", "d"]}, 413, "4 texts in one request, at most 3"),
    ({"texts": ["ok", "x" * 51]}, 413, "texts[1] has 51 characters, at most 50"),
    (["hello"], 422, "missing field 'texts'"),
])
def test_bad_text_payloads(text_client, payload, status, message):
    response = text_client.post("/predict", json=payload)
    assert response.status_code == status
    assert message in _detail(response)


def test_invalid_json_is_400(text_client):
    response = text_client.post("/predict", content=b"{texts: [", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in _detail(response)


def test_deeply_nested_json_is_400_not_a_recursion_error(text_client):
    body = b'{"texts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = text_client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and "nests JSON too deeply" in _detail(response)


def test_bad_top_k_is_422_with_a_string_detail(image_client):
    response = image_client.post("/predict", params={"top_k": 0}, files={"file": ("a.png", image_bytes(10))})
    assert response.status_code == 422 and "top_k" in _detail(response)


def test_predictor_failures_are_json_errors(text_client):
    response = text_client.post("/predict", json={"texts": ["user-error"]})
    assert response.status_code == 400 and "cannot be tokenised" in _detail(response)
    response = text_client.post("/predict", json={"texts": ["crash"]})
    assert response.status_code == 500 and "see the server log" in _detail(response)
    assert "boom" not in response.text


# --- concurrency, docs, configuration -------------------------------------------------------------

def test_burst_of_concurrent_requests_all_succeed_with_serialised_inference(image_client, image_fake):
    values = [(i * 37) % 256 for i in range(32)]
    expected = ["dark" if v < 85 else "medium" if v < 170 else "bright" for v in values]
    image_fake.max_active = 0

    def one(value: int) -> str:
        response = image_client.post("/predict", files={"file": (f"{value}.png", image_bytes(value))})
        response.raise_for_status()
        return response.json()["predictions"][0]["label"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        labels = list(pool.map(one, values))
    assert labels == expected
    assert image_fake.max_active == 1


def test_event_loop_answers_while_a_prediction_runs():
    slow = FakeImagePredictor(delay=1.0)
    with serve_in_background(create_app(slow)) as url, httpx.Client(base_url=url, timeout=10) as client:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(client.post, "/predict", files={"file": ("a.png", image_bytes(250))})
            assert slow.started.wait(5)
            began = time.perf_counter()
            assert client.get("/health").status_code == 200
            assert time.perf_counter() - began < 0.5
            assert not pending.done()
            assert pending.result().json()["predictions"][0]["label"] == "bright"


def test_docs_and_openapi_describe_the_service(image_client, text_client):
    docs = image_client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    image_api = image_client.get("/openapi.json").json()
    assert "curl -F file=@" in image_api["info"]["description"]
    assert "multipart/form-data" in image_api["paths"]["/predict"]["post"]["requestBody"]["content"]
    text_api = text_client.get("/openapi.json").json()
    assert "application/json" in text_api["paths"]["/predict"]["post"]["requestBody"]["content"]


@pytest.mark.parametrize("kwargs", [{"max_files": 0}, {"max_upload_bytes": -1}, {"top_k": 0}])
def test_create_app_rejects_bad_limits(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ConfigError, match=name):
        create_app(FakeImagePredictor(), **kwargs)


def test_create_app_rejects_unknown_modality():
    fake = FakeImagePredictor()
    fake.modality = "audio"
    with pytest.raises(ConfigError, match="'audio'"):
        create_app(fake)


def test_serve_loads_the_run_and_runs_uvicorn(monkeypatch, tmp_path):
    """serve() builds Predictor.from_run(run) and hands uvicorn a working app on the given address."""
    import sys
    import types

    loaded = {}

    class FakePredictorClass:
        @staticmethod
        def from_run(run_dir, device=None):
            loaded.update(run_dir=run_dir, device=device)
            return FakeTextPredictor()

    module = types.ModuleType("headstart.export.predictor")
    module.Predictor = FakePredictorClass
    monkeypatch.setitem(sys.modules, "headstart.export.predictor", module)
    ran = {}
    monkeypatch.setattr(serve_module.uvicorn, "run", lambda app, **kw: ran.update(app=app, **kw))

    serve_module.serve(tmp_path, port=8123, max_upload_bytes=1000)
    assert loaded == {"run_dir": tmp_path, "device": None}
    assert ran["host"] == "127.0.0.1" and ran["port"] == 8123
    with serve_in_background(ran["app"]) as url:
        response = httpx.post(f"{url}/predict", json={"texts": ["x" * 2000]})
        assert response.status_code == 413  # the upload limit reached the app


def test_cli_serve_passes_flags_and_checks_the_run_folder(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import headstart.cli.serve  # noqa: F401  (registers the command)
    from headstart.cli.app import app

    calls = []
    monkeypatch.setattr(serve_module, "serve", lambda run, **kw: calls.append((run, kw)))
    runner = CliRunner()

    result = runner.invoke(app, ["serve", str(tmp_path), "--port", "9001", "--max-upload-mb", "2"])
    assert result.exit_code == 0, result.output
    assert calls == [(tmp_path, {"host": "127.0.0.1", "port": 9001, "max_upload_bytes": 2 * 2**20,
                                 "top_k": 5, "device": None, "max_batch": 16})]
    result = runner.invoke(app, ["serve", str(tmp_path), "--max-batch", "1"])
    assert result.exit_code == 0 and calls[-1][1]["max_batch"] == 1
    assert runner.invoke(app, ["serve", str(tmp_path), "--max-batch", "0"]).exit_code == 2

    result = runner.invoke(app, ["serve", str(tmp_path / "missing")])
    assert result.exit_code != 0 and "does not exist" in str(result.exception)

    help_text = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    assert "curl -F file=@" in help_text and "--max-upload-mb" in help_text
