"""Command: validate a dataset against GNSS benchmarks, or score already-paired tables."""

from __future__ import annotations

import argparse
from typing import Any

from engine.cli._common import command as _command
from engine.cli._common import common as _common


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``validate`` command to the parser."""
    p = _command(
        sub,
        "validate",
        "compare InSAR velocities with GNSS benchmarks: R², bias, mean |deviation|, RMSE",
        _validate,
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--gnss",
        metavar="FILE",
        help="benchmarks: CSV (id, lon/lat or x/y, rate in mm/yr, or up1_mm/date1/up2_mm/date2, "
        "or a series column of .tenv3 files), a '# Format: lon lat VE VN VU ...' table, "
        "or one NGL .tenv3 file",
    )
    what.add_argument(
        "--pairs", metavar="FILE", help="GNSS/InSAR pairs already matched, e.g. 004 Table 2"
    )
    p.add_argument("--dataset", metavar="NAME", help="store dataset to validate (with --gnss)")
    p.add_argument("--radius-m", type=float, help="matching radius in metres (default 20)")
    p.add_argument("--statistic", choices=["mean", "median"], help="combine the PS by")
    p.add_argument(
        "--direction",
        choices=["los", "vertical"],
        help="compare on the line of sight (GNSS projected) or vertically (InSAR / los_up)",
    )
    p.add_argument("--gnss-crs", metavar="CRS", help="CRS of x/y columns of the GNSS file")
    p.add_argument("--start", metavar="DATE", help="fit GNSS series from this date")
    p.add_argument("--end", metavar="DATE", help="fit GNSS series up to this date")
    p.add_argument(
        "--gnss-span-years",
        type=float,
        metavar="YEARS",
        help="years between GNSS campaigns when --pairs gives displacements (004: 2)",
    )
    _common(p, config=True)


def _validate(args: argparse.Namespace) -> dict[str, Any] | str:
    from engine.config import load_config
    from engine.errors import InputError
    from engine.ingest import read_pairs
    from engine.validate import validate_pairs

    params = load_config(args.config).validate_
    update = {"radius_m": args.radius_m, "statistic": args.statistic, "direction": args.direction}
    try:  # validated again, unlike model_copy(update=...)
        params = type(params).model_validate(
            params.model_dump() | {k: v for k, v in update.items() if v is not None}
        )
    except ValueError:
        raise InputError("--radius-m", f"{args.radius_m!r}", "a positive distance in m") from None
    if args.pairs:
        result = validate_pairs(read_pairs(args.pairs, gnss_span_years=args.gnss_span_years))
    else:
        result = _against_dataset(args, params)
    return result.summary() if args.json else _describe(result)


def _against_dataset(args: argparse.Namespace, params: Any) -> Any:
    from engine.errors import InputError
    from engine.ingest import read_benchmarks
    from engine.store import Store
    from engine.validate import validate_dataset

    if not args.dataset:
        raise InputError("--dataset", "missing", "the store dataset to compare with --gnss")
    start, end = _date(args.start, "--start"), _date(args.end, "--end")
    benchmarks = read_benchmarks(args.gnss, xy_crs=args.gnss_crs)  # before the store
    return validate_dataset(
        Store(args.store), args.dataset, benchmarks, params=params, start=start, end=end
    )


def _date(text: str | None, option: str) -> str | None:
    import numpy as np

    from engine.errors import InputError

    if text is None:
        return None
    try:
        return str(np.datetime64(text, "D"))
    except ValueError:
        raise InputError(option, f"{text!r} is not a date", "an ISO date YYYY-MM-DD") from None


def _describe(result: Any) -> str:
    s = result.summary()
    lines = [
        f"{b['id']:>10} {b.get('geometry') or '':>10} GNSS {b['gnss_rate']:8.2f}  "
        f"InSAR {b['insar_velocity']:8.2f}  deviation {b['deviation']:+7.2f} mm/yr"
        for b in s["benchmarks"]
    ]
    lines += [
        f"{u['id']:>10} {u.get('geometry') or '':>10} unmatched, nearest point "
        + (f"{u['nearest_m']:.1f} m" if u["nearest_m"] is not None else "beyond the search")
        for u in s["unmatched"]
    ]
    fig = {k: "n/a" if s[k] is None else f"{s[k]:.3f}" for k in ("r2", "bias", "rmse")}
    mad = "n/a" if s["mean_abs_deviation"] is None else f"{s['mean_abs_deviation']:.3f}"
    pairs = s["n_matched"]  # a benchmark is compared once per geometry it matched
    per_geometry = (
        f" ({pairs} benchmark-geometry pairs)" if pairs != s["n_benchmarks_matched"] else ""
    )
    lines.append(
        f"{s['n_benchmarks_matched']} of {s['n_benchmarks']} benchmarks matched{per_geometry}: "
        f"R² {fig['r2']}, "
        f"bias (GNSS − InSAR) {fig['bias']} mm/yr, mean |deviation| {mad} mm/yr, "
        f"RMSE {fig['rmse']} mm/yr"
    )
    return "\n".join(lines + [f"note: {n}" for n in s["notes"]])
