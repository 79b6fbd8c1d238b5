"""refine's arithmetic (spawn_tf/refine.py): the spacing, the rounding, the choice of parameters, the new rows and their names."""

from __future__ import annotations

import pytest

from spawn_tf.errors import SpawnError
from spawn_tf.refine import (
    Axis,
    Choice,
    SourceRun,
    Spacing,
    around,
    auto_spacing,
    axes,
    identity,
    name_template,
    offsets,
    parse_choice,
    refine_document,
    refine_runs,
    shortest,
    spaced,
)

LINEAR, LOG = Spacing.LINEAR, Spacing.LOG


def test_offsets_run_from_minus_one_to_one_with_an_exact_middle() -> None:
    assert offsets(5) == (-1.0, -0.5, 0.0, 0.5, 1.0)
    assert offsets(4) == (-1.0, -1 / 3, 1 / 3, 1.0)
    assert offsets(2) == (-1.0, 1.0)
    with pytest.raises(ValueError):
        offsets(1)


def test_linear_and_log_reach_equally_far_down() -> None:
    assert spaced(0.001, LINEAR, 0.5, 5) == (0.0005, 0.00075, 0.001, 0.00125, 0.0015)
    low, _, middle, _, high = spaced(0.001, LOG, 0.5, 5)
    assert (low, middle, high) == (pytest.approx(0.0005), 0.001, pytest.approx(0.002))  # a factor 1/(1-F) = 2 each way
    with pytest.raises(ValueError):
        spaced(0.001, LINEAR, 1.0, 5)


def test_the_how_tos_fine_points_and_their_log_counterpart() -> None:
    assert around(0.001, LINEAR, 0.5, 5, integer=False, positive=True) == (0.0005, 0.00075, 0.001, 0.00125, 0.0015)
    assert around(0.001, LOG, 0.5, 5, integer=False, positive=True) == (0.0005, 0.0007, 0.001, 0.0014, 0.002)
    assert around(0.001, LOG, 0.9, 5, integer=False, positive=True) == (0.0001, 0.00032, 0.001, 0.0032, 0.01)  # a decade each way


def test_rounding_leaves_no_float_noise_and_keeps_the_spacing() -> None:
    assert spaced(0.3, LINEAR, 0.5, 5)[1] == 0.22499999999999998  # what the arithmetic gives ...
    assert around(0.3, LINEAR, 0.5, 5, integer=False, positive=True) == (0.15, 0.225, 0.3, 0.375, 0.45)  # ... and what is written
    assert spaced(0.2, LINEAR, 0.5, 5)[1] == 0.15000000000000002
    assert around(0.2, LINEAR, 0.5, 5, integer=False, positive=True) == (0.1, 0.15, 0.2, 0.25, 0.3)
    # A narrow spread keeps the digits it needs: no two points merge.
    assert around(0.001, LINEAR, 0.001, 5, integer=False, positive=True) == (0.000999, 0.0009995, 0.001, 0.0010005, 0.001001)
    assert around(0.1, LINEAR, 0.3, 4, integer=False, positive=True) == (0.07, 0.09, 0.11, 0.13)


def test_the_best_value_is_kept_exactly() -> None:
    assert around(0.00123456, LINEAR, 0.5, 3, integer=False, positive=True) == (0.0006, 0.00123456, 0.00185)


def test_shortest() -> None:
    assert shortest(0.0007500000000001, 1e-6) == 0.00075
    assert shortest(0.1 + 0.2, 1e-9) == 0.3
    assert shortest(0.0007500000000001, 0) == 0.0007500000000001
    assert shortest(123456.0, 1000) == 123000.0


def test_integers_stay_integers_and_positive_values_positive() -> None:
    assert around(64, LINEAR, 0.5, 5, integer=True, positive=True) == (32, 48, 64, 80, 96)
    assert around(64, LOG, 0.5, 5, integer=True, positive=True) == (32, 45, 64, 91, 128)
    assert all(type(value) is int for value in around(64, LOG, 0.5, 5, integer=True, positive=True))
    assert around(1, LINEAR, 0.5, 5, integer=True, positive=True) == (1, 2)  # 0.5 rounds to 0: left out
    assert around(1, LINEAR, 0.5, 5, integer=True, positive=False) == (0, 1, 2)
    assert around(-1, LINEAR, 0.5, 3, integer=False, positive=False) == (-1.5, -1, -0.5)


def test_auto_spacing_is_log_beyond_two_decades() -> None:
    assert auto_spacing([0.0001, 0.001, 0.01, 0.1]) is LOG
    assert auto_spacing([0.001, 0.1]) is LINEAR  # exactly two decades
    assert auto_spacing([0.1, 0.4]) is LINEAR
    assert auto_spacing([-1, 1000]) is LINEAR
    assert auto_spacing([0, 1000]) is LINEAR


def test_parse_choice() -> None:
    assert parse_choice("learning_rate") == Choice("learning_rate")
    assert parse_choice("learning_rate:log") == Choice("learning_rate", LOG)
    assert parse_choice("dropout:linear") == Choice("dropout", LINEAR)
    for bad in ("lr:lin", ":log", "", "lr:"):
        with pytest.raises(SpawnError, match="is not NAME, NAME:log or NAME:linear"):
            parse_choice(bad)


def source(*rows: dict) -> list[SourceRun]:
    """Runs of these rows (no defaults): their parameters are the rows' keys but settings, `param:` escapes undone."""
    return [SourceRun(name=f"r{i}", params={k.removeprefix("param:"): v for k, v in row.items() if k not in ("name", "region")}, row=row)
            for i, row in enumerate(rows)]  # fmt: skip


def test_axes_by_default_every_numeric_parameter_that_varies() -> None:
    runs = source({"lr": 0.0001, "bs": 32, "opt": "adam", "flag": True}, {"lr": 0.1, "bs": 64, "opt": "sgd", "flag": False})
    assert axes(runs, runs[:1], []) == (Axis(name="lr", spacing=LOG, integer=False, positive=True),
                                        Axis(name="bs", spacing=LINEAR, integer=True, positive=True))  # fmt: skip
    assert axes(runs, runs[:1], [Choice("lr", LINEAR)]) == (Axis(name="lr", spacing=LINEAR, integer=False, positive=True),)
    with pytest.raises(SpawnError, match=r"parameter 'opt' is \"adam\" in run r0, not a number"):
        axes(runs, runs[:1], [Choice("opt")])
    with pytest.raises(SpawnError, match="parameter 'flag' is true in run r0, not a number"):
        axes(runs, runs[:1], [Choice("flag")])
    with pytest.raises(SpawnError, match="no numeric parameter varies"):
        axes(runs[:1], runs[:1], [])
    partial = source({"lr": 0.1}, {"lr": 0.2, "depth": 3}, {"lr": 0.3, "depth": 4})  # the top run has no depth: not varied by default
    assert [axis.name for axis in axes(partial, partial[:1], [])] == ["lr"]
    mixed = source({"x": 1}, {"x": 2.5})
    assert axes(mixed, mixed[:1], [])[0].integer is False


def test_rows_keep_the_top_runs_own_keys_and_leave_out_points_already_run() -> None:
    runs = source({"name": "a", "param:ttl_hours": 2, "lr": 0.2, "region": "eu-west-1"}, {"name": "b", "param:ttl_hours": 2, "lr": 0.3})
    chosen = (Axis(name="lr", spacing=LINEAR, integer=False, positive=True),)
    refined = refine_runs(runs, runs[:1], chosen, {}, spread=0.5, points=5)
    assert refined.rows == ({"param:ttl_hours": 2, "lr": 0.1, "region": "eu-west-1"}, {"param:ttl_hours": 2, "lr": 0.15, "region": "eu-west-1"},
                            {"param:ttl_hours": 2, "lr": 0.25, "region": "eu-west-1"})  # fmt: skip
    assert refined.already_run == 2  # a (itself) and b (0.3)
    both = refine_runs(runs, runs, chosen, {}, spread=0.5, points=5)
    assert [row["lr"] for row in both.rows] == [0.1, 0.15, 0.25, 0.225, 0.375, 0.45]  # 0.15 once
    assert both.already_run == 2


def test_a_parameter_written_as_an_escape_in_defaults_keeps_it() -> None:
    runs = [SourceRun(name="a", params={"ttl_hours": 2, "lr": 0.2}, row={"lr": 0.2})]
    chosen = (Axis(name="ttl_hours", spacing=LINEAR, integer=True, positive=True),)
    assert refine_runs(runs, runs, chosen, {"param:ttl_hours": 2}, spread=0.5, points=3).rows == ({"lr": 0.2, "param:ttl_hours": 1},
                                                                                                 {"lr": 0.2, "param:ttl_hours": 3})  # fmt: skip


def test_identity_compares_numbers_by_value() -> None:
    assert identity({"a": 1, "b": "x"}) == identity({"b": "x", "a": 1.0})
    assert identity({"a": 1}) != identity({"a": "1"})


def test_name_template() -> None:
    runs = source({"learning_rate": 0.001, "batch_size": 32, "model-name": "m"}, {"learning_rate": 0.01, "batch_size": 32, "model-name": "n"})
    lr = (Axis(name="learning_rate", spacing=LOG, integer=False, positive=True),)
    new = [{"learning_rate": 0.0005, "batch_size": 32, "model-name": "m"}, {"learning_rate": 0.002, "batch_size": 32, "model-name": "m"}]
    assert name_template(None, runs, lr, new) == "fine-lr-{learning_rate}"
    assert name_template("run-{learning_rate}", runs, lr, new) == "run-{learning_rate}"
    assert name_template("run-{index}", runs, lr, new) == "run-{index}"
    assert name_template("bs-{batch_size}", runs, lr, new) == "fine-lr-{learning_rate}"  # the source's does not tell them apart
    other = [{**new[0], "model-name": "n"}, new[1]]  # runs around two top runs: the model differs too
    assert name_template(None, runs, lr, other) == "fine-lr-{learning_rate}-mn-{model-name}"
    clash = source({"learning_rate": 0.1, "layer_ratio": 2}, {"learning_rate": 0.2, "layer_ratio": 3})
    axes_ = (Axis(name="learning_rate", spacing=LINEAR, integer=False, positive=True), Axis(name="layer_ratio", spacing=LINEAR, integer=True,
                                                                                             positive=True))  # fmt: skip
    assert name_template(None, clash, axes_, [{"learning_rate": 0.1, "layer_ratio": 1}]) == "fine-learning_rate-{learning_rate}-layer_ratio-{layer_ratio}"


def test_refine_document_keeps_the_sweeps_settings_and_rewrites_the_runs() -> None:
    document = {"sweep": "coarse", "results": "s3://b/p", "regions": ["us-east-1"], "ttl": "2h", "defaults": {"spot": True},
                "grid": {"lr": [1, 2]}, "name_template": "x-{lr}", "early_stopping": {"metric": "loss", "mode": "min"}}  # fmt: skip
    written = refine_document(document, {"ttl": "2h", "spot": True}, "fine-lr-{lr}", [{"lr": 1.5}], "coarse-fine")
    assert written == {"sweep": "coarse-fine", "results": "s3://b/p", "regions": ["us-east-1"], "early_stopping": {"metric": "loss", "mode": "min"},
                       "defaults": {"ttl": "2h", "spot": True}, "name_template": "fine-lr-{lr}", "params": [{"lr": 1.5}]}  # fmt: skip
    assert list(written) == ["sweep", "results", "regions", "early_stopping", "defaults", "name_template", "params"]
