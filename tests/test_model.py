"""Wrapping (§III-C), the CNN (§II-A), training and the shipped weights' hash check."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.model import (
    GroundNet,
    ModelError,
    build_model,
    encode,
    encode_wrapped,
    for_inference,
    load_model,
    save_model,
)
from engine.synthetic import build_dataset
from engine.train import TrainOptions, train
from engine.wrap import wrap, wrap_stack


@pytest.mark.parametrize("rho", [14.0, 7.0, 3.5, 1.75])
def test_wrap_is_periodic_in_rho_and_offsets_shift_it(rho):
    v = np.random.default_rng(0).uniform(-20, 20, 1000)
    base = wrap(v, rho)
    assert base.min() >= 0 and base.max() < 255
    np.testing.assert_allclose(wrap(v + rho, rho), base, atol=1e-3)
    np.testing.assert_allclose(wrap(v - 3 * rho, rho), base, atol=1e-3)
    for tau in (0.0, 3.5, 7.0, 10.5):
        np.testing.assert_allclose(wrap(v, rho, tau), wrap(v + tau, rho), atol=1e-3)
    # a half-interval offset moves every pixel by half the gray scale
    shifted = wrap(v, rho, rho / 2)
    np.testing.assert_allclose((base + 127.5) % 255, shifted, atol=1e-3)


def test_wrap_hand_values_and_nan():
    np.testing.assert_allclose(
        wrap([0.0, 1.75, 3.5, 5.25, -1.75], 7.0), [0, 63.75, 127.5, 191.25, 191.25]
    )
    out = wrap(np.array([np.nan, 1.0]), 7.0, 3.5)
    assert np.isnan(out[0]) and out[1] == pytest.approx(255 * 4.5 / 7)
    with pytest.raises(ValueError):
        wrap([1.0], 0.0)


def test_wrap_stack_equals_single_wraps():
    v = np.random.default_rng(1).normal(0, 5, (8, 9))
    stack = wrap_stack(v, [14.0, 1.75], [0.0, 10.5])
    for i, rho in enumerate([14.0, 1.75]):
        for j, tau in enumerate([0.0, 10.5]):
            np.testing.assert_array_equal(stack[i, j], wrap(v, rho, tau))


def test_encode_marks_missing_pixels():
    x = encode(np.array([[0.0, np.nan], [255.0, 127.5]]))
    assert x.shape == (1, 2, 2, 2)
    np.testing.assert_allclose(x[0, 0].numpy(), [[-1, 0], [1, 0]])
    np.testing.assert_array_equal(x[0, 1].numpy(), [[1, 0], [1, 1]])


@pytest.mark.parametrize("arch", ["groundnet", "alexnet"])
def test_model_output_shapes(arch):
    net = build_model(arch).eval()
    with torch.no_grad():
        assert net(torch.zeros(2, 2, 224, 224)).shape == (2,)
    if arch == "groundnet":
        with torch.no_grad():
            tile = net.patch_logits(torch.zeros(1, 2, 640, 480))
        assert tile.shape == (1, 640 // 16 - 13, 480 // 16 - 13)


def test_fully_convolutional_scores_equal_cut_out_patches():
    torch.manual_seed(0)
    net = GroundNet().eval()  # unpadded: a patch's logit depends on the patch alone
    x = torch.randn(1, 2, 448, 448) * 10.0  # strong inputs, so that windows differ clearly
    with torch.no_grad():
        tile = net.patch_logits(x)[0]
        for r, c in [(0, 0), (7, 7), (3, 11), (14, 14)]:
            patch = net(x[:, :, 16 * r : 16 * r + 224, 16 * c : 16 * c + 224])
            assert float(tile[r, c]) == pytest.approx(float(patch), abs=1e-6)
        # an off-by-one window (one pixel, or one 16 px step) is another patch
        shifted = net(x[:, :, 113:337, 112:336])
        assert abs(float(tile[7, 7]) - float(shifted)) > 1e-4  # measured 7.6e-3
        assert abs(float(tile[8, 7]) - float(net(x[:, :, 112:336, 112:336]))) > 1e-4  # 9.6e-4


def test_folded_batch_norms_equal_the_unfolded_network():
    torch.manual_seed(1)
    net = GroundNet()
    for m in net.modules():  # non-trivial statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 2)
            m.bias.data.uniform_(-0.5, 0.5)
    net.eval()
    x = torch.randn(2, 2, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(for_inference(net)(x), net(x), atol=1e-4, rtol=1e-4)
        ref = torch.nn.utils.fusion.fuse_conv_bn_eval(net.features[0][0], net.features[0][1])
        folded = for_inference(net).features[0][0]
        torch.testing.assert_close(folded.weight, ref.weight, atol=1e-6, rtol=1e-6)


def test_tiny_training_run_lowers_the_loss_and_saves_a_verified_card(tmp_path):
    build_dataset(tmp_path / "data", kind="point", n=24, seed=9, shard_size=12)
    options = TrainOptions(epochs=3, batch_size=8, learning_rate=3e-3, patience=5, seed=0)
    card = train([tmp_path / "data"], version="mc", out=tmp_path / "w" / "mc", options=options)
    assert card["architecture"] == "groundnet"
    history = card["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert card["data"] == [{"path": str(tmp_path / "data"), "kind": "point", "seed": 9, "n": 24}]
    assert card["samples"] == {"train": 22, "validation": 2}
    model, loaded = load_model(tmp_path / "w" / "mc")
    assert loaded["sha256"] == card["sha256"] and not model.training


def test_load_refuses_weights_that_do_not_match_their_card(tmp_path):
    card = save_model(GroundNet(), tmp_path / "m", {"architecture": "groundnet", "command": "x"})
    load_model(tmp_path / "m")
    (tmp_path / "m.pt").write_bytes((tmp_path / "m.pt").read_bytes() + b"tampered")
    with pytest.raises(ModelError, match="does not match the model card"):
        load_model(tmp_path / "m")
    (tmp_path / "m.json").unlink()
    with pytest.raises(ModelError, match="missing"):
        load_model(tmp_path / "m")
    assert json.dumps(card)


def test_tile_encoding_equals_wrap_then_encode_and_reuses_its_buffer():
    rng = np.random.default_rng(3)
    v = rng.normal(0, 8, (37, 41)).astype(np.float32)
    v[rng.random(v.shape) < 0.3] = np.nan
    first = encode_wrapped(v, 3.5, 7.0)
    np.testing.assert_allclose(first.numpy(), encode(wrap(v, 3.5, 7.0)).numpy(), atol=2e-5)
    buffer = first.permute(0, 2, 3, 1).numpy()
    again = encode_wrapped(v, 1.75, 0.0, out=buffer)
    np.testing.assert_allclose(again.numpy(), encode(wrap(v, 1.75, 0.0)).numpy(), atol=2e-5)
