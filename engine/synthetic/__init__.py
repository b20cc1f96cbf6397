"""Synthetic training data (§III-B): deformation + turbulent atmosphere, observed like InSAR.

Pure building blocks (every random one takes ``rng``):

* sources — :func:`mogi` point sources, :func:`tunnel` settlement (sagging and hogging zones
  along straight or curved tracks), projected with :func:`to_los` onto a Sentinel-1 line of
  sight (:func:`los_unit_vector`, EGMS's ``los_east/north/up`` convention);
* fields — :func:`turbulent_atmosphere` (FFT synthesis of ``C(d) = a·e^(−b·d)``) with the
  paper's Cholesky construction :func:`atmosphere_cholesky` as its reference,
  :func:`clustered_mask` (urban + roads + fields), :func:`nugget_noise` (spike noise);
* :class:`RealMasks` — scatterer masks and noise cut from a real dataset in the store.

:func:`make_sample` runs one sample through the chain used on real data (denoise →
Delaunay and matrix completion → crop to the model's input); :func:`build_dataset` writes
many as shards plus a manifest (``python -m engine synth``), :func:`open_dataset` reads them.
"""

from engine.synthetic._build import (
    SyntheticDataset,
    build_dataset,
    generate_samples,
    open_dataset,
    sample_labels,
)
from engine.synthetic._fields import (
    atmosphere_cholesky,
    clustered_mask,
    exponential_covariance,
    mogi_bowl,
    nugget_noise,
    spike_noise,
    turbulent_atmosphere,
)
from engine.synthetic._masks import RealMasks
from engine.synthetic._sample import (
    KINDS,
    VERSIONS,
    Sample,
    SampleRecord,
    make_sample,
    observation_residual,
    truth_mask,
)
from engine.synthetic._sources import (
    Displacement,
    Viewing,
    los_unit_vector,
    mogi,
    raster_coordinates,
    to_los,
    tunnel,
    tunnel_profile,
)

__all__ = [
    "KINDS",
    "VERSIONS",
    "Displacement",
    "RealMasks",
    "Sample",
    "SampleRecord",
    "SyntheticDataset",
    "Viewing",
    "atmosphere_cholesky",
    "build_dataset",
    "clustered_mask",
    "exponential_covariance",
    "generate_samples",
    "los_unit_vector",
    "make_sample",
    "mogi",
    "mogi_bowl",
    "nugget_noise",
    "observation_residual",
    "open_dataset",
    "raster_coordinates",
    "sample_labels",
    "spike_noise",
    "to_los",
    "truth_mask",
    "tunnel",
    "tunnel_profile",
    "turbulent_atmosphere",
]
