"""Commands on the classifier: synth, train, evaluate."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.cli._common import command as _command
from engine.cli._common import common as _common


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the parser."""
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
