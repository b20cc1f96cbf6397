"""engine.config: the papers' defaults in one place, YAML round trip, cache keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config import DetectParams, InterpolateParams, RunConfig, load_config
from engine.errors import InputError
from engine.hashing import digest, tile_key


def test_defaults_are_the_papers() -> None:
    c = RunConfig()
    assert c.grid.pixel_size_m == 10 and c.grid.tile_size_px == 2500
    assert c.denoise.median_size_px == 3
    i = c.interpolate
    assert (i.schatten_p, i.gaussian_sigma_px, i.step_lambda_factor) == (0.8, 5.0, 1.1)
    assert (i.alpha0_factor, i.alpha_decay, i.tolerance, i.max_iterations) == (0.9, 0.9, 1e-4, 200)
    assert c.wrap.rho_mm_yr == (14.0, 7.0, 3.5, 1.75)
    assert c.wrap.tau_mm_yr == (0.0, 3.5, 7.0, 10.5)
    assert (c.model.patch_size_px, c.detect.stride_px) == (224, 28)
    assert (c.detect.merge_size_px, c.detect.merge_sigma_px) == (20, 5.0)
    assert c.sites.levels == (0.5, 0.75, 0.9)
    assert c.baseline.thresholds_mm_yr == (3.0, 4.5, 5.0) and c.baseline.dilation_px == 18
    assert c.baseline.min_points == 4 and c.validate_.radius_m == 20
    assert c.synthetic.mogi_depth_m == (30.0, 800.0)
    assert c.synthetic.atmosphere_a_mm2_yr2 == (0.7, 1.8)


def test_yaml_round_trip_and_partial_file(tmp_path: Path) -> None:
    c = RunConfig(seed=7, interpolate=InterpolateParams(schatten_p=0.5))
    assert RunConfig.from_yaml(c.to_yaml()) == c
    f = tmp_path / "run.yaml"
    f.write_text("seed: 3\ninterpolate:\n  max_iterations: 50\n")
    loaded = load_config(f)
    assert loaded.seed == 3 and loaded.interpolate.max_iterations == 50
    assert loaded.interpolate.schatten_p == 0.8


@pytest.mark.parametrize(
    "text,where",
    [
        ("interpolate:\n  schatten_p: 2\n", "interpolate.schatten_p"),
        ("grid:\n  pixel_size: 10\n", "grid.pixel_size"),
        ("- a list\n", "mapping"),
        ("seed: [unclosed\n", "run.yaml"),
    ],
)
def test_bad_config_is_one_line_input_error(tmp_path: Path, text: str, where: str) -> None:
    f = tmp_path / "run.yaml"
    f.write_text(text)
    with pytest.raises(InputError) as info:
        load_config(f)
    assert where in str(info.value) and "\n" not in str(info.value)


def test_tile_key_changes_with_config_and_dataset() -> None:
    base = RunConfig()
    k = tile_key(dataset_key="a", config=base, model_hash="m", tile=(0, 0))
    assert k == tile_key(dataset_key="a", config=RunConfig(), model_hash="m", tile=(0, 0))
    assert k != tile_key(dataset_key="b", config=base, model_hash="m", tile=(0, 0))
    changed = RunConfig(detect=DetectParams(stride_px=14))
    assert k != tile_key(dataset_key="a", config=changed, model_hash="m", tile=(0, 0))
    assert len(k) == 64


@given(st.integers(0, 2**31), st.floats(0.05, 1.0), st.integers(1, 500))
def test_round_trip_property(seed: int, p: float, iters: int) -> None:
    c = RunConfig(seed=seed, interpolate=InterpolateParams(schatten_p=p, max_iterations=iters))
    assert RunConfig.from_yaml(c.to_yaml()) == c
    assert digest(RunConfig.from_yaml(c.to_yaml()).model_dump()) == digest(c.model_dump())
