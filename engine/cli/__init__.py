"""Command line: ``python -m engine`` / ``groundwatch``. Parses, loads config, calls the API.

Heavy imports stay inside the command functions so ``--help`` is instant. Bad input ends
with one line on stderr and exit code 2; with ``--json`` the last stdout line is one object.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from engine import __version__
from engine.cli import _data, _model, _run, _validate

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

    for module in (_data, _model, _run, _validate):
        module.register(sub)
    return parser
