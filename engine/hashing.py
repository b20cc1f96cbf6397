"""The one cache-key scheme: sha256 of files, of datasets, of tiles and of runs.

Every key is the sha256 of one canonical JSON object (:func:`digest`), and each key holds
the one below it, so a change anywhere reaches every key above:

- :func:`dataset_key`: every byte of every input file (a shapefile's sidecars too), the
  ingest options, the dataset's name, the config sections ingest reads, the run CRS and the
  code version. Stored with the dataset (``datasets.input_hash``).
- :func:`tile_key`: the dataset key, the config sections the tile chain reads, the model's
  weights, the code version and the tile. Names the tile's folder under ``tiles/``.
- :func:`run_key`: the dataset's name and key, every tile key and the region.

The name is in the dataset key on purpose: two datasets made from the same files are two
datasets, and each answers with its own runs.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "SHAPEFILE_SIDECARS",
    "code_version",
    "dataset_key",
    "digest",
    "input_files",
    "run_key",
    "sha256_files",
    "tile_key",
]

SHAPEFILE_SIDECARS = (".dbf", ".shx", ".prj", ".cpg", ".qix", ".sbn", ".sbx")
"""Files beside a ``.shp`` that change what is read: attributes (velocities live in the
``.dbf``), index, CRS, encoding."""

# config parts that cannot change a number: how ingest batches and parallelises its reading
_INGEST_IGNORED = {"ingest": ("batch_rows", "workers")}
# config sections the tile chain never reads (ingest and timeseries act through the dataset key)
_TILE_IGNORED = ("seed", "crs", "ingest", "timeseries", "synthetic", "validate")


def sha256_files(*paths: str | Path) -> str:
    """Hex sha256 of the files' bytes, one after the other (one path: that file's hash).

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"abc")
    >>> sha256_files(f.name)[:16]
    'ba7816bf8f01cfea'
    >>> os.unlink(f.name)
    """
    digest_ = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            while block := f.read(1 << 22):
                digest_.update(block)
    return digest_.hexdigest()


def digest(obj: Any) -> str:
    """sha256 of ``obj`` as canonical JSON (sorted keys, no spaces; tuples as lists).

    Examples
    --------
    >>> digest({"b": 1, "a": (2, 3)}) == digest({"a": [2, 3], "b": 1})
    True
    """
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def input_files(path: str | Path) -> list[Path]:
    """The files one input path stands for: itself, and a shapefile's sidecars that exist.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> for name in ("a.shp", "a.dbf", "a.prj", "b.dbf"):
    ...     _ = (d / name).write_bytes(b"")
    >>> [p.name for p in input_files(d / "a.shp")]
    ['a.shp', 'a.dbf', 'a.prj']
    """
    path = Path(path)
    if path.suffix.lower() != ".shp":
        return [path]
    siblings = {p.suffix.lower(): p for p in path.parent.glob(f"{_glob_escape(path.stem)}.*")}
    return [path] + [siblings[s] for s in SHAPEFILE_SIDECARS if s in siblings]


@functools.cache
def code_version() -> str:
    """The engine's version and a hash of its source: any change of code changes keys."""
    from engine import __version__

    root = Path(__file__).resolve().parent
    files = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return f"{__version__}+{h.hexdigest()[:16]}"


def dataset_key(
    *,
    name: str,
    file_hashes: Sequence[str],
    options: Mapping[str, Any],
    config: Any,
    crs: str,
) -> str:
    """Key of a dataset's points: everything that can change them.

    ``file_hashes`` are per input (in the order given: a reordering may change point ids);
    ``options`` the user's ingest options (units, geometry, column mapping, CRS flags);
    ``config`` the :class:`~engine.config.RunConfig` the ingest ran with; ``crs`` the run CRS.
    """
    return digest({
        "kind": "dataset", "name": name, "files": list(file_hashes),
        "options": dict(options), "config": _config_part(config, ("ingest", "timeseries", "grid")),
        "crs": crs, "code": code_version(),
    })  # fmt: skip


def tile_key(*, dataset_key: str, config: Any, model_hash: str, tile: Sequence[Any]) -> str:
    """Key of one tile's outputs: its dataset, the chain's config, the model and the tile."""
    data = json.loads(config.model_dump_json(by_alias=True))
    sections = {k: v for k, v in data.items() if k not in _TILE_IGNORED}
    return digest({
        "kind": "tile", "dataset": dataset_key, "config": sections, "model": model_hash,
        "code": code_version(), "tile": list(tile),
    })  # fmt: skip


def run_key(*, dataset: str, dataset_key: str, tile_keys: Iterable[str], region: str | None) -> str:
    """Key of a run: its dataset, its tiles (order-free) and the region it keeps sites in."""
    return digest({
        "kind": "run", "dataset": dataset, "dataset_key": dataset_key,
        "tiles": sorted(tile_keys), "region": region,
    })  # fmt: skip


def _config_part(config: Any, sections: Sequence[str]) -> dict[str, Any]:
    data = json.loads(config.model_dump_json(by_alias=True))
    part = {s: data[s] for s in sections}
    for section, fields in _INGEST_IGNORED.items():
        if section in part:
            part[section] = {k: v for k, v in part[section].items() if k not in fields}
    part["crs"] = data["crs"]
    return part


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
