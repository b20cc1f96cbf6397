"""Benchmark scenes: synthetic regions in both geometries with known deformation sources.

A :class:`Scene` (:func:`make_scene`) is a square region of the English Midlands, 1000–10000
pixels a side, seen from an ascending and a descending Sentinel-1 track: per geometry a
sparse velocity raster (turbulent atmosphere + the LOS rates of the sources, at clustered
scatterers, with spike noise) and the list of :class:`SceneSource` that deform it — mining,
tunnels, quarries, dewatering and landslides, each with its footprint. :meth:`Scene.truth`
gives the footprints as a GeoDataFrame and :func:`score_sites` the site-level recall and
precision of a detector against them. Hard negatives (:func:`draw_negatives`: a coast with
no data, very sparse fields, incoherent spike clusters) lie away from the sources, and
:func:`score_scene` reports what the issue's benchmark asks of sites against both.
Everything is deterministic for a seed.

Built from :mod:`engine.synthetic`'s sources, atmosphere and noise, at scene scale:
:func:`draw_layout` (land cover), :func:`atmosphere` (coarse synthesis for big scenes),
:func:`draw_sources` (placement and footprints). :class:`LandcoverMasks` cuts training masks
from the same land cover.
"""

from engine.scenes._layout import LANDCOVER_CLASSES, Layout, atmosphere, draw_layout
from engine.scenes._masks import LandcoverMasks
from engine.scenes._negatives import NEGATIVE_KINDS, HardNegative, draw_negatives
from engine.scenes._scene import GEOMETRIES, Scene, make_scene, scene_transform
from engine.scenes._score import footprint_points, score_scene, score_sites
from engine.scenes._sources import SOURCE_KINDS, SceneSource, draw_sources, render_source

__all__ = [
    "GEOMETRIES",
    "LANDCOVER_CLASSES",
    "NEGATIVE_KINDS",
    "SOURCE_KINDS",
    "HardNegative",
    "LandcoverMasks",
    "Layout",
    "Scene",
    "SceneSource",
    "atmosphere",
    "draw_layout",
    "draw_negatives",
    "draw_sources",
    "footprint_points",
    "make_scene",
    "render_source",
    "scene_transform",
    "score_scene",
    "score_sites",
]
