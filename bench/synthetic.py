"""Synthetic-data benchmark: samples per second of the training-set builder, end to end.

    python bench/synthetic.py [--json] [--n 200] [--repeats 3] [--kind mixed] [--table1]

Each run is the command a user types, ``python -m engine synth --kind K --n N --seed S
--out DIR --workers W --versions mc --context`` (the default detector's training build;
``--table1`` builds the sparse, Delaunay and MC patches of Table I instead), in a fresh
process, timed wall-clock from start to exit: process
start, imports, worker start-up, every sample (draw, denoise, Delaunay, matrix completion,
crop) and the shard writes. Runs alternate between ``--workers 1`` and ``--workers 2``
and the medians are reported. Target: 20,000 samples per class (40,000 in all) in under
an hour on two cores, ≥ 11.1 samples/s; ``minutes_for_40000`` extrapolates the median.

Human-readable lines go to stdout; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(kind: str, n: int, seed: int, workers: int, table1: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="gw-synth-bench-") as tmp:
        cmd = [
            sys.executable, "-m", "engine", "synth", "--kind", kind, "--n", str(n),
            "--seed", str(seed), "--out", str(Path(tmp) / "out"), "--workers", str(workers),
        ]  # fmt: skip
        if not table1:
            cmd += ["--versions", "mc", "--context"]
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--n", type=int, default=200, help="samples per run (default 200)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per worker count")
    parser.add_argument("--kind", default="mixed", choices=["point", "tunnel", "mixed", "none"])
    parser.add_argument(
        "--table1", action="store_true", help="build Table I's three versions, no context"
    )
    args = parser.parse_args()

    seconds: dict[int, list[float]] = {1: [], 2: []}
    for repeat in range(args.repeats):
        for workers in (1, 2):
            elapsed = _run(args.kind, args.n, repeat, workers, args.table1)
            seconds[workers].append(elapsed)
            print(f"workers {workers}: {args.n} samples in {elapsed:.1f} s", flush=True)
    result = {
        "benchmark": "synthetic",
        "kind": args.kind,
        "build": "table1" if args.table1 else "context",
        "n": args.n,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "seconds_median": {str(w): round(statistics.median(s), 2) for w, s in seconds.items()},
        "samples_per_s": {
            f"workers_{w}": round(args.n / statistics.median(s), 2) for w, s in seconds.items()
        },
        "minutes_for_40000": round(40000 * statistics.median(seconds[2]) / args.n / 60, 1),
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
