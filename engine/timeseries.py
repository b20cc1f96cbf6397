"""Time series stage: velocity and its standard error by weighted least squares (004 eq. 3–4).

Each point's dated displacements ``d`` (mm) are fitted with a straight line
``d(t) = a + v·t`` by weighted least squares, ``[a, v] = (TᵀPT)⁻¹TᵀPd``, where ``T`` holds a
column of ones (the intercept) and the times, and ``P = diag(w)`` holds the epoch weights
``w = 1/σ²``. Missing epochs (NaN) and zero-weighted epochs drop out of the fit of that
point only.

The fit is done with the five weighted sums of the 2×2 normal equations
(``S0 = Σw``, ``S1 = Σw·t``, ``S2 = Σw·t²``, ``Sd = Σw·d``, ``Std = Σw·t·d``) plus ``Σw·d²``
for the residuals, formed as matrix–vector products over the masked arrays, in float64, one
row block at a time so that temporaries stay small; no Python loop runs over points.
:func:`fit_velocity` fits whatever it is given; callers with more points than fit in memory
(10 M points × 300 dates is 12 GB of float32) stream row batches through it, e.g. the ingest
batches of ``IngestParams.batch_rows``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.config import TimeseriesParams

__all__ = ["DAYS_PER_YEAR", "VelocityFit", "fit_velocity", "parse_date_columns"]

logger = logging.getLogger(__name__)

DAYS_PER_YEAR = 365.25
"""Length of the (Julian) year used to turn days into decimal years."""

# Rows per block × dates. Blocks keep the float64 work buffers (2 MB each) in cache and the
# matrix-vector products single-threaded: they are memory-bound, and on a busy 2-core machine
# threaded BLAS (blocks of 2**19 and more) was measured 3-4× slower. 2**18 was fastest there.
_BLOCK_ELEMENTS = 1 << 18
_DATE_COLUMN = re.compile(r"^[dD]?(\d{4})(\d{2})(\d{2})$")


class VelocityFit(NamedTuple):
    """Result of :func:`fit_velocity`, one value per point (shape ``(n_points,)``)."""

    velocity: NDArray[np.float32]
    """Fitted velocity, mm/yr (float32); NaN where fewer than ``min_epochs`` valid epochs."""
    velocity_std: NDArray[np.float32]
    """Standard error of the velocity, mm/yr (float32); NaN where the velocity is NaN."""
    intercept: NDArray[np.float32]
    """Fitted displacement at the first date, mm (float32); NaN where the velocity is NaN."""
    n_epochs: NDArray[np.int32]
    """Number of epochs used: finite displacement and weight > 0 (int32)."""


def fit_velocity(
    displacements: ArrayLike,
    dates: Sequence[np.datetime64 | _dt.date] | NDArray[np.datetime64],
    *,
    weights: ArrayLike | None = None,
    params: TimeseriesParams = TimeseriesParams(),
) -> VelocityFit:
    """Fit a velocity, its standard error and an intercept to every point's time series.

    Parameters
    ----------
    displacements
        ``(n_points, n_dates)`` real array of displacements in mm (float32 is fine; sums are
        accumulated in float64). NaN (or ±inf) marks a missing epoch.
    dates
        ``n_dates`` acquisition dates, strictly increasing: ``datetime64`` (any unit,
        truncated to days), ``datetime.date`` or ISO strings. Times are decimal years
        ``days / 365.25`` since the first date; internally they are centred on their mean
        for numerical stability, which changes no result.
    weights
        Epoch weights ``1/σ²`` (004 eq. 4), shape ``(n_dates,)`` (shared by all points) or
        ``(n_points, n_dates)``; finite and ``>= 0``, where 0 drops the epoch. ``None`` gives
        uniform weights (ordinary least squares).
    params
        ``min_epochs``: points with fewer valid epochs get NaN outputs.
        ``scale_by_residuals``: if True (default) the error is a-posteriori,
        ``σ_v² = σ̂₀²·(N⁻¹)_vv`` with ``σ̂₀² = Σw·r²/(n−2)`` and ``N = TᵀPT``, which is
        invariant to a common scale of the weights. If False it is a-priori,
        ``σ_v² = (N⁻¹)_vv``, meaningful only when the weights are absolute ``1/σ²`` in mm⁻².

    Returns
    -------
    VelocityFit
        ``velocity`` (mm/yr), ``velocity_std`` (mm/yr), ``intercept`` (mm at the first date),
        all float32, and ``n_epochs`` (int32).

    Raises
    ------
    ValueError
        On a wrong shape or dtype, fewer than 2 dates, dates not strictly increasing, or
        negative or non-finite weights.

    Notes
    -----
    The input is never copied whole: rows are processed in blocks of about 260 k elements
    through reused buffers (7 MB in all), plus 64 bytes of sums and 16 bytes of outputs
    per point. A C-ordered (row-major) input is fastest. Callers with more points than fit
    in memory stream row batches (the fit of a point depends on its row only). About 1 s
    per million points × 300 float32 dates on one core, 2 s with 10 % missing epochs.

    Times are centred on their mean and each series on its weighted mean before the sums
    are formed, so ``Σw·r²`` (hence the error) stays exact for any offset of the series.

    References
    ----------
    004_c4b629adc20b86c6.txt, eq. 3–4 (``v = (TᵀPT)⁻¹TᵀPd``, ``P = diag(1/σ²)``).

    Examples
    --------
    Dates 1461 days (4 Julian years) apart give t = 0, 4, 8, 12 yr:

    >>> dates = np.array(["2000-01-01", "2004-01-01", "2008-01-01", "2012-01-01"], "datetime64[D]")
    >>> d = np.array([[1.0, 3.0, 9.0, 11.0], [1.0, np.nan, 9.0, 11.0]], dtype=np.float32)
    >>> fit = fit_velocity(d, dates)
    >>> np.round(fit.velocity, 4), np.round(fit.intercept, 4)
    (array([0.9   , 0.8571], dtype=float32), array([0.6   , 1.2857], dtype=float32))
    >>> round(float(fit.velocity_std[0]) ** 2, 6)  # σ̂₀²·(N⁻¹)_vv = (3.2 / 2) / 80
    0.02
    >>> fit.n_epochs
    array([4, 3], dtype=int32)
    """
    d = _as_displacements(displacements)
    t = _decimal_years(dates, n_dates=d.shape[1])
    w = _as_weights(weights, d.shape)
    n_points, n_dates = d.shape
    t_ref = float(t.mean())
    tc = t - t_ref

    sums = np.empty((n_points, 8))  # S0, S1, S2, n, Sd, Std, Sdd, mean per point
    step = max(1, _BLOCK_ELEMENTS // n_dates)
    work = _Workspace(min(step, n_points), tc, None if w is None or w.ndim == 2 else w)
    for start in range(0, n_points, step):
        rows = slice(start, min(start + step, n_points))
        w_rows = w[rows] if w is not None and w.ndim == 2 else None
        work.normal_sums(d[rows], w_rows, out=sums[rows])
    v, s, a, n = _solve(sums, params)
    fit = VelocityFit(
        v.astype(np.float32), s.astype(np.float32), (a - v * t_ref).astype(np.float32), n
    )
    n_bad = int(np.count_nonzero(n < params.min_epochs))
    if n_bad:
        logger.debug("%d of %d points have < %d epochs", n_bad, n_points, params.min_epochs)
    return fit


def parse_date_columns(names: Iterable[str]) -> dict[str, np.datetime64]:
    """Map the dated displacement columns among ``names`` to their dates.

    A dated column is named ``YYYYMMDD`` or ``DYYYYMMDD`` (``d`` also accepted), as in EGMS
    products. Other names are ignored.

    Parameters
    ----------
    names
        Column names, e.g. a DataFrame's ``columns``.

    Returns
    -------
    dict[str, numpy.datetime64]
        Column name → ``datetime64[D]``, in the order of ``names``.

    Raises
    ------
    ValueError
        If a name has the date form but is not a calendar date (``20201340``), or two
        columns give the same date.

    Examples
    --------
    >>> parse_date_columns(["pid", "mean_velocity", "20200103", "D20200109", "d20200115"])
    {'20200103': np.datetime64('2020-01-03'), 'D20200109': np.datetime64('2020-01-09'), \
'd20200115': np.datetime64('2020-01-15')}
    """
    out: dict[str, np.datetime64] = {}
    seen: dict[np.datetime64, str] = {}
    for name in names:
        match = _DATE_COLUMN.match(str(name))
        if match is None:
            continue
        year, month, day = (int(g) for g in match.groups())
        try:
            date = np.datetime64(_dt.date(year, month, day), "D")
        except ValueError:
            raise ValueError(f"column {name!r} has the form YYYYMMDD but is not a date") from None
        if date in seen:
            raise ValueError(f"columns {seen[date]!r} and {name!r} give the same date {date}")
        seen[date] = str(name)
        out[str(name)] = date
    return out


def _as_displacements(displacements: ArrayLike) -> NDArray[np.floating]:
    d = np.asarray(displacements)
    if d.ndim != 2:
        raise ValueError(f"displacements must be 2-D (n_points, n_dates), got shape {d.shape}")
    if d.dtype == np.bool_ or not (
        np.issubdtype(d.dtype, np.floating) or np.issubdtype(d.dtype, np.integer)
    ):
        raise ValueError(f"displacements must be a real numeric array, got dtype {d.dtype}")
    return d


def _decimal_years(dates: ArrayLike, *, n_dates: int) -> NDArray[np.float64]:
    try:
        days = np.asarray(dates, dtype="datetime64[D]")
    except (TypeError, ValueError):
        raise ValueError("dates must be datetime64, datetime.date or ISO date strings") from None
    if days.ndim != 1 or days.size != n_dates:
        raise ValueError(
            f"dates must be 1-D, one per displacement column ({n_dates}), got shape {days.shape}"
        )
    if n_dates < 2:
        raise ValueError(f"at least 2 dates are needed, got {n_dates}")
    if np.isnat(days).any():
        raise ValueError("dates must not contain NaT")
    offsets = (days - days[0]).astype(np.int64)
    if np.any(np.diff(offsets) <= 0):
        raise ValueError("dates must be strictly increasing (distinct and sorted)")
    return offsets / DAYS_PER_YEAR


def _as_weights(weights: ArrayLike | None, shape: tuple[int, int]) -> NDArray[np.floating] | None:
    if weights is None:
        return None
    w = np.asarray(weights)
    if w.shape not in (shape[1:], shape):
        raise ValueError(f"weights must have shape {shape[1:]} or {shape}, got {w.shape}")
    if not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)):
        raise ValueError(f"weights must be a real numeric array, got dtype {w.dtype}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0 (use 0 to drop an epoch)")
    return w


class _Workspace:
    """Design vectors and work buffers shared by every block: no block allocates (rows, dates)."""

    def __init__(self, rows: int, t: NDArray[np.float64], w1d: NDArray[np.floating] | None) -> None:
        n_dates = t.size
        self.d = np.empty((rows, n_dates))
        self.aux = np.empty((rows, n_dates))
        self.valid = np.empty((rows, n_dates), dtype=bool)
        self.keep = np.empty((rows, n_dates), dtype=np.int64)  # all bits set where valid
        w = np.ones(n_dates) if w1d is None else w1d.astype(np.float64)
        sqrt_w = np.sqrt(w)  # d·√w: then Σw·d = (d√w)·√w and Σw·d² = Σ(d√w)²
        self.sqrt_w = None if w1d is None else sqrt_w
        # Rows of vectors for matrix-vector products over a block, shape (k, n_dates).
        # 1-D (or no) weights: [S0, S1, S2, n] = valid @ design, [Sd, Std] = (d√w) @ design_d
        self.design = np.stack([w, w * t, w * t * t, (w > 0).astype(np.float64)])
        self.design_d = np.stack([sqrt_w, sqrt_w * t])
        # 2-D weights W: [S0, S1, S2] = W @ powers, [Sd, Std] = (W·d) @ powers[:2]
        self.powers = np.stack([np.ones_like(t), t, t * t])

    def normal_sums(
        self, d: NDArray[np.floating], w: NDArray[np.floating] | None, *, out: NDArray[np.float64]
    ) -> None:
        """Write the (rows, 8) sums of one block into ``out``.

        The columns are ``S0, S1, S2, n, Sd, Std, Sdd, m``: the displacement sums are of
        ``d − m``, where ``m = Σw·d / Σw`` is the point's weighted mean. Removing it before
        squaring keeps ``Σw·r²`` exact whatever the offset of the series.
        """
        rows = d.shape[0]
        valid, keep = self.valid[:rows], self.keep[:rows]
        d0, aux = self.d[:rows], self.aux[:rows]
        np.isfinite(d, out=valid)
        all_valid = bool(valid.all())
        np.copyto(d0, d)  # float64 copy; missing epochs are set to +0.0 below
        if not all_valid:  # branch-free masking: AND the float bits with 0 or ~0
            np.copyto(keep, valid)
            np.negative(keep, out=keep)
            np.bitwise_and(d0.view(np.int64), keep, out=d0.view(np.int64))
        s0, s1, mean = out[:, 0], out[:, 1], out[:, 7]  # views, filled below
        if w is None:  # shared weights; d0 becomes d·√w, aux the mean times √w
            if all_valid:
                out[:, :4] = self.design.sum(axis=1)
            else:
                np.copyto(aux, valid)
                _matvecs(aux, self.design, out=out[:, :4])
            if self.sqrt_w is not None:
                np.multiply(d0, self.sqrt_w, out=d0)
            sd, std = d0 @ self.design_d[0], d0 @ self.design_d[1]
            _mean(sd, s0, out=mean)
            out[:, 4] = sd - mean * s0  # Σw·(d − m), 0 up to rounding
            out[:, 5] = std - mean * s1  # Σw·t·(d − m)
            if self.sqrt_w is None:
                d0 -= mean[:, None]
            else:
                d0 -= np.multiply(mean[:, None], self.sqrt_w, out=aux)
            if not all_valid:
                np.bitwise_and(d0.view(np.int64), keep, out=d0.view(np.int64))
            out[:, 6] = np.vecdot(d0, d0)
        else:  # per-point weights W in aux; W·(d − m) is 0 wherever W is
            np.copyto(aux, w)
            if not all_valid:
                np.bitwise_and(aux.view(np.int64), keep, out=aux.view(np.int64))
            _matvecs(aux, self.powers, out=out[:, :3])
            out[:, 3] = np.count_nonzero(aux, axis=1)
            _mean(np.vecdot(aux, d0), s0, out=mean)
            d0 -= mean[:, None]
            np.multiply(aux, d0, out=aux)  # W·(d − m)
            _matvecs(aux, self.powers[:2], out=out[:, 4:6])
            out[:, 6] = np.vecdot(aux, d0)


def _matvecs(
    a: NDArray[np.float64], vectors: NDArray[np.float64], *, out: NDArray[np.float64]
) -> None:
    """``out[:, k] = a @ vectors[k]``: one gemv per vector is 2–4× faster than a thin gemm."""
    for k, vector in enumerate(vectors):
        out[:, k] = a @ vector


def _mean(sd: NDArray[np.float64], s0: NDArray[np.float64], *, out: NDArray[np.float64]) -> None:
    np.divide(sd, s0, out=out, where=s0 > 0)
    out[s0 <= 0] = 0.0


def _solve(
    sums: NDArray[np.float64], params: TimeseriesParams
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.int32]]:
    """Velocity, its error, intercept (at the centred origin) and epoch count from the sums."""
    s0, s1, s2, n, sd, std, sdd, mean = sums.T
    det = s0 * s2 - s1 * s1
    ok = (n >= params.min_epochs) & (det > 0)
    det = np.where(ok, det, 1.0)
    v = (s0 * std - s1 * sd) / det
    a = (s2 * sd - s1 * std) / det
    var_v = s0 / det  # (N⁻¹)_vv
    if params.scale_by_residuals:
        rss = np.maximum(sdd - a * sd - v * std, 0.0)  # Σw·r² at the solution
        var_v = var_v * rss / np.where(ok, n - 2.0, 1.0)
    nan = np.nan
    return (
        np.where(ok, v, nan),
        np.where(ok, np.sqrt(var_v), nan),
        np.where(ok, a + mean, nan),
        n.astype(np.int32),
    )
