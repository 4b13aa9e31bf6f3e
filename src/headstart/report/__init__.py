"""Run reports: plots, a self-contained HTML page and run comparison, from a run folder's files.

Everything here reads only the files a training run wrote (see docs/contracts.md, "Run folder"),
so a report can be regenerated on any machine without the model, the data loader or a GPU.

Example::

    from headstart.report import write_report, compare_runs
    write_report("runs/flowers")            # runs/flowers/report.html
    rows = compare_runs(["runs/a", "runs/b"])
"""
from __future__ import annotations

from .compare import compare_runs, format_compare_table
from .html import write_report
from .plots import write_plots
from .run_files import RunFiles, load_run

__all__ = ["RunFiles", "compare_runs", "format_compare_table", "load_run", "write_plots", "write_report"]
