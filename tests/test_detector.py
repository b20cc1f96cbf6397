"""The default detector: mixed training data, GroundSeg, device augmentation, references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.detect import segment_map
from engine.detector import GroundSeg, encode_context
from engine.model import for_inference
from engine.references import Whitener, oracle_statistic
from engine.synthetic import build_dataset, make_sample, open_dataset, truth_mask
from engine.train import DetectorOptions, train_detector
from engine.train._augment import dihedral, wrap_batch
from engine.wrap import wrap


def _random_batch_norms(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) * 2 - 1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return model.eval()


def test_truth_mask_by_hand():
    los = np.array([[0.0, 0.9, 1.2], [-3.0, -8.0, 2.9]])
    # peak −8: 0.3·8 = 2.4 mm/yr beats the 1 mm/yr floor
    np.testing.assert_array_equal(truth_mask(los, -8.0), [[0, 0, 0], [1, 1, 1]])
    # peak 2: the floor (1 mm/yr) beats 0.6
    np.testing.assert_array_equal(truth_mask(los, 2.0), [[0, 0, 1], [1, 1, 1]])


def test_mixed_samples_carry_every_kind_their_truth_and_hard_negatives():
    kinds, hard = set(), set()
    for i in range(24):
        s = make_sample(i, kind="mixed", label=i % 2, rng=np.random.default_rng(100 + i),
                        versions=("mc",))  # fmt: skip
        r = s.record
        assert s.context_mc.shape == (320, 320) and s.truth.shape == (224, 224)
        assert np.isfinite(s.context_mc).all()
        if r.label:
            kinds.add(r.source)
            assert r.truth_pixels == s.truth.sum() > 0
            assert 1.0 <= abs(r.los_peak_mm_yr) <= 15.0 + 1e-9
            assert r.deforming_points >= 4
        else:
            assert r.source == "none" and not s.truth.any()
        hard.update(h for h in r.hard_negatives.split("+") if h)
    assert kinds >= {"mining", "landslide"} and len(kinds) >= 4
    assert hard == {"spikes", "edge", "sparse"}


def test_landcover_masks_give_rural_samples_without_a_drawn_sparse_field():
    from engine.scenes import LandcoverMasks

    records = [make_sample(i, kind="mixed", label=i % 2, rng=np.random.default_rng(300 + i),
                           versions=("mc",), masks=LandcoverMasks()).record
               for i in range(12)]  # fmt: skip
    assert all(r.mask.startswith("landcover:") for r in records)
    assert all("sparse" not in r.hard_negatives for r in records)
    # fields at 0.5–1.5 % dominate; generated masks start at 2 %
    assert np.median([r.density for r in records]) < 0.04
    assert all(r.deforming_points >= 4 for r in records if r.label)


def test_point_sources_follow_the_decided_scale():
    depths = [make_sample(i, kind="point", label=1, rng=np.random.default_rng(i),
                          versions=("mc",)).record.depth_m for i in range(12)]  # fmt: skip
    assert all(30.0 <= d <= 800.0 for d in depths)
    assert max(depths) > 200.0  # log-uniform over 30–800 m, not the old 3–80 m


def test_context_build_round_trips_truth_and_canvas(tmp_path):
    build_dataset(tmp_path / "b", kind="mixed", n=6, seed=3, versions=("mc",), context=True)
    ds = open_dataset(tmp_path / "b")
    truth = ds.truth()
    mc, observed = ds.context()
    fresh = make_sample(0, kind="mixed", label=int(ds.labels[0]),
                        rng=np.random.default_rng(np.random.SeedSequence(3, spawn_key=(0,))),
                        versions=("mc",))  # fmt: skip
    np.testing.assert_array_equal(truth[0], fresh.truth)
    np.testing.assert_array_equal(observed[0], fresh.context_observed)
    np.testing.assert_allclose(mc[0], fresh.context_mc, atol=0.01)  # float16 storage
    np.testing.assert_allclose(ds.residual()[0], fresh.context_residual, atol=0.01)
    assert (fresh.context_residual[~fresh.context_observed] == 0).all()
    assert ds.manifest["positives"] == int(ds.labels.sum()) == 3


def test_groundseg_is_blind_to_a_constant_offset():
    net = _random_batch_norms(GroundSeg())
    x = torch.randn(2, 3, 160, 160)
    y = x.clone()
    y[:, 0] += 5.0  # 20 mm/yr
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(y), atol=1e-5, rtol=0)


def test_residual_detector_is_blind_to_the_reference_offset_of_the_observations():
    net = for_inference(_random_batch_norms(GroundSeg(in_channels=4), seed=3))
    rng = np.random.default_rng(1)
    observations = np.where(rng.random((200, 200)) < 0.05, rng.normal(0, 3, (200, 200)), np.nan)
    velocity = rng.normal(0, 1, (200, 200)).astype(np.float32)  # stands in for the MC map
    seen = np.isfinite(observations)
    base = segment_map(velocity, seen, net, observations=observations).pixel_probability
    moved = segment_map(velocity + 20.0, seen, net, observations=observations + 20.0)
    np.testing.assert_allclose(moved.pixel_probability, base, atol=1e-5)
    residual = np.nan_to_num(observations - velocity)
    stem = GroundSeg(in_channels=4).stem[0]
    with torch.no_grad():  # the residual is read, not cancelled like a velocity offset
        z = [stem(torch.from_numpy(encode_context(velocity, seen, r))[None])
             for r in (residual, residual + 5.0 * seen)]  # fmt: skip
    assert (z[0] - z[1]).abs().max() > 0.1
    with pytest.raises(ValueError, match="residual"):
        segment_map(velocity, seen, net)


def test_a_widened_detector_starts_as_the_one_it_was_initialised_from(tmp_path):
    from engine.model import save_model
    from engine.train._detector import _load_widened

    old = _random_batch_norms(GroundSeg(), seed=4)
    save_model(old, tmp_path / "old", {"architecture": "groundseg"})
    new = GroundSeg(in_channels=4)
    _load_widened(new, old)
    x = torch.randn(2, 4, 160, 160)
    with torch.no_grad():
        torch.testing.assert_close(new.eval()(x), old(x[:, :3]), atol=1e-6, rtol=0)


def test_folded_network_equals_the_unfolded_one():
    net = _random_batch_norms(GroundSeg(), seed=1)
    x = torch.randn(2, 3, 200, 200)
    with torch.no_grad():
        torch.testing.assert_close(for_inference(net)(x), net(x), atol=1e-5, rtol=1e-5)


def test_fully_convolutional_map_equals_cut_out_patches():
    """Every 16 px patch of a tile scores exactly as the patch cut out with its context."""
    net = for_inference(_random_batch_norms(GroundSeg(), seed=2))
    rng = np.random.default_rng(0)
    v = rng.normal(0.0, 3.0, (480, 512)).astype(np.float32)
    obs = rng.random(v.shape) < 0.3  # dense: the distance channel is local
    tile = segment_map(v, obs, net)
    grid = tile.patch_rho[0]
    assert grid.shape == (11, 13)
    for i, j in [(0, 0), (4, 7), (10, 12)]:
        r0 = int(tile.centre_rows[i] + 0.5) - 112 - 48
        c0 = int(tile.centre_cols[j] + 0.5) - 112 - 48
        x = torch.from_numpy(encode_context(v[r0 : r0 + 320, c0 : c0 + 320],
                                            obs[r0 : r0 + 320, c0 : c0 + 320]))[None]  # fmt: skip
        with torch.no_grad():
            p = torch.sigmoid(net(x).amax()).item()
        assert p == pytest.approx(float(grid[i, j]), abs=1e-5)
    # block by block too; a window one block off is another window
    with torch.no_grad():
        blocks = net(torch.from_numpy(encode_context(v, obs))[None])[0]
        cut = torch.from_numpy(encode_context(v[64:384, 96:416], obs[64:384, 96:416]))[None]
        own = net(cut)[0]
    torch.testing.assert_close(own, blocks[16:72, 24:80], atol=1e-5, rtol=0)
    assert (own - blocks[17:73, 24:80]).abs().max() > 1e-3


def test_device_augmentation_matches_numpy():
    v = torch.from_numpy(np.random.default_rng(0).uniform(-20, 20, (3, 8, 8)).astype(np.float32))
    rho, tau = torch.tensor([14.0, 3.5, 1.75]), torch.tensor([0.0, 1.0, 0.5])
    expected = np.stack([wrap(v[i].numpy(), float(rho[i]), float(tau[i])) for i in range(3)])
    np.testing.assert_allclose(wrap_batch(v, rho, tau).numpy(), expected, atol=2e-3)
    for k in range(8):
        turned = dihedral(v, torch.full((3,), k))
        ref = np.rot90(v.numpy(), k % 4, axes=(-2, -1))
        ref = ref[..., ::-1] if k >= 4 else ref
        np.testing.assert_array_equal(turned.numpy(), ref)


def test_tiny_detector_training_lowers_the_loss(tmp_path):
    build_dataset(tmp_path / "b", kind="point", n=24, seed=4, versions=("mc",), context=True)
    card = train_detector([tmp_path / "b"], out=tmp_path / "w",
                          options=DetectorOptions(epochs=6, batch_size=8, learning_rate=5e-3,
                                                  patience=10, val_fraction=0.2))  # fmt: skip
    losses = [row["train_loss"] for row in card["history"]]
    assert losses[-1] < losses[0]
    assert card["architecture"] == "groundseg" and card["context_px"] == 48
    assert (tmp_path / "w.pt").exists() and card["data"][0]["seed"] == 4
    again = train_detector([tmp_path / "b"], out=tmp_path / "w2",
                           options=DetectorOptions(epochs=1, batch_size=8, val_fraction=0.2,
                                                   init=str(tmp_path / "w")))  # fmt: skip
    assert again["initialised_from"]["sha256"] == card["sha256"]
    assert again["initialised_from"]["history"] == card["history"]


def test_oracle_statistic_hand_case_white_noise():
    """With no atmosphere the oracle is sᵀy/σ² over |s|/σ: d′ = |s|/σ."""
    rows, cols = np.array([1.0, 4.0, 7.0, 9.0]), np.array([2.0, 2.0, 8.0, 5.0])
    w = Whitener.for_points(rows, cols, (10, 10), a_mm2_yr2=1e-12, b_per_km=1.0,
                            nugget_mm2_yr2=4.0, pixel_size_m=10.0)  # fmt: skip
    s = np.array([3.0, 0.0, 4.0, 0.0])
    y = np.array([1.0, 5.0, 2.0, -1.0])
    t, d = oracle_statistic(s, y, w)
    assert d == pytest.approx(5.0 / 2.0, rel=1e-6)
    assert t == pytest.approx((3.0 + 8.0) / 4.0 / 2.5, rel=1e-6)


def test_whitener_equals_a_dense_solve():
    """Woodbury's C⁻¹y equals the dense inverse of W K Wᵀ + ν I."""
    rng = np.random.default_rng(1)
    rows, cols = rng.uniform(0, 40, 60), rng.uniform(0, 40, 60)
    w = Whitener.for_points(rows, cols, (41, 41), a_mm2_yr2=1.3, b_per_km=1.2,
                            nugget_mm2_yr2=0.5, pixel_size_m=10.0)  # fmt: skip
    weights = w.weights.toarray()
    dense = weights @ w.covariance @ weights.T + w.nugget * np.eye(60)
    y = rng.normal(size=60)
    np.testing.assert_allclose(w.solve(y), np.linalg.solve(dense, y), rtol=1e-8, atol=1e-10)
    # the nugget absorbs the variance the 16 px nodes miss
    assert w.nugget == pytest.approx(0.5 + 1.3 * (1 - math.exp(-1.2 * 0.16)))
