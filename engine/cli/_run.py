"""Commands on detection runs: detect, runs, sites, raster, demo."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.cli._common import command as _command
from engine.cli._common import common as _common


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the parser."""
    p = _command(sub, "detect", "run the detection chain over a dataset or a region", _detect)
    p.add_argument("--dataset", required=True, help="an ingested dataset")
    p.add_argument(
        "--bbox", nargs=4, type=float, metavar=("MINX", "MINY", "MAXX", "MAXY"),
        help="region in the run CRS (metres), or lon/lat with --lonlat",
    )  # fmt: skip
    p.add_argument("--lonlat", action="store_true", help="--bbox is in degrees (WGS84)")
    p.add_argument("--aoi", metavar="FILE", help="region as a polygon file (GeoJSON, GPKG, SHP)")
    p.add_argument(
        "--model",
        default="default",
        help="shipped weights name or path: default (the default detector), paper (the "
        "paper-literal classifier on matrix completion), sparse, delaunay, mc",
    )
    _executor_options(p)
    _common(p, config=True)

    p = _command(sub, "runs", "list the detection runs in the store", _runs)
    p.add_argument("--dataset", help="only the runs of this dataset")
    _common(p)

    p = _command(sub, "sites", "export the sites of a run", _sites)
    p.add_argument("run", metavar="RUN", help="run id (or a unique prefix)")
    p.add_argument("--format", required=True, choices=["csv", "geojson", "gpkg", "parquet"])
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--baseline", action="store_true", help="the thresholding baseline's sites")
    _common(p)

    p = _command(sub, "raster", "export a raster of a run as a Cloud-Optimised GeoTIFF", _raster)
    p.add_argument("run", metavar="RUN", help="run id (or a unique prefix)")
    p.add_argument(
        "--what", default="probability",
        help="probability, velocity (the first look's interpolation) or velocity-LOOK, "
        "e.g. velocity-descending",
    )  # fmt: skip
    p.add_argument("--out", required=True, metavar="FILE.tif")
    _common(p)

    p = _command(sub, "demo", "build a benchmark scene, ingest it as a dataset, detect", _demo)
    p.add_argument("--size-km", type=float, default=10.0, help="side of the scene, 10–100 km")
    p.add_argument("--seed", type=int, default=7, help="seed of the scene (default 7)")
    p.add_argument("--name", default="demo", help="dataset name (default demo)")
    _executor_options(p)
    _common(p, config=True)


def _executor_options(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDR", help="a Dask scheduler, tcp://HOST:PORT")
    where.add_argument(
        "--dask-local", type=int, metavar="N", help="start a Dask LocalCluster of N workers"
    )
    where.add_argument(
        "--workers", type=int, metavar="N",
        help="local processes (default: one per core; 1 = in this process)",
    )  # fmt: skip


def _executor(args: argparse.Namespace) -> Any:
    from engine.pipeline import ExecutorSpec

    if args.scheduler:
        return ExecutorSpec("dask", scheduler=args.scheduler)
    if args.dask_local:
        return ExecutorSpec("dask", workers=args.dask_local)
    if args.workers == 1:
        return ExecutorSpec("inprocess")
    return ExecutorSpec("process", workers=args.workers or 0)


def _tile_bar(desc: str) -> tuple[Any, Any]:
    from tqdm import tqdm

    bar = tqdm(unit=" tiles", desc=desc, leave=False, disable=None, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    return bar, progress


def _detect(args: argparse.Namespace) -> Any:
    from engine.config import load_config
    from engine.pipeline import Region, run
    from engine.store import Store

    region = None
    if args.bbox or args.aoi:
        region = Region(bbox=tuple(args.bbox) if args.bbox else None, lonlat=args.lonlat,
                        aoi=args.aoi)  # fmt: skip
    bar, progress = _tile_bar("detect")
    try:
        result = run(
            load_config(args.config), args.dataset, region, store=Store(args.store),
            executor=_executor(args), model=args.model, progress=progress,
        )  # fmt: skip
    finally:
        bar.close()
    out = result.to_json()
    if args.json:
        return out
    sites = ", ".join(f"{k} {v}" for k, v in out["sites"].items())
    cached = " (cache hit)" if out["cache_hit"] else f", {out['tiles_cached']} cached"
    return (
        f"run {out['run']}: {out['tiles']} tile(s){cached}; sites {sites}; {out['seconds']:.1f} s"
    )


def _runs(args: argparse.Namespace) -> Any:
    from engine.runs import list_runs
    from engine.store import Store

    runs = list_runs(Store(args.store), args.dataset)
    rows = [
        {"run": r.run_id, "dataset": r.dataset, "status": r.status, "created": r.created,
         "tiles": r.tiles_total, "region": r.region, "sites": r.summary.get("sites", {})}
        for r in runs
    ]  # fmt: skip
    if args.json:
        return {"runs": rows}
    if not rows:
        return "no runs (start one with: python -m engine detect --dataset NAME)"
    return _runs_table(rows)


def _runs_table(rows: list[dict[str, Any]]) -> str:
    """Runs as aligned columns: sites per level as plain numbers, one column per level."""
    levels = sorted({k for r in rows for k in r["sites"]})
    head = ["run", "dataset", "status", "created", "tiles", "region", *levels]
    body = [
        [r["run"], r["dataset"], r["status"], r["created"][:19], str(r["tiles"]),
         "whole" if r["region"] is None else "part",
         *(str(r["sites"].get(k, "-")) for k in levels)]
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    numeric = {4, *range(6, len(head))}
    lines = [
        "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                  for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
        for row in [head, *body]
    ]  # fmt: skip
    if any(r["status"] == "interrupted" for r in rows):
        lines.append("interrupted runs are resumable: the same detect again reuses their tiles")
    return "\n".join(lines)


def _sites(args: argparse.Namespace) -> Any:
    from engine.runs import read_sites
    from engine.store import Store

    sites = read_sites(Store(args.store), args.run, baseline=args.baseline)
    if args.format == "csv":
        table = sites.drop(columns="geometry").assign(wkt=sites.geometry.to_wkt())
        table.to_csv(args.out, index=False)
    elif args.format == "parquet":
        sites.to_parquet(args.out)
    else:
        sites.to_file(args.out, driver="GeoJSON" if args.format == "geojson" else "GPKG")
    summary = {"run": args.run, "sites": len(sites), "format": args.format, "out": args.out}
    return summary if args.json else f"wrote {len(sites)} sites to {args.out}"


def _raster(args: argparse.Namespace) -> Any:
    from engine.rasters import raster_layers, write_mosaic
    from engine.runs import get_run
    from engine.store import Store

    store = Store(args.store)
    layer = args.what
    if layer == "velocity":
        looks = [n for n in raster_layers(store, get_run(store, args.run).run_id)
                 if n.startswith("velocity-")]  # fmt: skip
        layer = looks[0] if looks else layer
    out = write_mosaic(store, args.run, layer, args.out)
    summary = {"run": args.run, "layer": layer, "out": str(out)}
    return summary if args.json else f"wrote {layer} to {out}"


def _demo(args: argparse.Namespace) -> Any:
    from tqdm import tqdm

    from engine.config import load_config
    from engine.demo import build_demo
    from engine.errors import InputError
    from engine.store import Store

    if not 10 <= args.size_km <= 100:
        raise InputError("--size-km", f"{args.size_km:g} is out of range", "10 to 100 km")
    bar = tqdm(leave=False, disable=None, file=sys.stderr)

    def progress(stage: str, done: int, total: int) -> None:
        bar.set_description(stage, refresh=False)
        bar.total, bar.n = total, done
        bar.refresh()

    try:
        result = build_demo(
            Store(args.store), size_km=args.size_km, seed=args.seed, name=args.name,
            config=load_config(args.config), executor=_executor(args), progress=progress,
        )  # fmt: skip
    finally:
        bar.close()
    # the run's own "dataset" is the name; the demo's is the dataset's summary
    out = {**result.run.to_json(), "dataset": result.dataset.summary(),
           "sources": result.sources}  # fmt: skip
    if args.json:
        return out
    sites = ", ".join(f"{k} {v}" for k, v in out["sites"].items())
    return (
        f"demo dataset {args.name!r}: {sum(result.dataset.points.values()):,} points, "
        f"{result.sources} sources; run {out['run']}: sites {sites}"
    )
