"""Sites stage (§IV-C): per-pixel probability + observed points → ranked deformation sites.

The paper maps the connected areas where the detection probability exceeds 0.5, 0.75 and
0.9 (Fig. 6, 7) and notes that "uplift and subsidence can be simply distinguished by
comparing the velocity with that of neighbouring areas, [which] can be added in
post-processing". This package does that post-processing and turns each deformation into
one row a non-expert can act on.

Definitions
-----------
* **On the data.** A site is made of observed points (at least ``min_points``) whose
  probability passes the lowest level, grouped when they lie within about twice
  ``max_beyond_m`` of each other with the probability above the level between them. Its
  outline hugs them (``buffer_px`` around each, plus the gaps between them) and never
  reaches more than ``max_beyond_m`` beyond a point (:mod:`engine.sites._pixels`). The
  probability raster may be any per-pixel probability on the grid.
* **One site per deformation.** Each site has one id and its highest level ``level``: the
  largest level at which a part of it still holds ``min_points`` points above that level.
  Regions nest (the part above 0.9 lies inside the one above 0.75, inside the one above
  0.5), so "sites at P > L" (:func:`sites_at`) are those whose highest level reaches L and
  their number never grows with L (:func:`sites_summary`). The outline is that of the
  lowest level.
* **Motion.** ``v_mean`` / ``v_min`` / ``v_max`` are over the site's points (the mean
  weighted by the points per pixel). ``v_ring`` is the median velocity of the points in a
  ring around it (``ring_width_px``, widened when it holds too few; ``ring_points`` of
  them, 0 when none: then ``v_ring = 0``, the product's own reference). The headline is
  ``dv = v_mean − v_ring`` (mm/yr, one decimal); ``motion`` is "uplift" when ``dv > 0``
  (towards the satellite), "subsidence" when ``dv < 0``, "stable" at 0.0, and
  ``motion_text`` says it in words, naming the ring's own motion when it moves
  ("relative uplift of +3.0 mm/yr; the whole area subsides at −12.0 mm/yr").
* ``p_max`` / ``p_mean`` are the probability at the site's points. ``looks`` names the LOS
  geometries that scored any pixel of the site; ``single_geometry`` marks a site seen in
  one only, without the confirmation of the other look (§III-D).

No column holds NaN: a site always has points, hence a mean and a probability.

Priority
--------
A triage score, the order in which to look at sites (and to screen a corridor)::

    priority = p_mean × |dv| × (1 + log10(1 + area_m2 / 10 000 m²)) × (1 − e^(−n_points / 10))

confidence (the mean probability at the points, so one high pixel does not promote a
site at the edge of detection) × severity (the rate relative to the surroundings, mm/yr)
× extent (1 at a point, 2 at ~9 ha, 3 at ~1 km²: a bigger footprint affects more assets,
but only logarithmically, so one slow coalfield does not bury a fast, small sinkhole) ×
support (0.33 at 4 points, 0.63 at 10, 0.95 at 30: a rate measured on a handful of points
is worth less). In mm/yr-equivalents. Site ids number sites by decreasing priority
("site-0001" first).
"""

from engine.sites._extract import (
    SITE_COLUMNS,
    drop_overlapping,
    extract_sites,
    level_key,
    number_sites,
    reach_px,
    sites_at,
    sites_summary,
)
from engine.sites._motion import describe_motion, ring_reference, site_priority
from engine.sites._pixels import (
    SiteRegions,
    distance_to_data_px,
    level_regions,
    mask_to_data,
    site_regions,
)

__all__ = [
    "SITE_COLUMNS",
    "SiteRegions",
    "describe_motion",
    "distance_to_data_px",
    "drop_overlapping",
    "extract_sites",
    "level_key",
    "level_regions",
    "mask_to_data",
    "number_sites",
    "reach_px",
    "ring_reference",
    "site_priority",
    "site_regions",
    "sites_at",
    "sites_summary",
]
