"""Ingest benchmark: generate a national-scale CSV of points, ingest it, report speed and memory.

    python bench/ingest.py [--points 10000000] [--json]

The CSV looks like a national ground-motion product over Great Britain: point id, lon/lat,
LOS velocity and its standard deviation in mm/yr, clustered around towns. Ingest runs as
``python -m engine ingest`` in a child process, so the figures include start-up and imports;
peak memory is the largest total resident set of that process and its workers, sampled every
50 ms. The generated file is flushed to disk before timing, so that the generator's pending
writes do not compete with the ingest; the ingest is repeated (``--repeat``, into a fresh store
each time) and the median reported. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]


def make_csv(path: Path, n: int, seed: int = 0) -> None:
    """Write ``n`` points clustered around 2,000 'towns' in Great Britain."""
    rng = np.random.default_rng(seed)
    towns = np.column_stack([rng.uniform(-4.5, 1.3, 2000), rng.uniform(50.5, 55.8, 2000)])
    chunk = 2_000_000
    with pacsv.CSVWriter(
        path,
        pa.schema(
            [
                ("pid", pa.string()),
                ("lon", pa.float64()),
                ("lat", pa.float64()),
                ("velocity_mm_yr", pa.float32()),
                ("velocity_std_mm_yr", pa.float32()),
            ]
        ),
    ) as writer:
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            t = towns[rng.integers(0, len(towns), m)]
            lon = np.round(t[:, 0] + rng.normal(0, 0.03, m), 6)
            lat = np.round(t[:, 1] + rng.normal(0, 0.02, m), 6)
            vel = np.round(rng.normal(-0.5, 2.0, m), 2).astype(np.float32)
            std = np.round(rng.uniform(0.1, 1.5, m), 2).astype(np.float32)
            pid = pa.array([f"P{i:09d}" for i in range(start, start + m)])
            writer.write_table(
                pa.table(
                    {
                        "pid": pid,
                        "lon": lon,
                        "lat": lat,
                        "velocity_mm_yr": vel,
                        "velocity_std_mm_yr": std,
                    }
                )
            )


def _watch_rss(proc: subprocess.Popen) -> int:
    """Largest summed RSS of a process and its descendants until it exits."""
    import psutil

    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        total = 0
        try:
            for p in [root, *root.children(recursive=True)]:
                total += p.memory_info().rss
        except psutil.Error:
            pass
        peak = max(peak, total)
        time.sleep(0.05)
    return peak


def _ingest_once(csv: Path, store: Path) -> tuple[float, int, dict]:
    """Seconds, peak RSS (bytes) and the JSON summary of one ``engine ingest`` of ``csv``."""
    cmd = [
        sys.executable,
        "-m",
        "engine",
        "ingest",
        str(csv),
        "--name",
        "national",
        "--geometry",
        "ascending",
        "--store",
        str(store),
        "--json",
    ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = _watch_rss(proc)
    out, err = proc.communicate()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"ingest failed: {err.strip()}")
    shutil.rmtree(store)  # each repeat starts from an empty store, and disk stays bounded
    return seconds, peak, json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--workdir", type=Path, help="where to write the CSV and the store")
    parser.add_argument("--repeat", type=int, default=3, help="ingests to take the median of")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        csv = Path(tmp) / "national.csv"
        t0 = time.perf_counter()
        make_csv(csv, args.points)
        print(
            f"generated {args.points:,} points ({csv.stat().st_size / 1e6:.0f} MB) "
            f"in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        os.sync()  # the generator's dirty pages would otherwise be written back during timing
        runs = [_ingest_once(csv, Path(tmp) / f"store{k}") for k in range(args.repeat)]
        seconds = statistics.median(r[0] for r in runs)
        summary = runs[0][2]
        result = {
            "points": sum(summary["points"].values()),
            "csv_mb": round(csv.stat().st_size / 1e6, 1),
            "repeats": args.repeat,
            "seconds": round(seconds, 2),
            "seconds_all": [round(r[0], 2) for r in runs],
            "points_per_s": round(args.points / seconds),
            "peak_rss_mb": round(max(r[1] for r in runs) / 2**20, 1),
            "crs": summary["crs"],
        }
    if args.json:
        print(json.dumps(result))
    else:
        print(result)


if __name__ == "__main__":
    main()
