"""Run every benchmark script in ``bench/`` and collect their JSON into one object.

Each ``bench/bench_*.py`` runs in its own process (one at a time: they measure the same
two cores and disk), prints one JSON object on stdout, and ends up under its name in
the combined result, with its wall time. A script that fails is recorded with its exit
code and the end of its stderr, the others still run, and the exit code is 1.

``--quick`` runs every script with tiny sizes (a smoke run: the figures mean nothing,
the scripts are exercised) and writes ``bench/results/quick.json`` so that a smoke run
never overwrites the documented figures in ``bench/results/latest.json``.

    .venv/bin/python bench/run_all.py [--quick] [--only bench_session ...] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"

# Smoke-run sizes per script. A new bench script must add its entry to take part in
# ``--quick`` (without one it is skipped there, with a note, rather than run full size).
QUICK_ARGS: dict[str, list[str]] = {
    "bench_store": ["--events", "20000", "--single", "200", "--seconds", "0.5",
                    "--pg-events", "5000"],
    "bench_sim": ["--orders", "300"],
    "bench_gateway": ["--orders", "100", "--rounds", "1"],
    "bench_session": ["--orders", "150", "--warmup", "20"],
    "bench_reconcile": ["--orders", "1000", "--positions", "100", "--sim-orders", "300",
                        "--repeat", "3"],
    "bench_restart": ["--events", "20000", "--open-orders", "50"],
    "bench_metrics": ["--orders", "60", "--warmup", "10", "--open-orders", "200"],
    "bench_walscan": ["--mib", "1", "--repeat", "1"],
    "bench_health": ["--orders", "40", "--warmup", "10", "--rounds", "5",
                     "--scan-events", "3000"],
    "bench_web": ["--orders", "50", "--warmup", "10", "--open-orders", "300",
                  "--requests", "10"],
}
# Full runs print their figures within these limits on this class of machine.
TIMEOUT_S = {True: 300, False: 3600}


def discover() -> list[str]:
    """Every ``bench_*.py`` next to this file, by name (without ``.py``), sorted."""
    return sorted(path.stem for path in BENCH_DIR.glob("bench_*.py"))


def parse_output(stdout: str) -> Any:
    """The JSON object a script printed: from the first line that starts one to the end.

    Lines before it are skipped: structlog prints to stdout until logging is configured,
    so a script that never configures it may print log lines first.
    """
    lines = stdout.strip().splitlines()
    for index, line in enumerate(lines):
        if line.startswith("{"):
            try:
                return json.loads("\n".join(lines[index:]))
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON object on stdout")


def run_script(name: str, *, quick: bool) -> dict[str, Any]:
    """Run one bench script; its figures, or the failure, plus the wall time."""
    command = [sys.executable, str(BENCH_DIR / f"{name}.py")]
    if quick:
        command += QUICK_ARGS[name]
    began = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              timeout=TIMEOUT_S[quick], cwd=BENCH_DIR.parent)
    except subprocess.TimeoutExpired as exc:
        return {"error": f"timed out after {exc.timeout} s", "command": command[1:]}
    wall = round(time.perf_counter() - began, 1)
    if done.returncode != 0:
        return {"error": f"exit code {done.returncode}", "stderr_tail": done.stderr[-3000:],
                "command": command[1:], "wall_s": wall}
    try:
        figures = parse_output(done.stdout)
    except ValueError:
        return {"error": "no JSON on stdout", "stdout_tail": done.stdout[-3000:],
                "command": command[1:], "wall_s": wall}
    return {"figures": figures, "wall_s": wall}


def machine() -> dict[str, Any]:
    """Where the figures were taken: enough to tell two result files apart."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False, cwd=BENCH_DIR.parent).stdout.strip()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "git_commit": commit or None,
    }


def main() -> int:
    """Run the selected scripts, print the combined JSON, write it to the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Tiny sizes: a smoke run.")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="Run only these scripts.")
    parser.add_argument("--out", type=Path, default=None,
                        help="Result file (default: bench/results/latest.json, or quick.json "
                             "with --quick).")
    args = parser.parse_args()
    names = discover()
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"no such bench script: {', '.join(unknown)} (have {', '.join(names)})")
        names = [n for n in names if n in args.only]
    started = dt.datetime.now(dt.UTC)
    results: dict[str, Any] = {}
    for name in names:
        if args.quick and name not in QUICK_ARGS:
            results[name] = {"skipped": "no quick arguments known (add it to QUICK_ARGS)"}
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = run_script(name, quick=args.quick)
    combined = {
        "started_utc": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "results": results,
    }
    out = args.out or RESULTS_DIR / ("quick.json" if args.quick else "latest.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(combined, indent=1)
    out.write_text(text + "\n", encoding="utf-8")
    print(text)
    failed = [name for name, result in results.items() if "error" in result]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
