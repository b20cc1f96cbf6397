"""Validate stage: InSAR velocities against GNSS benchmarks (004 §5.2, Table 2, Fig. 7).

A benchmark's GNSS rate comes from a published rate, from two campaigns (``Δ/Δt``, as 004
divides the 2018–2020 change by 2 years) or from a daily series fitted by weighted least
squares (:func:`engine.timeseries.fit_velocity`, weights ``1/σ²``). It is compared with the
PS points within ``radius_m`` (20 m in 004), one geometry (ascending, descending, ...) at a
time: the points' velocities are combined (their mean, as in 004, or median) and the GNSS
motion is projected on their mean line of sight, ``e·los_east + n·los_north + u·los_up``
(vertical only when the GNSS gives no horizontal rates, which are then taken as zero).

Per benchmark the deviation is GNSS − InSAR (004 eq. 5; Table 2 prints its absolute value).
Over all matched benchmarks: ``bias`` (mean deviation, 004's "± 1.5 mm"), mean |deviation|,
RMSE, and ``r2``, the squared Pearson correlation of GNSS and InSAR rates, the R² of the
trend line of 004 Fig. 7 (0.830 from Table 2; ``1 − SS_res/SS_tot`` about the 1:1 line
gives 0.137 there). Sign convention: mm/yr, positive = towards the satellite (uplift).
"""

from engine.validate._core import ValidationResult, validate_benchmarks, validate_pairs
from engine.validate._dataset import search_boxes, validate_dataset
from engine.validate._rates import gnss_rates

__all__ = [
    "ValidationResult",
    "gnss_rates",
    "search_boxes",
    "validate_benchmarks",
    "validate_dataset",
    "validate_pairs",
]
