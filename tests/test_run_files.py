"""Run files are strict JSON (no NaN tokens) and get the permissions the umask allows."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from headstart.run_files import write_json, write_yaml


def test_non_finite_numbers_are_written_as_null(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"val_loss": math.nan, "lr": math.inf, "curve": np.array([1.0, np.nan]), "ok": 0.5})
    data = json.loads(path.read_text(), parse_constant=lambda token: pytest.fail(f"{token} in JSON"))
    assert data == {"val_loss": None, "lr": None, "curve": [1.0, None], "ok": 0.5}


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_follow_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        write_yaml(tmp_path / "b.yaml", {"x": 1})
    finally:
        os.umask(previous)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "b.yaml").stat().st_mode & 0o777 == mode
