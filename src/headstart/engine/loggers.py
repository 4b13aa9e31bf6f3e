"""Experiment tracking through Lightning's own loggers: csv, tensorboard, mlflow, wandb.

Why one logger per run, wrapped: each phase of a strategy is a fresh ``Trainer`` whose step counter
starts at 0 again, so per-phase loggers draw overlapping curves. :class:`RunLogger` wraps one
Lightning logger for the whole run and adds the steps of the finished phases to every step it
logs (one continuous step axis), logs the phase index as a ``phase`` metric beside the others,
and keeps Lightning from finalising the logger (ending the MLflow run) between phases.

Where the logs go, offline by default:

* ``csv``: ``RUN/logs/csv/metrics.csv``;
* ``tensorboard``: ``RUN/logs/tensorboard/`` (``tensorboard --logdir RUN/logs``; ``pip install headstart[tensorboard]``);
* ``mlflow``: ``$MLFLOW_TRACKING_URI`` if set, else a local ``file:`` store ``RUN/logs/mlruns``
  (``mlflow ui --backend-store-uri RUN/logs/mlruns``);
* ``wandb``: offline (``RUN/logs/wandb``, ``wandb sync`` later) unless ``WANDB_MODE=online`` or
  ``WANDB_API_KEY`` is set, so a run never stops at a login prompt.

The MLflow run id and W&B id are kept in ``RUN/logs/loggers.json``, so ``--resume`` continues the
same tracked run.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Mapping

from lightning.pytorch.loggers import Logger

from ..config import logger_names

IDS_FILE = "loggers.json"


class RunLogger(Logger):
    """One Lightning logger shared by every phase of a run, on one continuous step axis."""

    def __init__(self, inner: Logger):
        super().__init__()
        self.inner = inner
        self.step_offset = 0
        self.phase = 0

    def start_phase(self, index: int, step_offset: int) -> None:
        self.phase, self.step_offset = index, step_offset
        _sync_csv_columns(self.inner)

    @property
    def name(self) -> str | None:
        return self.inner.name

    @property
    def version(self) -> Any:
        return self.inner.version

    @property
    def save_dir(self) -> str | None:
        return self.inner.save_dir

    @property
    def log_dir(self) -> str | None:
        return getattr(self.inner, "log_dir", None)

    @property
    def experiment(self) -> Any:
        return self.inner.experiment

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.inner.log_metrics({**metrics, "phase": self.phase}, self.step_offset + (step or 0))

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass  # Lightning's per-Trainer call; the run's hyperparameters are logged once by log_run_hyperparams

    def log_run_hyperparams(self, params: Mapping[str, Any]) -> None:
        self.inner.log_hyperparams(dict(params))

    def save(self) -> None:
        self.inner.save()

    def finalize(self, status: str) -> None:
        self.inner.save()  # the end of one phase's fit: keep the logger open for the next phase

    def close(self, status: str = "success") -> None:
        """The end of the run: let the wrapped logger finish (MLflow marks its run FINISHED; the W&B
        run is finished too, so the next run in the same notebook gets a run of its own)."""
        self.inner.finalize(status)
        if type(self.inner).__name__ == "WandbLogger" and getattr(self.inner, "_experiment", None) is not None:
            self.inner.experiment.finish()


def _sync_csv_columns(logger: Logger) -> None:
    """Tell a CSV logger which columns its ``metrics.csv`` already has.

    Why: Lightning's CSV writer rewrites the file with the columns *it* has seen whenever a new one
    appears. Its memory of them is lost when a phase trains in forked/spawned DDP workers, and the
    rewrite would then fail on the earlier rows' columns.
    """
    from lightning.pytorch.loggers import CSVLogger

    if not isinstance(logger, CSVLogger):
        return
    writer = logger.experiment
    path = Path(writer.metrics_file_path)
    if path.is_file():
        with open(path, newline="") as handle:
            header = next(csv.reader(handle), [])
        writer.metrics_keys = header + [k for k in writer.metrics_keys if k not in header]


def _csv_logger(run_dir: Path) -> Logger:
    """A CSV logger that continues ``RUN/logs/csv/metrics.csv`` (a resumed run keeps its earlier rows;
    Lightning's writer would delete the file when it starts)."""
    from lightning.pytorch.loggers import CSVLogger

    logger = CSVLogger(str(run_dir), name="logs", version="csv")
    path = Path(logger.log_dir) / "metrics.csv"
    earlier = path.read_bytes() if path.is_file() else None
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
        logger.experiment  # noqa: B018  (creates the writer, which removes metrics.csv)
    if earlier is not None:
        path.write_bytes(earlier)
        _sync_csv_columns(logger)
    return logger


def trim_csv_for_resume(loggers: list[RunLogger], phase: int, epochs_done: int) -> None:
    """Drop the CSV rows a resumed phase will log again: those of its epoch that was cut short.

    Rows of earlier phases stay; of phase ``phase`` the rows of its first ``epochs_done`` epochs stay
    (step-level rows, which carry no epoch, up to the last step of those epochs).
    """
    from lightning.pytorch.loggers import CSVLogger

    from .resume_state import restore_csv_rows

    for logger in loggers:
        if not isinstance(logger.inner, CSVLogger):
            continue
        path = Path(logger.inner.experiment.metrics_file_path)
        if not path.is_file():
            continue
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            rows, header = list(reader), list(reader.fieldnames or [])

        def number(row: dict[str, str], key: str) -> float | None:
            try:
                return float(row[key]) if row.get(key) not in (None, "") else None
            except ValueError:
                return None

        done = [r for r in rows if number(r, "phase") == phase and (number(r, "epoch") or 0) < epochs_done
                and number(r, "epoch") is not None]
        last_step = max((number(r, "step") or 0 for r in done), default=-1)
        kept = [r for r in rows if (number(r, "phase") or 0) < phase or r in done
                or (number(r, "phase") == phase and number(r, "epoch") is None and (number(r, "step") or 0) <= last_step)]
        restore_csv_rows(logger.inner, (header, kept))
        if not kept:
            path.unlink(missing_ok=True)


def build_loggers(value: str | None, run_dir: str | Path, quiet: bool = False) -> list[RunLogger]:
    """The run's loggers named in ``value`` (``config.logger``), reusing tracked-run ids on resume.

    ``quiet``: no MLflow/W&B chatter on the console (``hs.train(progress=False)``).
    """
    run_dir = Path(run_dir)
    logs = run_dir / "logs"
    ids_path = logs / IDS_FILE
    ids: dict[str, str] = json.loads(ids_path.read_text()) if ids_path.is_file() else {}
    out = []
    from lightning.pytorch.utilities import rank_zero_only

    if quiet:
        import logging

        logging.getLogger("mlflow").setLevel(logging.WARNING)
        os.environ.setdefault("WANDB_SILENT", "true")
    for name in logger_names(value):
        if name in ("mlflow", "wandb") and rank_zero_only.rank != 0:
            continue  # one tracked run per training run: only rank 0 opens it
        if name == "csv":
            inner: Logger = _csv_logger(run_dir)
        elif name == "tensorboard":
            from lightning.pytorch.loggers import TensorBoardLogger

            inner = TensorBoardLogger(str(run_dir), name="logs", version="tensorboard", default_hp_metric=False)
        elif name == "mlflow":
            from lightning.pytorch.loggers import MLFlowLogger

            uri = os.environ.get("MLFLOW_TRACKING_URI")
            if not uri:  # our default: a local file store (MLflow 3 asks for this opt-in to use one)
                uri = (logs / "mlruns").resolve().as_uri()
                os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            inner = MLFlowLogger(experiment_name=os.environ.get("MLFLOW_EXPERIMENT_NAME", "headstart"),
                                 run_name=run_dir.name, tracking_uri=uri, run_id=ids.get("mlflow"))
            ids["mlflow"] = inner.run_id
        else:
            from lightning.pytorch.loggers import WandbLogger

            online = os.environ.get("WANDB_MODE") == "online" or (
                bool(os.environ.get("WANDB_API_KEY")) and os.environ.get("WANDB_MODE") not in ("offline", "disabled"))
            (logs / "wandb").mkdir(parents=True, exist_ok=True)
            inner = WandbLogger(name=run_dir.name, save_dir=str(logs), offline=not online,
                                project=os.environ.get("WANDB_PROJECT", "headstart"),
                                id=ids.get("wandb"), resume="allow" if ids.get("wandb") else None)
            ids["wandb"] = str(inner.experiment.id)
        out.append(RunLogger(inner))
    if set(ids) & {"mlflow", "wandb"}:
        logs.mkdir(parents=True, exist_ok=True)
        ids_path.write_text(json.dumps(ids, indent=2) + "\n")
    return out
