"""Errors for bad input: one line naming the file, the place and what was expected."""

from __future__ import annotations

from pathlib import Path

__all__ = ["GroundwatchError", "InputError", "StoreError"]


class GroundwatchError(Exception):
    """Base of the errors the command line reports as one line with exit code 2."""


class InputError(GroundwatchError):
    """An input file, column, row or option cannot be used.

    Parameters
    ----------
    path
        The offending file (or option name when no file is involved).
    problem
        What is wrong, e.g. ``"value 'abc' is not a number"``.
    expected
        What would have been accepted, e.g. ``"a velocity in mm/yr"``.
    column, row
        Where in the file, when known. ``row`` is the 1-based data row (header excluded).

    Examples
    --------
    >>> str(InputError("pts.csv", "value 'x' is not a number", "a number", column="vel", row=3))
    "pts.csv: column 'vel', row 3: value 'x' is not a number; expected a number"
    """

    def __init__(
        self,
        path: str | Path,
        problem: str,
        expected: str | None = None,
        *,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        self.path = str(path)
        self.problem = problem
        self.expected = expected
        self.column = column
        self.row = row
        where = [self.path]
        place = [f"column {column!r}"] * (column is not None) + [f"row {row}"] * (row is not None)
        if place:
            where.append(", ".join(place))
        message = ": ".join(where) + f": {problem}"
        if expected:
            message += f"; expected {expected}"
        super().__init__(message)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # keep the fields when the error crosses a process boundary (ingest workers)
        return (
            _rebuild_input_error,
            (self.path, self.problem, self.expected, self.column, self.row),
        )

    def shifted(self, rows: int) -> InputError:
        """The same error with its row moved down by ``rows`` (for a part of a file)."""
        if self.row is None or rows == 0:
            return self
        return InputError(
            self.path, self.problem, self.expected, column=self.column, row=self.row + rows
        )


def _rebuild_input_error(path, problem, expected, column, row) -> InputError:  # type: ignore[no-untyped-def]
    return InputError(path, problem, expected, column=column, row=row)


class StoreError(GroundwatchError):
    """The store cannot do what was asked (unknown dataset, locked catalogue, ...)."""
