"""HTTP prediction service: a trained run behind a small FastAPI app.

``create_app(predictor)`` wraps any object that follows the Predictor contract (``classes``,
``modality``, ``predict(inputs, top_k, batch_size)``) so it can be tested with a fake; ``serve(run)``
loads the real Predictor from a run folder and runs uvicorn.

Why the request handling is written out instead of using FastAPI's ``UploadFile``: uploads must stay
in memory (Starlette spools files over 1 MB to a temporary file) and the body size limit must hold
before anything is buffered, so the body is streamed, counted and parsed here. Request data never
reaches the file system: uploads are decoded from bytes, and a filename is only echoed back.

Example::

    from headstart.export.serve import create_app, serve_in_background
    app = create_app(predictor)
    with serve_in_background(app) as url:
        httpx.post(f"{url}/predict", files={"file": open("cat.jpg", "rb")})
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import uvicorn
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from headstart.errors import ConfigError, HeadstartError
from headstart.export.batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_S, MicroBatcher

logger = logging.getLogger(__name__)

IMAGE_FIELD = "file"
TEXT_FIELD = "texts"
_IMAGE_HINT = f"upload images as multipart form field '{IMAGE_FIELD}', e.g. curl -F {IMAGE_FIELD}=@cat.jpg"
_TEXT_HINT = f"""send JSON {{"{TEXT_FIELD}": ["first text", ...]}} with Content-Type: application/json"""


class PredictorLike(Protocol):
    """What the service needs from a Predictor (see docs/contracts.md, "Predictor")."""

    classes: Sequence[str]
    modality: str

    def predict(self, inputs: list[Any], top_k: int = 5, batch_size: int = 32) -> list[dict]: ...


class LabelScore(BaseModel):
    label: str
    probability: float


class Prediction(BaseModel):
    label: str
    probability: float
    top_k: list[LabelScore]
    labels: list[LabelScore] | None = None  # multi-label runs: every label above its threshold
    filename: str | None = None


class PredictResponse(BaseModel):
    predictions: list[Prediction]


class Health(BaseModel):
    status: str
    modality: str
    num_classes: int


class Labels(BaseModel):
    labels: list[str]


@dataclass(frozen=True)
class _Limits:
    upload_bytes: int
    files: int
    texts: int
    text_chars: int
    image_pixels: int


@dataclass
class _Upload:
    filename: str
    data: bytearray = field(default_factory=bytearray)


def _reject(status: int, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail=detail)


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n} bytes"


async def _body_chunks(request: Request, limit: int) -> AsyncIterator[bytes]:
    """Yield the body, refusing it up front by Content-Length and again while counting bytes."""
    too_large = (f"request body is larger than {_mb(limit)}, the most this server accepts; "
                 "send fewer or smaller inputs per request")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise _reject(400, f"invalid Content-Length header {declared[:40]!r}")
        if int(declared) > limit:
            raise _reject(413, too_large)
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _reject(413, too_large)
        yield chunk


class _FormCollector:
    """Callbacks for the streaming multipart parser: keeps file parts of field ``file`` in memory."""

    def __init__(self, max_files: int):
        self.max_files = max_files
        self.uploads: list[_Upload] = []
        self.finished = False
        self._headers: dict[bytes, bytes] = {}
        self._name = self._value = b""
        self._current: _Upload | None = None

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers, self._current = {}, None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._name.lower()] = self._value
        self._name = self._value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name != IMAGE_FIELD:
            raise _reject(422, f"unexpected form field {name[:80]!r}: {_IMAGE_HINT}")
        if b"filename" not in options:
            raise _reject(422, f"form field '{IMAGE_FIELD}' holds text, not a file: {_IMAGE_HINT}")
        if len(self.uploads) >= self.max_files:
            raise _reject(413, f"more than {self.max_files} files in one request; "
                               "split them over several requests")
        filename = options[b"filename"].decode("utf-8", "replace")[:200]
        self._current = _Upload(filename=filename)
        self.uploads.append(self._current)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current is not None:
            self._current.data += data[start:end]

    def _end(self) -> None:
        self.finished = True


async def _read_uploads(request: Request, content_type: str, limits: _Limits) -> list[_Upload]:
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise _reject(400, "multipart body without a boundary in its Content-Type; " + _IMAGE_HINT)
    collector = _FormCollector(limits.files)
    try:
        parser = MultipartParser(boundary, collector.callbacks())
        async for chunk in _body_chunks(request, limits.upload_bytes):
            parser.write(chunk)
        parser.finalize()
    except (MultipartParseError, ValueError) as error:
        raise _reject(400, f"malformed multipart body ({error}); {_IMAGE_HINT}") from None
    if not collector.finished:
        raise _reject(400, f"multipart body ended before its closing boundary; {_IMAGE_HINT}")
    if not collector.uploads:
        raise _reject(422, f"no file in the request: {_IMAGE_HINT}")
    return collector.uploads


async def _read_texts(request: Request, limits: _Limits) -> list[str]:
    body = bytearray()
    async for chunk in _body_chunks(request, limits.upload_bytes):
        body += chunk
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise _reject(400, f"request body is not valid JSON ({error}); {_TEXT_HINT}") from None
    except RecursionError:  # e.g. [[[[...]]]] thousands deep: nothing a text request needs
        raise _reject(400, f"request body nests JSON too deeply; {_TEXT_HINT}") from None
    if not isinstance(payload, dict) or TEXT_FIELD not in payload:
        raise _reject(422, f"missing field '{TEXT_FIELD}': {_TEXT_HINT}")
    unknown = sorted(set(payload) - {TEXT_FIELD})
    if unknown:
        raise _reject(422, f"unknown field {unknown[0][:80]!r}; only '{TEXT_FIELD}' is accepted: {_TEXT_HINT}")
    texts = payload[TEXT_FIELD]
    if not isinstance(texts, list):
        raise _reject(422, f"field '{TEXT_FIELD}' must be a list of strings, got {type(texts).__name__}")
    if not texts:
        raise _reject(400, f"field '{TEXT_FIELD}' is empty: send at least one text")
    if len(texts) > limits.texts:
        raise _reject(413, f"{len(texts)} texts in one request, at most {limits.texts}; "
                           "split them over several requests")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise _reject(422, f"{TEXT_FIELD}[{i}] is {type(text).__name__}, expected a string")
        if len(text) > limits.text_chars:
            raise _reject(413, f"{TEXT_FIELD}[{i}] has {len(text)} characters, at most {limits.text_chars}")
    return texts


def _decode_image(upload: _Upload, max_pixels: int) -> Image.Image:
    """Decode an upload from memory into RGB; a bad or oversized image is the client's mistake."""
    name = upload.filename or "(no filename)"
    try:
        with Image.open(io.BytesIO(upload.data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise _reject(413, f"upload {name!r} is {width}x{height} pixels, more than the "
                                   f"{max_pixels} pixels this server decodes; send a smaller image")
            return image.convert("RGB")
    except HTTPException:
        raise
    except Image.DecompressionBombError:
        raise _reject(413, f"upload {name!r} decodes to more pixels than Pillow allows; "
                           "send a smaller image") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise _reject(415, f"upload {name!r} is not an image that can be decoded "
                           "(JPEG, PNG, WebP, BMP, GIF ...)") from None


def _format(result: dict, filename: str | None) -> dict:
    top = [{"label": str(s["label"]), "probability": float(s["probability"])} for s in result["top_k"]]
    entry = {"label": str(result["label"]), "probability": float(result["probability"]), "top_k": top}
    if "labels" in result:  # a multi-label run's label set
        entry["labels"] = [{"label": str(s["label"]), "probability": float(s["probability"])} for s in result["labels"]]
    if filename is not None:
        entry["filename"] = filename
    return entry


def _description(modality: str, classes: Sequence[str]) -> str:
    shown = ", ".join(classes[:20]) + (" ..." if len(classes) > 20 else "")
    if modality == "image":
        example = f"curl -F {IMAGE_FIELD}=@cat.jpg -F {IMAGE_FIELD}=@dog.png 'http://127.0.0.1:8000/predict?top_k=3'"
        how = f"POST images to `/predict` as multipart form field `{IMAGE_FIELD}` (one or several files)."
    else:
        example = ("curl -H 'Content-Type: application/json' -d '{\"texts\": [\"great product\"]}' "
                   "http://127.0.0.1:8000/predict")
        how = f'POST JSON `{{"{TEXT_FIELD}": [...]}}` to `/predict`.'
    return (f"Predictions from a headstart {modality} classifier with {len(classes)} classes "
            f"({shown}).\n\n{how} Each prediction has the top label, its probability and the "
            f"`top_k` best labels.\n\nExample:\n\n    {example}\n")


def _request_body_schema(modality: str, limits: _Limits) -> dict:
    if modality == "image":
        schema = {"type": "object", "required": [IMAGE_FIELD], "properties": {IMAGE_FIELD: {
            "type": "array", "maxItems": limits.files, "items": {"type": "string", "format": "binary"}}}}
        return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    schema = {"type": "object", "required": [TEXT_FIELD], "properties": {TEXT_FIELD: {
        "type": "array", "minItems": 1, "maxItems": limits.texts,
        "items": {"type": "string", "maxLength": limits.text_chars}}},
        "example": {TEXT_FIELD: ["an example text"]}}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}={value!r} must be a positive integer.")


def create_app(
    predictor: PredictorLike,
    *,
    max_upload_bytes: int = 10 * 2**20,
    max_files: int = 32,
    max_texts: int = 256,
    max_text_chars: int = 10_000,
    top_k: int = 5,
    batch_size: int = 32,
    max_image_pixels: int = 64_000_000,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_wait_ms: float = DEFAULT_MAX_WAIT_S * 1000,
) -> FastAPI:
    """Build the FastAPI app that serves ``predictor``: ``/health``, ``/labels``, ``/predict``, ``/docs``.

    Limits bound what one request may cost: ``max_upload_bytes`` caps the whole request body,
    ``max_files``/``max_texts`` the inputs per request, ``max_image_pixels`` the decoded size of one
    image. Inference runs in the thread pool so the event loop keeps answering, and decoding and
    parsing stay parallel. Concurrent requests are micro-batched (:mod:`headstart.export.batching`):
    those that arrive while the model is busy, or within ``max_wait_ms`` of an idle one, share one
    forward pass of up to ``max_batch`` inputs. ``max_batch=1`` turns batching off; calls to
    ``predictor.predict`` are then serialised by a lock, because the Predictor is not promised to be
    thread-safe and one batch already uses every core.

    Example: ``uvicorn.run(create_app(Predictor.from_run("runs/pets")), port=8000)``.
    """
    _check_positive(max_upload_bytes=max_upload_bytes, max_files=max_files, max_texts=max_texts,
                    max_text_chars=max_text_chars, top_k=top_k, batch_size=batch_size,
                    max_image_pixels=max_image_pixels, max_batch=max_batch)
    modality = predictor.modality
    if modality not in ("image", "text"):
        raise ConfigError(f"predictor modality {modality!r} is not served; expected 'image' or 'text'.")
    classes = [str(c) for c in predictor.classes]
    limits = _Limits(max_upload_bytes, max_files, max_texts, max_text_chars, max_image_pixels)
    lock = threading.Lock()
    batcher = MicroBatcher(predictor, max_batch, max_wait_ms / 1000, batch_size) if max_batch > 1 else None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if batcher is not None:
            batcher.close()

    app = FastAPI(title="headstart prediction service", version="1",
                  description=_description(modality, classes), lifespan=lifespan)
    app.state.batcher = batcher  # None when batching is off; benchmarks read batcher.batches_run

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        parts = [f"{' '.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in error.errors()]
        return JSONResponse(status_code=422, content={"detail": "; ".join(parts)})

    def run_predict(inputs: list[Any], k: int) -> list[dict]:
        try:
            if batcher is not None:
                return batcher.submit(inputs, k).result()
            with lock:
                return predictor.predict(inputs, top_k=k, batch_size=batch_size)
        except HeadstartError as error:
            raise _reject(400, str(error)) from None
        except Exception:
            logger.exception("prediction failed")
            raise _reject(500, "prediction failed inside the model; see the server log") from None

    def predict_images(uploads: list[_Upload], k: int) -> list[dict]:
        images = [_decode_image(u, limits.image_pixels) for u in uploads]
        results = run_predict(images, k)
        return [_format(r, u.filename) for r, u in zip(results, uploads, strict=True)]

    def predict_texts(texts: list[str], k: int) -> list[dict]:
        return [_format(r, None) for r in run_predict(texts, k)]

    @app.get("/health", response_model=Health, summary="Liveness and what this model takes")
    def health() -> dict:
        return {"status": "ok", "modality": modality, "num_classes": len(classes)}

    @app.get("/labels", response_model=Labels, summary="The class labels, in model order")
    def labels() -> dict:
        return {"labels": classes}

    @app.post("/predict", response_model=PredictResponse, response_model_exclude_none=True,
              summary=f"Classify {'images' if modality == 'image' else 'texts'}",
              openapi_extra={"requestBody": _request_body_schema(modality, limits)})
    async def predict(
        request: Request,
        top_k_query: int | None = Query(None, alias="top_k", ge=1, description="How many best labels to return"),
    ) -> dict:
        k = min(top_k_query or top_k, len(classes))
        content_type = request.headers.get("content-type", "")
        media_type = content_type.split(";", 1)[0].strip().lower()
        is_json = media_type == "application/json" or media_type.endswith("+json")
        if modality == "image":
            if media_type == "multipart/form-data":
                uploads = await _read_uploads(request, content_type, limits)
                return {"predictions": await run_in_threadpool(predict_images, uploads, k)}
            if is_json:
                raise _reject(415, f"this model classifies images, not JSON texts: {_IMAGE_HINT}")
            if not media_type and request.headers.get("content-length", "0") == "0":
                raise _reject(422, f"no file in the request: {_IMAGE_HINT}")
            raise _reject(415, f"Content-Type {media_type or '(none)'!r} is not accepted: {_IMAGE_HINT}")
        if is_json:
            texts = await _read_texts(request, limits)
            return {"predictions": await run_in_threadpool(predict_texts, texts, k)}
        if media_type == "multipart/form-data":
            raise _reject(415, f"this model classifies text, not file uploads: {_TEXT_HINT}")
        raise _reject(415, f"Content-Type {media_type or '(none)'!r} is not accepted: {_TEXT_HINT}")


    return app


@contextlib.contextmanager
def serve_in_background(app: FastAPI, host: str = "127.0.0.1", port: int = 0, *,
                        log_level: str = "warning", startup_timeout: float = 20.0) -> Iterator[str]:
    """Run ``app`` with uvicorn in a daemon thread and yield its base URL; stop it on exit.

    Port 0 binds a free port first and hands the bound socket to uvicorn, so no other process can
    take the port in between. Meant for notebooks, tests and benchmarks.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=bound_port, log_level=log_level))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name=f"headstart-serve-{bound_port}")
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {host}:{bound_port} did not start")
            time.sleep(0.01)
        url_host = f"[{host}]" if family == socket.AF_INET6 else host
        yield f"http://{url_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve(
    run_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    max_upload_bytes: int = 10 * 2**20,
    max_files: int = 32,
    top_k: int = 5,
    device: str | None = None,
    limit_concurrency: int = 64,
    log_level: str = "info",
    max_batch: int = DEFAULT_MAX_BATCH,
) -> None:
    """Load the Predictor of ``run_dir`` and serve it over HTTP until interrupted (Ctrl+C).

    Binds to loopback by default; pass ``host="0.0.0.0"`` only to expose the model to the network.
    ``limit_concurrency`` answers 503 beyond that many open connections, which with
    ``max_upload_bytes`` bounds the memory that request bodies can take. ``max_batch`` inputs
    from concurrent requests share one forward pass (1 turns micro-batching off).

    Example: ``serve("runs/pets", port=8000)`` then ``curl -F file=@cat.jpg localhost:8000/predict``.
    """
    from headstart.export.predictor import Predictor

    predictor = Predictor.from_run(run_dir, device=device)
    app = create_app(predictor, max_upload_bytes=max_upload_bytes, max_files=max_files, top_k=top_k,
                     max_batch=max_batch)
    uvicorn.run(app, host=host, port=port, log_level=log_level, limit_concurrency=limit_concurrency)
