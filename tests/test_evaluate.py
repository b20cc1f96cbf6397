"""Table I evaluation with the shipped weights (§IV-A)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.cli import main
from engine.errors import InputError
from engine.evaluate import classification_rates, evaluate, overwrap_probabilities
from engine.model import GroundNet, load_model


def test_classification_rates_by_hand():
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    pred = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0])
    r = classification_rates(truth, pred)
    assert r == {"accuracy": 0.8, "precision": 0.75, "recall": 0.75, "fpr": 1 / 6}


def test_overwrap_probabilities_shape_and_range():
    v = np.random.default_rng(0).normal(0, 3, (3, 224, 224)).astype(np.float32)
    p = overwrap_probabilities(GroundNet().eval(), v, (14.0, 7.0), (0.0, 3.5, 7.0))
    assert p.shape == (3, 2, 3) and ((p > 0) & (p < 1)).all()


def test_shipped_weights_load_and_verify():
    for version in ("sparse", "delaunay", "mc"):
        model, card = load_model(version)
        assert card["input_version"] == version and card["pixel_size_m"] == 10.0
        assert not model.training


def test_evaluate_json_shape_from_the_command_line(capsys):
    argv = ["evaluate", "--n", "6", "--seed", "777", "--workers", "1", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == 6 and result["seed"] == 777 and result["positives"] == 3
    default, paper = result["models"]["default"], result["models"]["paper"]
    assert set(default["rows"]) == {"mc"}
    assert set(paper["rows"]) == {"sparse", "delaunay", "mc"}
    for row in [*paper["rows"].values(), default["rows"]["mc"]]:
        assert set(row) == {"accuracy", "precision", "recall", "fpr"}
        assert all(0.0 <= x <= 1.0 for x in row.values())
    bins = {"1-2", "2-3", "3-5", "5-8", "8-15"}
    assert set(default["recall_by_velocity"]) >= bins and set(paper["recall_by_velocity"]) >= bins
    assert set(default["recall_by_size"]) == {"lt5px", "5-20px", "gt20px"}
    assert "recall_ge3_ge5px" in default and "iou_median" in default
    for name in ("oracle", "scan"):
        ref = result["references"][name]
        assert {"accuracy", "recall_by_velocity"} <= set(ref)


def test_evaluate_on_rural_land_cover_masks():
    from engine.scenes import LandcoverMasks

    plain = evaluate(4, 778, kind="mixed", versions=(), references=False, workers=1)
    rural = evaluate(4, 778, kind="mixed", versions=(), references=False, workers=1,
                     masks=LandcoverMasks())  # fmt: skip
    assert (plain["masks"], rural["masks"]) == ("generated", "landcover")
    assert plain["positives"] == rural["positives"] == 2
    assert set(rural["models"]["default"]["rows"]["mc"]) == {"accuracy", "precision", "recall",
                                                             "fpr"}  # fmt: skip


def test_evaluate_refuses_a_training_seed():
    _, card = load_model("mc")
    seed = card["data"][0]["seed"]
    with pytest.raises(InputError, match="training data"):
        evaluate(4, seed, workers=1)
    seed = load_model("default")[1]["data"][0]["seed"]
    with pytest.raises(InputError, match="training data of the default model"):
        evaluate(4, seed, workers=1, versions=())


def test_table_one_regression_on_a_small_fixed_seed():
    """Today's skill on 24 fresh samples (seed 4242): a change in any model or in the data
    shows up here. Rates are multiples of 1/12 (12 positives, 12 negatives), so the
    tolerance only absorbs rounding, not one sample changing sides."""
    r = evaluate(24, 4242, kind="point", references=False, workers=1)
    rows = {name: m["rows"] for name, m in r["models"].items()}
    expected = {
        "default": {"mc": (0.9583, 1.0, 0.9167, 0.0)},
        "paper": {
            "sparse": (0.4167, 0.25, 0.0833, 0.25),
            "delaunay": (0.5, 0.0, 0.0, 0.0),
            "mc": (0.7917, 0.8889, 0.6667, 0.0833),
        },
    }
    for name, versions in expected.items():
        for version, (acc, prec, rec, fpr) in versions.items():
            got = rows[name][version]
            assert (got["accuracy"], got["precision"], got["recall"], got["fpr"]) == pytest.approx(
                (acc, prec, rec, fpr), abs=1e-3
            ), (name, version)
    assert r["models"]["default"]["iou_median"] == pytest.approx(0.5627, abs=1e-3)
