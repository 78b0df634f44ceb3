"""Comparing runs: their curves from events.jsonl, config differences, the PNG of the curves."""

import struct
import zlib

import numpy as np
import pytest

from ftgui.core.compare import (CompareError, config_differences, flatten,
                                format_differences, load_runs, write_loss_png)
from ftgui.core.pngplot import PALETTE, Series, encode_png, line_plot, nice_ticks
from test_export import make_run


def read_png(path) -> np.ndarray:
    """Decode the PNGs pngplot writes (8-bit RGB, filter 0) back to pixels."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        n, tag = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0] == zlib.crc32(tag + body)
        if tag == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    w, h = size
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + 3 * w)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(h, w, 3)


def _has_color(pixels, color) -> int:
    return int((pixels == np.array(color, np.uint8)).all(axis=2).sum())


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

    png = write_loss_png(runs, tmp_path / "cmp.png")
    pixels = read_png(png)
    assert pixels.shape == (540, 900, 3)
    # one colour per run: both curves are drawn
    assert _has_color(pixels, PALETTE[0]) > 200 and _has_color(pixels, PALETTE[1]) > 200


def test_compare_errors(two_runs, tmp_path):
    with pytest.raises(CompareError, match="does not exist"):
        load_runs([two_runs[0], tmp_path / "nope"])
    runs = load_runs(two_runs)
    with pytest.raises(CompareError, match=r"\.png"):
        write_loss_png(runs, tmp_path / "cmp.jpg")
    empty = load_runs(two_runs)
    for r in empty:
        r.train = []
    with pytest.raises(CompareError, match="nothing to plot"):
        write_loss_png(empty, tmp_path / "x.png")


def test_same_names_are_told_apart(two_runs, tmp_path):
    import shutil

    for parent in ("x", "y"):  # a run copied from elsewhere is compared like any other
        shutil.copytree(two_runs[0], tmp_path / parent / "run")
    runs = load_runs([tmp_path / "x" / "run", tmp_path / "y" / "run"])
    assert [r.name for r in runs] == ["x/run", "y/run"]
    assert config_differences(runs) == []
    assert "same" in format_differences(runs, [])


def test_cli_compare(two_runs, tmp_path, capsys):
    import argparse

    from ftgui import cli_runs
    from ftgui.core.errors import FtguiError

    ap = argparse.ArgumentParser()
    cli_runs.add_parsers(ap.add_subparsers(dest="command"))
    out = tmp_path / "c.png"
    args = ap.parse_args(["compare", *map(str, two_runs), "--out", str(out)])
    assert cli_runs.COMMANDS["compare"](args) == 0
    printed = capsys.readouterr().out
    assert "training.learning_rate" in printed and str(out) in printed
    assert read_png(out).shape == (540, 900, 3)
    with pytest.raises(FtguiError, match="already exists"):
        cli_runs.COMMANDS["compare"](args)
    with pytest.raises(FtguiError, match="at least two"):
        cli_runs.COMMANDS["compare"](ap.parse_args(["compare", str(two_runs[0])]))


def test_flatten_and_ticks():
    assert flatten({"a": {"b": 1, "c": {"d": [1]}}}) == {"a.b": 1, "a.c.d": [1]}
    assert nice_ticks(0, 12, integer=True) == [0, 2, 4, 6, 8, 10, 12]
    assert nice_ticks(5.71, 6.09) == [5.7, 5.8, 5.9, 6.0, 6.1]


def test_png_renderer_draws_what_it_is_given(tmp_path):
    canvas = line_plot([Series("", [(0, 0), (10, 10)], (255, 0, 0)),  # no legend
                        Series("", [(5, 5)], (0, 0, 255), style="markers")],
                       title="t", width=200, height=150)
    (tmp_path / "p.png").write_bytes(canvas.png())
    pixels = read_png(tmp_path / "p.png")
    assert pixels.shape == (150, 200, 3)
    assert _has_color(pixels, (255, 0, 0)) > 100 and _has_color(pixels, (0, 0, 255)) >= 49
    # the line rises left to right: its red pixels are lower on the left
    ys, xs = np.nonzero((pixels == (255, 0, 0)).all(axis=2))
    left = ys[xs < 80].mean()
    right = ys[(xs > 120) & (xs < 170)].mean()
    assert left > right
    assert encode_png(np.zeros((2, 3, 3), np.uint8))[:8] == b"\x89PNG\r\n\x1a\n"
