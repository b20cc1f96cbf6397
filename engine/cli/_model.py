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
        choices=["point", "tunnel", "mixed", "none"],
        help="deformation of the positives: Mogi point sources, tunnels, or 'mixed' (all five "
        "kinds plus hard negatives: spike clusters, data edges, sparse fields) in half the "
        "samples, the other half atmosphere only; 'none' = atmosphere only",
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
        "--landcover",
        action="store_true",
        help="draw scatterer masks from the benchmark scenes' land cover: fields at "
        "0.5–1.5 %% with roads, villages and towns (the default detector's rural training)",
    )
    p.add_argument(
        "--workers", type=int, default=0, help="processes (default 0 = one per CPU core)"
    )
    p.add_argument("--shard-size", type=int, default=500, help="samples per shard file")
    p.add_argument(
        "--versions",
        default="sparse,delaunay,mc",
        help="patch inputs to write, comma-separated (default sparse,delaunay,mc: Table I)",
    )
    p.add_argument(
        "--context",
        action="store_true",
        help="also write the whole canvas around each patch (the default detector's input)",
    )
    _common(p, config=True)

    p = _command(sub, "train", "train the default detector or a paper classifier", _train)
    p.add_argument(
        "--data", action="append", required=True, metavar="DIR", help="a synth build; repeatable"
    )
    p.add_argument(
        "--arch",
        default="groundseg",
        choices=["groundseg", "groundnet", "alexnet"],
        help="groundseg: the default detector (needs 'synth --context' builds); groundnet, "
        "alexnet: the paper's wrapped-patch classifier on one --version",
    )
    p.add_argument(
        "--version",
        default="mc",
        choices=["sparse", "delaunay", "mc"],
        help="input version of a paper classifier (default mc)",
    )
    p.add_argument(
        "--out",
        metavar="PATH",
        help="weights path without suffix (default trained/ARCH-VERSION); the shipped "
        "weights in engine/weights are only replaced with --ship",
    )
    p.add_argument("--ship", action="store_true", help="allow --out to replace shipped weights")
    p.add_argument("--width", type=int, default=16, help="channels of the default detector")
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
    p.add_argument("--max-samples", type=int, help="use only the first N samples")
    p.add_argument("--init", metavar="WEIGHTS", help="default detector: start from these weights")
    p.add_argument(
        "--residual",
        action="store_true",
        help="default detector: a fourth input channel, the observations' residual from the "
        "interpolation (needs builds that store it)",
    )
    p.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
    _common(p, config=True)

    p = _command(
        sub, "evaluate", "detection skill on a fresh synthetic test set (Table I)", _evaluate
    )
    p.add_argument("--n", type=int, default=400, help="test samples (default 400)")
    p.add_argument("--seed", type=int, required=True, help="seed of the test set")
    p.add_argument(
        "--kind",
        default="point",
        choices=["point", "tunnel", "mixed"],
        help="point: Table I's protocol at the new scale (default); mixed: all five kinds and "
        "the hard negatives",
    )
    p.add_argument(
        "--models",
        default="default,paper",
        help="which to score, comma-separated: default, paper (default both)",
    )
    p.add_argument(
        "--no-references", action="store_true", help="skip the oracle and scan references"
    )
    p.add_argument(
        "--landcover",
        action="store_true",
        help="draw the test set's scatterers from the scenes' rural land cover "
        "(fields at 0.5–1.5 %%) instead of the generated clustered masks",
    )
    p.add_argument("--workers", type=int, default=0, help="processes generating samples")
    _common(p, config=True)


def _synth(args: argparse.Namespace) -> Any:
    from tqdm import tqdm

    from engine.config import load_config
    from engine.errors import InputError
    from engine.scenes import LandcoverMasks
    from engine.store import Store
    from engine.synthetic import RealMasks, build_dataset

    config = load_config(args.config)
    masks = None
    if args.mask_source and args.landcover:
        raise InputError("synth", "was given --mask-source and --landcover", "one of them")
    if args.landcover:
        masks = LandcoverMasks(config.grid.pixel_size_m)
    elif args.mask_source:
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
            versions=tuple(v.strip() for v in args.versions.split(",") if v.strip()),
            context=args.context,
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
    from pathlib import Path

    from tqdm import tqdm

    from engine.config import load_config
    from engine.errors import InputError
    from engine.model import WEIGHTS_DIR
    from engine.train import DetectorOptions, TrainOptions, train, train_detector

    name = args.arch if args.arch == "groundseg" else f"{args.arch}-{args.version}"
    out = Path(args.out or Path("trained") / name)
    if out.resolve().parent == WEIGHTS_DIR.resolve() and not args.ship:
        raise InputError("--out", f"{out} would replace shipped weights", "another path, or --ship")
    bar = tqdm(unit=" samples", leave=False, disable=None, file=sys.stderr)

    def progress(event: dict[str, Any]) -> None:
        if "val_loss" in event:
            tqdm.write(
                f"epoch {event['epoch']}: "
                + ", ".join(f"{k} {v}" for k, v in event.items() if k.startswith(("train", "val"))),
                file=sys.stderr,
            )
            return
        bar.total = event["total"]
        bar.set_description(f"epoch {event['epoch']}", refresh=False)
        bar.update(event["done"] - bar.n)

    common = {"epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
              "learning_rate": args.learning_rate, "patience": args.patience,
              "device": args.device, "max_samples": args.max_samples}  # fmt: skip
    command = "python -m engine " + " ".join(sys.argv[1:]) if sys.argv else ""
    config = load_config(args.config)
    try:
        if args.arch == "groundseg":
            card = train_detector(args.data, out=out, config=config, command=command,
                                  options=DetectorOptions(width=args.width, init=args.init,
                                                          residual=args.residual, **common),
                                  progress=progress)  # fmt: skip
        else:
            card = train(args.data, version=args.version, out=out, config=config,
                         command=command, options=TrainOptions(arch=args.arch, **common),
                         progress=progress)  # fmt: skip
    finally:
        bar.close()
    best = card["best_epoch"]
    summary = {"weights": f"{out}.pt", "sha256": card["sha256"], **best}
    if args.json:
        return summary
    return (
        f"trained {name}: best epoch {best['epoch']}, val accuracy "
        f"{best['val_accuracy']:.2%}; weights {out}.pt"
    )


def _evaluate(args: argparse.Namespace) -> Any:
    from tqdm import tqdm

    from engine.config import load_config
    from engine.errors import InputError
    from engine.evaluate import evaluate
    from engine.scenes import LandcoverMasks
    from engine.synthetic import VERSIONS

    chosen = {m.strip() for m in args.models.split(",") if m.strip()}
    if not chosen or chosen - {"default", "paper"}:
        raise InputError("--models", f"{args.models!r}", "default, paper or default,paper")
    bar = tqdm(total=args.n, unit=" samples", leave=False, disable=None, file=sys.stderr)

    def progress(stage: str, done: int, total: int) -> None:
        bar.set_description(stage, refresh=False)
        bar.total, bar.n = total, done
        bar.refresh()

    config = load_config(args.config)
    try:
        result = evaluate(
            args.n,
            args.seed,
            kind=args.kind,
            config=config,
            versions=VERSIONS if "paper" in chosen else (),
            default="default" if "default" in chosen else None,
            references=not args.no_references,
            masks=LandcoverMasks(config.grid.pixel_size_m) if args.landcover else None,
            workers=args.workers,
            progress=progress,
        )
    finally:
        bar.close()
    if args.json:
        return result
    lines = [f"{'model':16} {'accuracy':>9} {'precision':>9} {'recall':>9} {'FPR':>9}"]
    for model, scores in result["models"].items():
        for version, r in scores["rows"].items():
            lines.append(
                f"{model + ' ' + version:16} {r['accuracy']:9.2%} {r['precision']:9.2%} "
                f"{r['recall']:9.2%} {r['fpr']:9.2%}"
            )
    for name, r in result.get("references", {}).items():
        if isinstance(r, dict):
            lines.append(f"{name + ' (reference)':16} {r['accuracy']:9.2%} {'':>9} "
                         f"{'':>9} {r['fpr']:9.2%}")  # fmt: skip
    if "default" in result["models"]:
        d = result["models"]["default"]
        lines.append(f"default: recall at ≥ 3 mm/yr and ≥ 5 px {d['recall_ge3_ge5px']}, "
                     f"median IoU {d['iou_median']}")  # fmt: skip
    return "\n".join(lines)
