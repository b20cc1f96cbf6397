"""Reading CSV text: the header and dialect, and where in a file a parse error lies.

Products from across Europe come comma-, semicolon- or tab-separated, some with decimal
commas; the dialect is sniffed from the header and the first rows. Arrow parses the rows and
says what went wrong but not where: :func:`csv_error` re-reads the file with :mod:`csv` up to
the first offending row, so the message can name it.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from engine.errors import InputError

__all__ = ["Dialect", "csv_error", "read_header"]

logger = logging.getLogger(__name__)

_MAX_HEADER_BYTES = 1 << 20
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_DELIMITERS = (",", ";", "\t")
_SNIFF_ROWS = 20
_DECIMAL_COMMA = re.compile(r"(?:^|[;\t])\s*[+-]?\d+,\d+\s*(?=[;\t\r\n]|$)", re.MULTILINE)
_DECIMAL_POINT = re.compile(
    r"(?:^|[;\t])\s*[+-]?\d*\.\d+(?:[eE][+-]?\d+)?\s*(?=[;\t\r\n]|$)", re.MULTILINE
)


class Dialect(NamedTuple):
    """How a CSV separates its fields and writes decimals (European products: ``;`` and ``,``)."""

    delimiter: str = ","
    decimal: str = "."


def read_header(fh: io.BufferedIOBase, path: Path) -> tuple[list[str], Dialect]:
    """Column names and dialect from the first line (and a few rows for the decimal mark)."""
    first = fh.readline(_MAX_HEADER_BYTES + 1)
    for bom, encoding in _BOMS:
        if first.startswith(bom):
            raise InputError(path, f"file is {encoding} text", "UTF-8 text (save it as UTF-8)")
    if b"\x00" in first:
        raise InputError(
            path,
            "header holds NUL bytes (binary, or UTF-16 without a BOM?)",
            "a UTF-8 text header of column names",
        )
    if len(first) > _MAX_HEADER_BYTES:
        raise InputError(
            path, f"header line longer than {_MAX_HEADER_BYTES >> 20} MiB", "a line of column names"
        )
    line = first.decode("utf-8-sig", errors="replace").strip()
    if not line:
        raise InputError(path, "file is empty", "a header line and at least one row")
    counts = {d: line.count(d) for d in _DELIMITERS}
    delimiter = max(_DELIMITERS, key=lambda d: counts[d])  # ties: the comma, listed first
    try:
        header = next(csv.reader([line], delimiter=delimiter))
    except csv.Error as exc:
        raise InputError(
            path, f"header cannot be parsed ({exc})", "a line of column names"
        ) from None
    names = [h.strip() for h in header if h.strip()]
    if names and all(_is_number(h) for h in names):
        raise InputError(
            path, f"first line {line[:60]!r} holds numbers", "a header line of column names"
        )
    if len(header) < 3:
        raise InputError(
            path,
            f"header {line[:60]!r} has {len(header)} column(s)",
            "comma-, semicolon- or tab-separated columns: coordinates and a velocity or dates",
        )
    decimal = "."
    if delimiter != ",":
        sample = b"".join(fh.readline(1 << 16) for _ in range(_SNIFF_ROWS))
        text = sample.decode("utf-8", errors="replace")
        if _DECIMAL_COMMA.search(text) and not _DECIMAL_POINT.search(text):
            decimal = ","
    if delimiter != "," or decimal != ".":
        logger.info("%s: fields separated by %r, decimal mark %r", path, delimiter, decimal)
    return [h.strip() for h in header], Dialect(delimiter, decimal)


def csv_error(
    label: str,
    opener: Callable[[], io.BufferedIOBase],
    header: list[str],
    dialect: Dialect,
    exc: Exception,
    *,
    has_header: bool = True,
    block: int = 0,
) -> InputError:
    """Turn Arrow's message into file, column and row by re-reading up to the bad place."""
    text = str(exc)
    col = re.search(r"column #(\d+)", text)
    index = int(col.group(1)) if col else -1
    name = header[index] if 0 <= index < len(header) else None
    if "invalid UTF8" in text:
        found = _find_row(label, opener, dialect, has_header, lambda row: _not_utf8(row, index))
        if found:
            return InputError(
                label,
                "value is not UTF-8 text",
                "UTF-8 (save the file as UTF-8)",
                column=name,
                row=found[0],
            )
    elif "conversion error" in text:
        found = _find_row(
            label,
            opener,
            dialect,
            has_header,
            lambda row: not _numeric_at(row, index, dialect.decimal),
        )
        if found:
            value = found[1][index].strip()
            if "\n" in value or "\r" in value:  # a quote left open swallowed the next lines
                return InputError(
                    label,
                    "a quote opened in this field is never closed",
                    'a closing "',
                    column=name,
                    row=found[0],
                )
            return InputError(
                label,
                f"value {_short(value)} is not a number",
                "a number",
                column=name,
                row=found[0],
            )
    elif "Expected" in text and "columns, got" in text:
        found = _find_row(label, opener, dialect, has_header, lambda row: len(row) != len(header))
        if found:
            return InputError(
                label,
                f"row has {len(found[1])} fields",
                f"{len(header)} like the header (separated by {dialect.delimiter!r})",
                row=found[0],
            )
    elif "straddling" in text or "straddles" in text:
        return InputError(
            label,
            f"a row longer than {block >> 20} MiB",
            "rows of a point table",
            row=_long_line(opener, block, has_header),
        )
    first = text.splitlines()[0]
    return InputError(
        label, f"cannot parse CSV ({_short(first, quote=False)})", "rows under one header"
    )


def _short(text: str, *, quote: bool = True, limit: int = 60) -> str:
    """A value fit for a one-line message (a bad field may be megabytes long)."""
    cut = text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"
    return repr(cut) if quote else cut


def _long_line(opener: Callable[[], io.BufferedIOBase], limit: int, has_header: bool) -> int | None:
    """The data row of the first line over ``limit`` bytes, read ``limit`` bytes at a time."""
    with opener() as fh:
        number = 0 if has_header else 1
        while line := fh.readline(limit + 1):
            if len(line) > limit:
                return number if number > 0 else None
            if line.endswith(b"\n"):
                number += 1
    return None


def _find_row(
    label: str,
    opener: Callable[[], io.BufferedIOBase],
    dialect: Dialect,
    has_header: bool,
    bad: Callable[[list[str]], bool],
) -> tuple[int, list[str]] | None:
    """The first data row (1-based, header excluded) for which ``bad`` holds, and its fields."""
    with opener() as fh:
        # surrogateescape: bytes that are not UTF-8 survive as lone surrogates, found below
        text = io.TextIOWrapper(
            fh,  # type: ignore[type-var]
            encoding="utf-8-sig",
            errors="surrogateescape",
            newline="",
        )
        rows = csv.reader(text, delimiter=dialect.delimiter)
        number = 0
        try:
            if has_header:
                next(rows, None)
            for number, row in enumerate(rows, start=1):
                if row and bad(row):
                    return number, row
        except csv.Error as err:  # e.g. a field over the csv module's 128 k characters
            raise InputError(
                label, f"cannot parse CSV ({err})", "rows under one header", row=number + 1
            ) from None
    return None


def _numeric_at(row: list[str], index: int, decimal: str) -> bool:
    value = row[index].strip() if 0 <= index < len(row) else ""
    return not value or _is_number(value.replace(decimal, "."))


def _not_utf8(row: list[str], index: int) -> bool:
    fields = [row[index]] if 0 <= index < len(row) else row
    return any(re.search("[\udc80-\udcff]", f) for f in fields)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
