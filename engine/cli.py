"""Command line: ``python -m engine`` / ``groundwatch``. Parses, loads config, calls the API.

Heavy imports stay inside the command functions so ``--help`` is instant. Bad input ends
with one line on stderr and exit code 2; with ``--json`` the last stdout line is one object.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from engine import __version__

__all__ = ["main"]

logger = logging.getLogger("engine")

EXIT_BAD_INPUT = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from engine.errors import GroundwatchError

    try:
        result = args.func(args)
    except GroundwatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if result is not None:
        _emit(result, as_json=getattr(args, "json", False))
    return 0


def _emit(result: Any, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, default=str))
    elif isinstance(result, str):
        print(result)
    else:
        print(json.dumps(result, indent=2, default=str))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="groundwatch",
        description="Find ground deformation in InSAR velocity maps.",
    )
    parser.add_argument("--version", action="version", version=f"groundwatch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.set_defaults(func=lambda args: parser.print_help())
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

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

    p = _command(sub, "synth", "build a synthetic training set (§III-B)", _synth)
    p.add_argument(
        "--kind",
        required=True,
        choices=["point", "tunnel", "none"],
        help="deformation of the positives: Mogi point sources or tunnels (half the samples; "
        "the other half atmosphere only); 'none' = atmosphere only",
    )
    p.add_argument("--n", type=int, required=True, help="number of samples")
    p.add_argument("--seed", type=int, default=0, help="seed of the whole build (default 0)")
    p.add_argument("--out", required=True, metavar="DIR", help="new folder for the shards")
    p.add_argument(
        "--mask-source",
        metavar="DATASET",
        help="cut scatterer masks and spike noise from this dataset of the store "
        "(default: generated urban + roads + fields masks)",
    )
    p.add_argument(
        "--workers", type=int, default=0, help="processes (default 0 = one per CPU core)"
    )
    p.add_argument("--shard-size", type=int, default=500, help="samples per shard file")
    _common(p, config=True)

    p = _command(sub, "train", "train the patch classifier on synthetic builds", _train)
    p.add_argument(
        "--data", action="append", required=True, metavar="DIR", help="a synth build; repeatable"
    )
    p.add_argument(
        "--version",
        default="mc",
        choices=["sparse", "delaunay", "mc"],
        help="input version (default mc)",
    )
    p.add_argument(
        "--out", metavar="PATH", help="weights path without suffix (default engine/weights/VERSION)"
    )
    p.add_argument("--arch", default="groundnet", choices=["groundnet", "alexnet"])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--learning-rate", type=float, default=3e-3, help="peak of the one-cycle schedule"
    )
    p.add_argument(
        "--patience", type=int, default=3, help="epochs without a better validation loss"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of initialisation, split and augmentation"
    )
    p.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
    _common(p, config=True)

    p = _command(sub, "evaluate", "Table I on a fresh synthetic test set (§IV-A)", _evaluate)
    p.add_argument("--n", type=int, default=400, help="test samples (default 400)")
    p.add_argument("--seed", type=int, required=True, help="seed of the test set")
    p.add_argument("--kind", default="point", choices=["point", "tunnel"])
    p.add_argument("--workers", type=int, default=0, help="processes generating samples")
    _common(p, config=True)

    p = _command(sub, "datasets", "list the datasets in the store", _datasets)
    _common(p)

    p = _command(sub, "config", "show the configuration", _config)
    p.add_argument("--print-defaults", action="store_true", help="print the defaults as YAML")
    p.add_argument("--config", metavar="FILE", help="YAML file to validate and print")
    return parser


def _command(
    sub: argparse._SubParsersAction, name: str, help_text: str, func: Callable[[Any], Any]
) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.set_defaults(func=func)
    return p


def _common(p: argparse.ArgumentParser, *, config: bool = False) -> None:
    p.add_argument(
        "--store", metavar="PATH", help="store folder (default: $GROUNDWATCH_HOME or cache/)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    if config:
        p.add_argument("--config", metavar="FILE", help="YAML run configuration")


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


def _synth(args: argparse.Namespace) -> Any:
    from tqdm import tqdm

    from engine.config import load_config
    from engine.store import Store
    from engine.synthetic import RealMasks, build_dataset

    config = load_config(args.config)
    masks = None
    if args.mask_source:
        masks = RealMasks.from_store(
            Store(args.store), args.mask_source, config=config, seed=args.seed
        )
    bar = tqdm(total=args.n, unit=" samples", leave=False, disable=None, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    try:
        manifest = build_dataset(
            args.out,
            kind=args.kind,
            n=args.n,
            seed=args.seed,
            config=config,
            masks=masks,
            workers=args.workers,
            shard_size=args.shard_size,
            progress=progress,
        )
    finally:
        bar.close()
    summary = {
        "out": args.out,
        "kind": manifest["kind"],
        "n": manifest["n"],
        "positives": manifest["positives"],
        "seed": manifest["seed"],
        "shards": len(manifest["shards"]),
        "mask_source": manifest["mask_source"],
    }
    if args.json:
        return summary
    return (
        f"built {summary['n']} {summary['kind']} samples ({summary['positives']} positive) "
        f"in {summary['shards']} shard(s) at {args.out}"
    )


def _train(args: argparse.Namespace) -> Any:
    from tqdm import tqdm

    from engine.config import load_config
    from engine.model import WEIGHTS_DIR
    from engine.train import TrainOptions, train

    options = TrainOptions(
        arch=args.arch,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        patience=args.patience,
        seed=args.seed,
        device=args.device,
    )
    bar = tqdm(unit=" samples", leave=False, disable=None, file=sys.stderr)

    def progress(event: dict[str, Any]) -> None:
        if "val_loss" in event:
            tqdm.write(
                f"epoch {event['epoch']}: train loss {event['train_loss']:.4f}, "
                f"val loss {event['val_loss']:.4f}, val accuracy {event['val_accuracy']:.2%}",
                file=sys.stderr,
            )
            return
        bar.total = event["total"]
        bar.set_description(f"epoch {event['epoch']}", refresh=False)
        bar.update(event["done"] - bar.n)

    out = args.out or str(WEIGHTS_DIR / args.version)
    try:
        card = train(
            args.data,
            version=args.version,
            out=out,
            options=options,
            config=load_config(args.config),
            command="python -m engine " + " ".join(sys.argv[1:]) if sys.argv else "",
            progress=progress,
        )
    finally:
        bar.close()
    best = card["best_epoch"]
    summary = {"weights": out + ".pt", "sha256": card["sha256"], **best}
    return (
        summary
        if args.json
        else (
            f"trained {args.version} model: best epoch {best['epoch']}, val accuracy "
            f"{best['val_accuracy']:.2%}; weights {out}.pt"
        )
    )


def _evaluate(args: argparse.Namespace) -> Any:
    from tqdm import tqdm

    from engine.config import load_config
    from engine.evaluate import evaluate

    bar = tqdm(total=args.n, unit=" samples", leave=False, disable=None, file=sys.stderr)

    def progress(stage: str, done: int, total: int) -> None:
        bar.set_description(stage, refresh=False)
        bar.total, bar.n = total, done
        bar.refresh()

    try:
        result = evaluate(
            args.n,
            args.seed,
            kind=args.kind,
            config=load_config(args.config),
            workers=args.workers,
            progress=progress,
        )
    finally:
        bar.close()
    if args.json:
        return result
    lines = [f"{'input':10} {'accuracy':>9} {'precision':>9} {'recall':>9} {'FPR':>9}"]
    for version, r in result["rows"].items():
        lines.append(
            f"{version:10} {r['accuracy']:9.2%} {r['precision']:9.2%} {r['recall']:9.2%} "
            f"{r['fpr']:9.2%}"
        )
    return "\n".join(lines)


def _datasets(args: argparse.Namespace) -> Any:
    from engine.store import Store

    infos = [d.summary() for d in Store(args.store).datasets()]
    if args.json:
        return {"datasets": infos}
    if not infos:
        return "no datasets (ingest one with: python -m engine ingest PATH --name NAME)"
    lines = [_describe(d) for d in infos]
    return "\n".join(lines)


def _config(args: argparse.Namespace) -> str:
    from engine.config import load_config

    return load_config(args.config).to_yaml().rstrip()
