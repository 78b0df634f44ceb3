"""Comparing runs: their curves from events.jsonl, config differences, what the PNG of
the curves draws (the PNG itself: tests/gui/test_compare_png.py)."""

import pytest

from ftgui.core.compare import (PALETTE, CompareError, check_loss_plot, config_differences,
                                flatten, format_differences, load_runs, loss_series)
from test_export import make_run


@pytest.fixture(scope="module")
def two_runs(tiny_model_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("compare")
    make_run(base / "a", tiny_model_dir, base / "cache",
             training={"max_steps": 6, "logging_steps": 1, "eval_steps": 3})
    make_run(base / "b", tiny_model_dir, base / "cache",
             training={"max_steps": 6, "logging_steps": 1, "learning_rate": 5e-3},
             lora={"r": 4}, model={"method": "lora"})
    return [base / "a", base / "b"]


def test_curves_and_differences(two_runs, tmp_path):
    runs = load_runs(two_runs)
    assert [r.name for r in runs] == ["a", "b"]
    assert [s for s, _ in runs[0].train] == [1, 2, 3, 4, 5, 6]
    assert [s for s, _ in runs[0].eval] == [0, 3, 6]
    assert all(loss > 0 for _, loss in runs[1].train)

    diffs = dict(config_differences(runs))
    assert diffs == {"model.method": ["full", "lora"],
                     "training.learning_rate": [0.001, 0.005],
                     "training.eval_steps": [3, None], "lora.r": [8, 4]}
    text = format_differences(runs, config_differences(runs))
    assert text.splitlines()[0].split() == ["KEY", "a", "b"]
    assert "training.learning_rate  0.001" in text

    series = loss_series(runs)
    assert [(x.label, x.style, x.color) for x in series] == [
        ("a", "line", PALETTE[0]), ("a (val)", "markers", PALETTE[0]),
        ("b", "line", PALETTE[1]), ("b (val)", "markers", PALETTE[1])]
    assert series[0].points == [(float(s), float(v)) for s, v in runs[0].train]


def test_compare_errors(two_runs, tmp_path):
    with pytest.raises(CompareError, match="does not exist"):
        load_runs([two_runs[0], tmp_path / "nope"])
    runs = load_runs(two_runs)
    with pytest.raises(CompareError, match=r"\.png"):
        check_loss_plot(runs, tmp_path / "cmp.jpg")
    empty = load_runs(two_runs)
    for r in empty:
        r.train = []
    with pytest.raises(CompareError, match="nothing to plot"):
        check_loss_plot(empty, tmp_path / "x.png")


def test_same_names_are_told_apart(two_runs, tmp_path):
    import shutil

    for parent in ("x", "y"):  # a run copied from elsewhere is compared like any other
        shutil.copytree(two_runs[0], tmp_path / parent / "run")
    runs = load_runs([tmp_path / "x" / "run", tmp_path / "y" / "run"])
    assert [r.name for r in runs] == ["x/run", "y/run"]
    assert config_differences(runs) == []
    assert "same" in format_differences(runs, [])


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": [1]}}}) == {"a.b": 1, "a.c.d": [1]}
