"""Micro-batching: concurrent requests share forward passes, yet each gets exactly its own answer."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from headstart.errors import ConfigError, DataError
from headstart.export.batching import MicroBatcher


class SlowEcho:
    """Labels input ``n`` as ``"n"``; each call takes 30 ms so that requests pile up meanwhile."""

    classes = ["a", "b", "c"]
    modality = "text"

    def __init__(self) -> None:
        self.calls: list[list] = []
        self.lock = threading.Lock()

    def predict(self, inputs, top_k=5, batch_size=32):
        with self.lock:
            self.calls.append(list(inputs))
        if any(x == "bad" for x in inputs):
            raise DataError("input 'bad' is not a number.")
        time.sleep(0.03)
        return [{"label": str(x), "probability": 0.5,
                 "top_k": [{"label": str(x), "probability": 0.5}, {"label": "z", "probability": 0.3},
                           {"label": "y", "probability": 0.2}][:top_k]} for x in inputs]


def _submit_concurrently(batcher: MicroBatcher, requests: list[list], top_ks: list[int]) -> list:
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        futures = list(pool.map(lambda a: batcher.submit(*a), zip(requests, top_ks)))
    out = []
    for future in futures:
        try:
            out.append(future.result(timeout=10))
        except DataError as error:
            out.append(error)
    return out


def test_concurrent_requests_share_forward_passes_and_get_their_own_answers() -> None:
    predictor = SlowEcho()
    batcher = MicroBatcher(predictor, max_batch=8, max_wait_s=0.05)
    requests = [[i] for i in range(12)] + [[100, 101]]
    results = _submit_concurrently(batcher, requests, [1, 2, 3] * 4 + [2])
    batcher.close()
    for request, k, got in zip(requests, [1, 2, 3] * 4 + [2], results):
        assert [r["label"] for r in got] == [str(x) for x in request]
        assert all(len(r["top_k"]) == k for r in got)
    assert len(predictor.calls) < len(requests)  # gathered
    assert max(len(c) for c in predictor.calls) <= 8  # never more than max_batch inputs
    assert sorted(x for c in predictor.calls for x in c) == sorted(x for r in requests for x in r)


def test_a_request_larger_than_max_batch_runs_alone_and_unsplit() -> None:
    predictor = SlowEcho()
    batcher = MicroBatcher(predictor, max_batch=2, max_wait_s=0.0)
    assert [r["label"] for r in batcher.submit([1, 2, 3, 4, 5], 1).result(timeout=10)] == ["1", "2", "3", "4", "5"]
    batcher.close()
    assert predictor.calls == [[1, 2, 3, 4, 5]]


def test_a_bad_input_fails_only_its_own_request() -> None:
    predictor = SlowEcho()
    batcher = MicroBatcher(predictor, max_batch=16, max_wait_s=0.1)
    results = _submit_concurrently(batcher, [[1], ["bad"], [2], [3]], [1, 1, 1, 1])
    batcher.close()
    assert isinstance(results[1], DataError) and "'bad'" in str(results[1])
    assert [r[0]["label"] for i, r in enumerate(results) if i != 1] == ["1", "2", "3"]


def test_batching_off_and_bad_settings() -> None:
    with pytest.raises(ConfigError, match="max_batch=0"):
        MicroBatcher(SlowEcho(), max_batch=0)
    with pytest.raises(ConfigError, match="max_wait_s=5"):
        MicroBatcher(SlowEcho(), max_wait_s=5)


@pytest.mark.parametrize("max_batch", [1, 8])
def test_service_batches_concurrent_http_requests_only_when_asked(max_batch: int) -> None:
    httpx = pytest.importorskip("httpx")
    from headstart.export.serve import create_app, serve_in_background

    predictor = SlowEcho()
    app = create_app(predictor, max_batch=max_batch, max_wait_ms=50)
    with serve_in_background(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        def ask(i: int) -> list[str]:
            response = client.post("/predict?top_k=1", json={"texts": [f"t{i}", f"u{i}"]})
            assert response.status_code == 200, response.text
            return [p["label"] for p in response.json()["predictions"]]

        with ThreadPoolExecutor(max_workers=6) as pool:
            answers = list(pool.map(ask, range(6)))
        bad = client.post("/predict", json={"texts": ["bad"]})
    assert answers == [[f"t{i}", f"u{i}"] for i in range(6)]
    assert bad.status_code == 400 and "'bad'" in bad.json()["detail"]
    calls = [c for c in predictor.calls if c != ["bad"]]
    if max_batch == 1:
        assert len(calls) == 6 and all(len(c) == 2 for c in calls)
    else:
        assert len(calls) < 6 and max(len(c) for c in calls) <= 8
