"""How long the ``headstart`` command line takes to answer: median wall time of fresh processes.

Why: the first thing a user does is ``headstart --help`` or ``headstart models``; a command line
that needs seconds to print a table feels broken. Each command runs ``--repeat`` times in a new
Python process (imports included, as a user sees it) and the median is reported.

    PYTHONPATH=src python bench/cli_latency.py             # every --help and `models`, 5 runs each
    PYTHONPATH=src python bench/cli_latency.py --repeat 9 --limit 1.0   # exit 1 if a median > 1 s
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
COMMANDS = (
    ["--help"],
    ["models"],
    ["models", "--json"],
    *[[name, "--help"] for name in ("train", "predict", "evaluate", "export", "serve", "report",
                                     "compare", "lr-find", "models")],
)


def run_once(args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "headstart.cli", *args], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"`headstart {' '.join(args)}` exited {done.returncode}: {done.stderr.strip()}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per command (median reported)")
    parser.add_argument("--limit", type=float, default=None, help="exit 1 if any median exceeds this (s)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs | python {sys.version.split()[0]} | load avg {load:.1f} | "
          f"{_dt.datetime.now():%Y-%m-%d %H:%M} | median of {args.repeat} fresh processes\n")
    print("| command | median s | min s | max s |\n|---|---|---|---|")
    worst = 0.0
    for command in COMMANDS:
        run_once(command)  # warm the file cache so the first run does not skew the median
        times = [run_once(command) for _ in range(args.repeat)]
        median = statistics.median(times)
        worst = max(worst, median)
        print(f"| headstart {' '.join(command)} | {median:.2f} | {min(times):.2f} | {max(times):.2f} |",
              flush=True)
    if args.limit is not None and worst > args.limit:
        print(f"\nslowest median {worst:.2f} s exceeds --limit {args.limit} s")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
