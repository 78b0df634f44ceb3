"""`ftgui compare --out`: the PNG drawn by pyqtgraph's exporter, one colour per run."""

import argparse

import numpy as np
import pytest
from PySide6.QtGui import QImage

from ftgui.core.compare import PALETTE, load_runs
from ftgui.core.runner import run_config
from ftgui.gui.compare_png import write_loss_png


@pytest.fixture
def two_runs(tiny_config, tmp_path):
    paths = []
    for name, lr in (("a", 1e-3), ("b", 5e-3)):
        cfg = tiny_config(training={"output_dir": str(tmp_path / name), "max_steps": 6,
                                    "logging_steps": 1, "learning_rate": lr})
        assert run_config(cfg)["status"] == "finished"
        paths.append(tmp_path / name)
    return paths


def _pixels(path) -> np.ndarray:
    img = QImage(str(path))
    assert not img.isNull(), f"{path} is not a readable image"
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    data = bytes(img.constBits())[:img.bytesPerLine() * img.height()]
    rows = np.frombuffer(data, np.uint8).reshape(img.height(), img.bytesPerLine())
    return rows[:, :img.width() * 3].reshape(img.height(), img.width(), 3)


def _has_color(pixels, color) -> int:
    return int((np.abs(pixels.astype(int) - np.array(color)) <= 8).all(axis=2).sum())


def test_png_draws_each_run_in_its_colour(qapp, two_runs, tmp_path):
    runs = load_runs(two_runs)
    png = write_loss_png(runs, tmp_path / "cmp.png")
    pixels = _pixels(png)
    assert pixels.shape == (540, 900, 3)
    assert _has_color(pixels, PALETTE[0]) > 200 and _has_color(pixels, PALETTE[1]) > 200
    assert _has_color(pixels, PALETTE[2]) == 0   # no third run


def test_cli_compare(qapp, two_runs, tmp_path, capsys):
    from ftgui import cli_runs
    from ftgui.core.errors import FtguiError

    ap = argparse.ArgumentParser()
    cli_runs.add_parsers(ap.add_subparsers(dest="command"))
    out = tmp_path / "c.png"
    args = ap.parse_args(["compare", *map(str, two_runs), "--out", str(out)])
    assert cli_runs.COMMANDS["compare"](args) == 0
    printed = capsys.readouterr().out
    assert "training.learning_rate" in printed and str(out) in printed
    assert _pixels(out).shape == (540, 900, 3)
    with pytest.raises(FtguiError, match="already exists"):
        cli_runs.COMMANDS["compare"](args)
    with pytest.raises(FtguiError, match="at least two"):
        cli_runs.COMMANDS["compare"](ap.parse_args(["compare", str(two_runs[0])]))
