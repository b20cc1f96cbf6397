"""Training-set builder: many samples, written as shards plus a manifest.

Layout of a build folder::

    manifest.json            seed, kind, config, shard files with sha256, one row per sample
    labels-00000.npy         uint8 (n,)          1 = D+T, 0 = T
    sparse-00000.npy         float16 (n, s, s)   raw observations, NaN = no scatterer
    delaunay-00000.npy       float16 (n, s, s)   Delaunay on the median-filtered points
    mc-00000.npy             float16 (n, s, s)   matrix completion (the chain's default)
    truth-00000.npy          uint8 (n, s·s/8)    per-pixel truth mask, np.packbits
    context_mc-00000.npy     float16 (n, c, c)   with ``context``: the whole canvas, MC
    context_observed-….npy   uint8 (n, c·c/8)    and its observed pixels, np.packbits
    context_residual-….npy   float16 (n, c, c)   and observations − MC there (0 elsewhere)

Which of sparse/delaunay/mc are written is the build's ``versions`` (Delaunay, the slowest
step, is only computed when asked for).

Every sample has its own generator, ``SeedSequence(seed, spawn_key=(index,))``, and the
labels are a permutation drawn from ``SeedSequence(seed)``; so a build depends only on the
seed, the config and the mask source — not on the number of workers — and the same seed
gives byte-identical files. float16 keeps ~3 significant digits (0.01 mm/yr at 15 mm/yr),
far below the noise, at half the size. Everything is written into a temporary sibling
folder that is renamed into place at the end, so a folder with a manifest is complete.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.config import RunConfig
from engine.errors import InputError
from engine.hashing import sha256_files
from engine.lifetime import end_with_driver
from engine.synthetic._sample import (
    KINDS,
    MARGIN_PX,
    VERSIONS,
    MaskSampler,
    Sample,
    make_sample,
)

__all__ = [
    "SyntheticDataset",
    "build_dataset",
    "generate_samples",
    "open_dataset",
    "sample_labels",
    "sample_rng",
]

FORMAT = 2
_CHUNK = 8  # samples per task: small enough for a smooth progress bar

Progress = Callable[[int, int], None]
_worker_state: dict[str, Any] = {}


@dataclass(frozen=True)
class _Plan:
    kind: str
    seed: int
    config: RunConfig
    masks: MaskSampler | None
    versions: tuple[str, ...] = VERSIONS
    context: bool = False
    references: bool = False


def sample_labels(kind: str, n: int, seed: int) -> NDArray[np.uint8]:
    """Balanced labels (half positive, shuffled by ``seed``); all zero for ``kind='none'``.

    Examples
    --------
    >>> sample_labels("point", 6, 0).sum(), sample_labels("none", 6, 0).sum()
    (np.uint64(3), np.uint64(0))
    """
    labels = np.zeros(n, dtype=np.uint8)
    if kind != "none":
        order = np.random.default_rng(np.random.SeedSequence(seed)).permutation(n)
        labels[order[: n // 2 + n % 2]] = 1
    return labels


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` of a build seeded with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


def build_dataset(
    out: str | Path,
    *,
    kind: str,
    n: int,
    seed: int,
    config: RunConfig = RunConfig(),
    masks: MaskSampler | None = None,
    workers: int = 1,
    shard_size: int = 500,
    versions: tuple[str, ...] = VERSIONS,
    context: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Generate ``n`` samples of ``kind`` into the new folder ``out``; returns the manifest.

    Parameters
    ----------
    out
        Folder to create; it must not exist or be empty.
    kind
        ``"point"`` or ``"tunnel"`` (balanced: half D+T, half T) or ``"none"`` (all T).
    n, seed
        Number of samples and the seed of the whole build.
    config
        Ranges (``synthetic``), pixel size, patch size and the chain's parameters.
    masks
        Real scatterer masks and noise (:class:`engine.synthetic.RealMasks`); ``None`` =
        generated clustered masks and nugget noise.
    workers
        Processes; 0 = one per CPU, 1 = this process.
    shard_size
        Samples per shard file.
    versions
        Which patch inputs to write (Table I's sparse, delaunay, mc).
    context
        Also write the whole canvas (matrix completion and observed pixels): the default
        detector's training input.
    progress
        ``progress(done, total)`` after every few samples.

    Raises
    ------
    InputError
        If ``out`` is a non-empty folder or a file, or ``kind``/``n`` is invalid.
    """
    out = Path(out)
    if kind not in KINDS:
        raise InputError("--kind", f"{kind!r} is not a sample kind", " | ".join(KINDS))
    if n < 1 or shard_size < 1:
        raise InputError("--n", f"{n} samples in shards of {shard_size}", "positive numbers")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(str(out), "exists and is not an empty folder", "a new folder")
    if not versions or set(versions) - set(VERSIONS):
        raise InputError("--versions", f"{versions}", " and ".join(VERSIONS))
    plan = _Plan(kind, seed, config, masks, tuple(versions), context)
    labels = sample_labels(kind, n, seed)
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        records: list[dict[str, Any]] = []
        shards: list[dict[str, Any]] = []
        buffer: list[Sample] = []
        done = 0
        for chunk in generate_samples(
            kind, labels, seed, config=config, masks=masks, workers=workers, versions=versions
        ):
            for sample in chunk:
                buffer.append(sample)
                records.append(sample.record.to_dict())
                if len(buffer) == shard_size:
                    shards.append(_write_shard(partial, len(shards), buffer, plan))
                    buffer = []
            done += len(chunk)
            if progress is not None:
                progress(done, n)
        if buffer:
            shards.append(_write_shard(partial, len(shards), buffer, plan))
        manifest = _manifest(plan, n, shard_size, masks, shards, records)
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        if out.exists():
            out.rmdir()
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def generate_samples(
    kind: str,
    labels: NDArray[np.uint8],
    seed: int,
    *,
    config: RunConfig = RunConfig(),
    masks: MaskSampler | None = None,
    workers: int = 1,
    versions: tuple[str, ...] = VERSIONS,
    references: bool = False,
) -> Iterator[list[Sample]]:
    """Samples ``0 … len(labels) − 1`` of a build, in order, in chunks of a few.

    Sample ``i`` gets label ``labels[i]`` and the generator :func:`sample_rng` (seed, i),
    so the output does not depend on ``workers`` (0 = one per CPU, 1 = this process).
    """
    plan = _Plan(kind, seed, config, masks, tuple(versions), references=references)
    workers = workers or os.cpu_count() or 1
    chunks = [
        [(i, int(labels[i])) for i in range(start, min(start + _CHUNK, labels.size))]
        for start in range(0, labels.size, _CHUNK)
    ]
    if workers <= 1 or len(chunks) == 1:
        _init_worker(plan)
        for chunk in chunks:
            yield _make_chunk(chunk)
        return
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["engine.synthetic._build"])
    with ProcessPoolExecutor(
        min(workers, len(chunks)),
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(plan, os.getpid()),
    ) as pool:
        yield from pool.map(_make_chunk, chunks)


def _init_worker(plan: _Plan, driver_pid: int | None = None) -> None:
    _worker_state["plan"] = plan
    if driver_pid is not None:  # a pool worker: end with the build that started it
        end_with_driver(driver_pid)


def _make_chunk(chunk: list[tuple[int, int]]) -> list[Sample]:
    plan: _Plan = _worker_state["plan"]
    return [
        make_sample(
            index,
            kind=plan.kind,
            label=label,
            rng=sample_rng(plan.seed, index),
            config=plan.config,
            masks=plan.masks,
            versions=plan.versions,
            references=plan.references,
        )
        for index, label in chunk
    ]


def _write_shard(folder: Path, number: int, samples: list[Sample], plan: _Plan) -> dict[str, Any]:
    arrays: dict[str, NDArray] = {
        "labels": np.array([s.record.label for s in samples], dtype=np.uint8),
        "truth": np.stack([np.packbits(s.truth.ravel()) for s in samples]),
    }
    for version in plan.versions:
        arrays[version] = np.stack([getattr(s, version) for s in samples]).astype(np.float16)
    if plan.context:
        arrays["context_mc"] = np.stack([s.context_mc for s in samples]).astype(np.float16)
        arrays["context_observed"] = np.stack(
            [np.packbits(s.context_observed.ravel()) for s in samples]
        )
        arrays["context_residual"] = np.stack([s.context_residual for s in samples]).astype(
            np.float16
        )
    files = {}
    for key, array in arrays.items():
        name = f"{key}-{number:05d}.npy"
        np.save(folder / name, array, allow_pickle=False)
        files[key] = {"file": name, "sha256": sha256_files(folder / name)}
    return {"count": len(samples), "first": samples[0].record.index, "files": files}


def _manifest(
    plan: _Plan,
    n: int,
    shard_size: int,
    masks: MaskSampler | None,
    shards: list[dict[str, Any]],
    records: list[dict[str, Any]],
) -> dict[str, Any]:
    from engine import __version__

    c = plan.config
    return {
        "format": FORMAT,
        "engine_version": __version__,
        "kind": plan.kind,
        "n": n,
        "positives": sum(r["label"] for r in records),
        "seed": plan.seed,
        "patch_px": c.model.patch_size_px,
        "pixel_size_m": c.grid.pixel_size_m,
        "versions": list(plan.versions),
        "context": plan.context,
        "margin_px": MARGIN_PX,
        "mask_source": None if masks is None else masks.name,
        "shard_size": shard_size,
        "config": {
            "synthetic": c.synthetic.model_dump(mode="json"),
            "denoise": c.denoise.model_dump(mode="json"),
            "interpolate": c.interpolate.model_dump(mode="json"),
        },
        "shards": shards,
        "samples": records,
    }


@dataclass(frozen=True)
class SyntheticDataset:
    """A finished build: its manifest and lazy access to the arrays."""

    path: Path
    manifest: dict[str, Any]

    @property
    def labels(self) -> NDArray[np.uint8]:
        return np.concatenate(
            [np.load(self.path / s["files"]["labels"]["file"]) for s in self.manifest["shards"]]
        )

    def shards(self, version: str) -> Iterator[NDArray[np.float16]]:
        """Each shard of one version, memory-mapped, in sample order."""
        if version not in self.manifest["versions"]:
            raise ValueError(f"version must be one of {self.manifest['versions']}")
        for shard in self.manifest["shards"]:
            yield np.load(self.path / shard["files"][version]["file"], mmap_mode="r")

    def load(self, version: str) -> NDArray[np.float32]:
        """All samples of one version as float32 ``(n, s, s)``."""
        return np.concatenate([np.asarray(a, dtype=np.float32) for a in self.shards(version)])

    def truth(self) -> NDArray[np.bool_]:
        """The per-pixel truth masks of the patches, ``(n, s, s)``."""
        s = self.manifest["patch_px"]
        return self._unpack("truth", s)

    def residual(self) -> NDArray[np.float16] | None:
        """The canvases' observations − MC ``(n, c, c)``; None for builds made before it."""
        if not self.manifest.get("context") or "context_residual" not in self._shards[0]["files"]:
            return None
        return np.concatenate([np.load(self._file(sh, "context_residual")) for sh in self._shards])

    def context(self) -> tuple[NDArray[np.float16], NDArray[np.bool_]]:
        """The canvases: matrix completion ``(n, c, c)`` float16 and the observed pixels."""
        if not self.manifest.get("context"):
            raise ValueError(f"{self.path} was built without --context")
        mc = np.concatenate([np.load(self._file(sh, "context_mc")) for sh in self._shards])
        return mc, self._unpack("context_observed", mc.shape[-1])

    @property
    def _shards(self) -> list[dict[str, Any]]:
        return self.manifest["shards"]

    def _file(self, shard: dict[str, Any], key: str) -> Path:
        return self.path / shard["files"][key]["file"]

    def _unpack(self, key: str, side: int) -> NDArray[np.bool_]:
        packed = np.concatenate([np.load(self._file(sh, key)) for sh in self._shards])
        bits = np.unpackbits(packed, axis=1, count=side * side)
        return bits.reshape(-1, side, side).astype(bool)


def open_dataset(path: str | Path, *, verify: bool = False) -> SyntheticDataset:
    """Open a build folder; ``verify`` checks every file against its sha256.

    Raises
    ------
    InputError
        If there is no readable manifest, its format is unknown, or a file fails the check.
    """
    path = Path(path)
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputError(str(path), f"no readable manifest.json ({exc})", "a synth build") from None
    if manifest.get("format") != FORMAT:
        raise InputError(str(path / "manifest.json"), "unknown format", f"format {FORMAT}")
    if verify:
        for shard in manifest["shards"]:
            for entry in shard["files"].values():
                if sha256_files(path / entry["file"]) != entry["sha256"]:
                    raise InputError(str(path / entry["file"]), "sha256 mismatch", "the manifest's")
    return SyntheticDataset(path, manifest)
