"""Commands on the store's data: ingest, datasets, config."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.cli._common import command as _command
from engine.cli._common import common as _common


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the parser."""
    p = _command(sub, "ingest", "read InSAR products into the store as a dataset", _ingest)
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="EGMS zip/CSV, CSV, Parquet, "
        "GeoPackage/Shapefile, or GeoTIFF velocity raster / dated displacement stack",
    )
    p.add_argument("--name", required=True, help="dataset name (replaces one of that name)")
    p.add_argument(
        "--geometry",
        choices=["ascending", "descending", "vertical", "east"],
        help="line-of-sight geometry when the product does not state it",
    )
    p.add_argument(
        "--units",
        help="units when the product does not state them: mm, cm or m "
        "(velocities per year, displacements cumulative); 'm/yr' marks a velocity raster",
    )
    p.add_argument("--crs", help="run CRS (default: EPSG:27700 in Great Britain, else UTM)")
    p.add_argument("--source-crs", help="CRS of easting/northing columns the file does not state")
    p.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="ROLE=NAME",
        help="use column NAME for ROLE (velocity, velocity_std, lon, lat, easting, "
        "northing, pid, track_angle, los_east, ...); repeatable",
    )
    p.add_argument(
        "--velocity-from-timeseries",
        action="store_true",
        help="fit velocities to the dated displacements even when a column exists",
    )
    _common(p, config=True)

    p = _command(sub, "datasets", "list the datasets in the store", _datasets)
    _common(p)

    p = _command(
        sub, "sample-data", "write the README's sample inputs (points.csv, benchmarks.csv)",
        _sample_data,
    )  # fmt: skip
    p.add_argument("--out", default=".", metavar="DIR", help="folder to write into (default .)")
    p.add_argument("--seed", type=int, default=7, help="seed of the scene (default 7)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")

    p = _command(sub, "config", "show the configuration", _config)
    p.add_argument("--print-defaults", action="store_true", help="print the defaults as YAML")
    p.add_argument("--config", metavar="FILE", help="YAML file to validate and print")


def _ingest(args: argparse.Namespace) -> dict[str, Any]:
    from tqdm import tqdm

    from engine.config import load_config
    from engine.errors import InputError
    from engine.ingest import IngestOptions, IngestProgress, ingest
    from engine.store import Store

    columns = {}
    for item in args.column:
        role, sep, column = item.partition("=")
        if not sep or not column:
            raise InputError("--column", f"{item!r} is not ROLE=NAME", "e.g. --column velocity=VEL")
        columns[role.strip()] = column.strip()
    options = IngestOptions(
        geometry=args.geometry,
        units=args.units,
        crs=args.crs,
        source_crs=args.source_crs,
        columns=columns,
        velocity_from_timeseries=args.velocity_from_timeseries,
    )
    bar = tqdm(unit=" pts", unit_scale=True, leave=False, disable=None, file=sys.stderr)

    rows_per_source: dict[str, int] = {}

    def progress(event: IngestProgress) -> None:
        rows_per_source[event.source] = event.rows  # counts restart with every file
        bar.set_description(event.source[-40:], refresh=False)
        bar.update(sum(rows_per_source.values()) - bar.n)

    try:
        info = ingest(
            args.paths,
            name=args.name,
            store=Store(args.store),
            options=options,
            config=load_config(args.config),
            progress=progress,
        )
    finally:
        bar.close()
    return info.summary() if args.json else "ingested " + _describe(info.summary())


def _describe(d: dict[str, Any]) -> str:
    pts = ", ".join(f"{g} {n:,}" for g, n in d["points"].items())
    dates = f", {d['first_date']} … {d['last_date']}" if d["first_date"] else ""
    return f"{d['name']}: {pts} points, {d['crs']}, velocity from {d['velocity_source']}{dates}"


def _datasets(args: argparse.Namespace) -> Any:
    from engine.store import Store

    infos = [d.summary() for d in Store(args.store).datasets()]
    if args.json:
        return {"datasets": infos}
    if not infos:
        return "no datasets (ingest one with: python -m engine ingest PATH --name NAME)"
    lines = [_describe(d) for d in infos]
    return "\n".join(lines)


def _sample_data(args: argparse.Namespace) -> Any:
    from engine.samples import write_samples

    paths = {k: str(v) for k, v in write_samples(args.out, seed=args.seed).items()}
    return paths if args.json else f"wrote {paths['points']} and {paths['benchmarks']}"


def _config(args: argparse.Namespace) -> str:
    from engine.config import load_config

    return load_config(args.config).to_yaml().rstrip()
