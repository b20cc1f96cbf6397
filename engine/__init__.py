"""Groundwatch engine: find ground deformation in InSAR velocity maps.

Array conventions, stated once: rasters are ``(rows, cols)`` float32 in mm/yr, line of sight,
positive towards the satellite; NaN means no data; ``mask=True`` means observed. Distances are
in metres in the run's projected CRS; map outputs are WGS84.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
