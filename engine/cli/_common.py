"""Pieces shared by the command modules."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["command", "common"]


def command(
    sub: argparse._SubParsersAction, name: str, help_text: str, func: Callable[[Any], Any]
) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.set_defaults(func=func)
    return p


def common(p: argparse.ArgumentParser, *, config: bool = False) -> None:
    p.add_argument(
        "--store", metavar="PATH", help="store folder (default: $GROUNDWATCH_HOME or cache/)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    if config:
        p.add_argument("--config", metavar="FILE", help="YAML run configuration")
