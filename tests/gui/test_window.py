"""The window without training: fields bound to the config, validation, files, settings,
plots, shortcuts and cold start."""

import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence

from ftgui.core.config import RunConfig, help_text
from ftgui.core.events import EvalLogged, StepLogged
from ftgui.gui.widgets.fields import section_keys

NAMES = ["modelSource", "datasetSource", "outputDir", "trainButton", "stopButton",
         "resumeButton", "progressBar", "lossPlot", "deviceBadge", "errorBanner"]


def test_object_names_and_a_field_for_every_config_key(window):
    for name in NAMES:
        assert window.findChild(object, name) is not None, name
    keys = {k for s in ("model", "data", "training", "lora") for k in section_keys(s)}
    assert keys - set(window.fields) == {"data.text_column"}  # a combo fed by the preview
    for key, f in window.fields.items():
        assert f.editor.toolTip().startswith(help_text(key)), key


def test_edits_write_the_config_and_invalid_values_are_marked_live(window, qtbot):
    lr = window.fields["training.learning_rate"]
    lr.editor.selectAll()
    qtbot.keyClicks(lr.editor, "3e-5")
    assert window.model.config.training.learning_rate == pytest.approx(3e-5)
    assert lr.problem_text() == ""
    lr.editor.selectAll()
    qtbot.keyClicks(lr.editor, "fast")
    assert "must be a number" in lr.problem_text()
    assert lr.editor.property("invalid")
    lr.editor.selectAll()
    qtbot.keyClicks(lr.editor, "-1")
    assert "greater than 0" in lr.problem_text()

    val = window.fields["data.validation"]
    val.editor.selectAll()
    qtbot.keyClicks(val.editor, "1.5")
    assert "between 0 and 1" in val.problem_text()
    val.editor.selectAll()
    qtbot.keyClicks(val.editor, "validation")
    assert window.model.config.data.validation == "validation"
    assert val.problem_text() == ""

    steps = window.fields["training.max_steps"].editor
    steps.setValue(steps.minimum())
    assert window.model.config.training.max_steps is None
    steps.setValue(25)
    assert window.model.config.training.max_steps == 25

    window.fields["model.method"].editor.setCurrentText("full")
    assert window.model.config.model.method == "full"
    assert not window.lora_panel.form_box.isEnabled()

    # Train with invalid settings: nothing starts, the banner names the field
    qtbot.mouseClick(window.run_panel.train_button, Qt.MouseButton.LeftButton)
    assert not window.running
    assert "training.learning_rate" in window.banner.text()
    assert window.tabs.currentIndex() == 2


def test_save_writes_what_ftgui_train_reads(window, make_config, tmp_path, monkeypatch):
    assert window.load_config(make_config())
    window.fields["training.batch_size"].editor.setValue(3)
    window.fields["lora.target_modules"].editor.setText("c_attn, c_proj")
    window.fields["lora.target_modules"]._edited()
    out = tmp_path / "saved" / "mine.yaml"
    monkeypatch.setattr("ftgui.gui.config_files.QFileDialog.getSaveFileName",
                        lambda *a, **k: (str(out), ""))
    assert window.save_config_as()
    again = RunConfig.load(out)
    assert again.to_dict() == window.model.config.to_dict()
    assert again.lora.target_modules == ["c_attn", "c_proj"]
    assert again.training.batch_size == 3
    assert str(out.resolve()) == window.recent_files()[0]
    assert not window.dirty and "mine.yaml" in window.windowTitle()


def test_broken_config_file_goes_to_the_banner(window, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  learning_rate: fast\n", encoding="utf-8")
    assert not window.load_config(bad)
    assert "learning_rate" in window.banner.text()
    assert window.config_path is None


def test_settings_keep_geometry_splitters_recent_and_last_config(qtbot, tmp_path,
                                                                 make_config):
    from ftgui.gui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    path = make_config()
    assert w.load_config(path)
    w.fields["training.batch_size"].editor.setValue(5)
    w.resize(780, 560)  # the offscreen screen is 800 x 600; geometry is kept within it
    w.splitter.setSizes([280, 490])
    sizes = w.splitter.sizes()
    w.playground.prompt.setPlainText("Tell me a story")
    w.playground.seed.setValue(4242)
    w.close()

    w2 = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w2)
    assert w2.restore_last_config()
    w2.show()
    assert (w2.size().width(), w2.size().height()) == (780, 560)
    assert w2.splitter.sizes() == sizes
    assert w2.model.config.training.batch_size == 5
    assert w2.dirty  # the edit was never saved, and the window still says so
    assert w2.recent_files() == [str(path.resolve())]
    assert w2.recent_menu.actions()[0].text() == str(path.resolve())
    assert w2.playground.prompt.toPlainText() == "Tell me a story"
    assert w2.playground.seed.value() == 4242


def test_device_badge_and_model_info(window, qtbot, make_config):
    assert window.load_config(make_config())
    badge = window.findChild(object, "deviceBadge")
    qtbot.waitUntil(lambda: window.device_choice is not None, timeout=120000)
    assert badge.text().startswith("CPU") and "fp32" in badge.text()
    qtbot.waitUntil(lambda: window.model_panel.info is not None, timeout=120000)
    mp = window.model_panel
    assert "GPT2LMHeadModel" in mp.arch.text()
    assert "149,248 total" in mp.params.text()
    assert mp.context.text().startswith("256")
    assert mp.memory.text().startswith("≈") and "RAM" in mp.memory.text()
    before = mp.memory.text()
    window.fields["training.batch_size"].editor.setValue(64)
    assert mp.memory.text() != before
    # block size above the context length is marked before Train
    window.fields["data.block_size"].editor.setValue(512)
    assert "context length" in window.fields["data.block_size"].problem_text()


def test_dataset_preview_and_text_column(window, qtbot, make_config, tmp_path):
    data = tmp_path / "two.jsonl"
    data.write_text("".join(f'{{"id": {i}, "body": "row {i} has words in it", '
                            f'"title": "the title of row {i}"}}\n' for i in range(200)),
                    encoding="utf-8")
    assert window.load_config(make_config(data={"source": str(data)}))
    dp = window.data_panel
    # two text columns: the core asks which; the message sits at the text column
    qtbot.waitUntil(lambda: "several text columns" in dp.stats.text(), timeout=120000)
    assert "data.text_column" in window.model.problems()
    dp.column.setCurrentIndex(dp.column.findData("body"))  # not in the list yet: add it
    window.model.set("data.text_column", "body")
    qtbot.waitUntil(lambda: dp.preview is not None and dp.preview.stats is not None,
                    timeout=120000)
    assert dp.table.rowCount() == 50 and dp.table.columnCount() == 3
    assert dp.preview.text_column == "body"
    assert "blocks" in dp.stats.text() and "180 training rows" in dp.stats.text()
    assert [dp.column.itemData(i) for i in range(dp.column.count())] == [None, "id", "body",
                                                                          "title"]
    assert not window.model.problems()


def test_plots_batch_smooth_export_and_hover(window, qtbot, tmp_path):
    plots = window.plots
    plots.reset()
    for step in range(1, 301):
        plots.add_step(StepLogged(step=step, total_steps=300, epoch=0.1, loss=5 / step ** 0.3,
                                  learning_rate=1e-3, grad_norm=1.0,
                                  tokens_per_second=1000.0, elapsed=1.0, eta=1.0))
    plots.add_eval(EvalLogged(step=0, loss=5.5, perplexity=245.0))
    plots.add_eval(EvalLogged(step=300, loss=1.0, perplexity=2.7))
    assert plots.loss_points() == 0            # nothing drawn per event...
    qtbot.waitUntil(lambda: plots.loss_points() == 300, timeout=2000)  # ...the timer batches
    smooth = plots.smooth_curve.yData
    assert np.all(np.diff(smooth) < 0.05)
    assert np.std(np.diff(smooth)) <= np.std(np.diff(plots.raw_curve.yData))
    assert len(plots.val_curve.xData) == 2

    plots.log_scale.setChecked(True)
    assert plots.loss_plot.getPlotItem().ctrl.logYCheck.isChecked()
    text = plots.readout_at(150.2)
    assert text.startswith("step 150") and "validation loss" in text

    png, csv_path = tmp_path / "c.png", tmp_path / "c.csv"
    plots.export_png(png)
    plots.export_csv(csv_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("step,loss,loss_smoothed,eval_loss")
    assert len(lines) == 1 + 301  # steps 1..300 and the base-model eval at step 0


def test_a_runs_events_are_handled_on_the_gui_thread(window, qtbot, tmp_path, monkeypatch):
    """The worker's signals reach the window's handlers queued to the GUI thread, the only
    one that may touch widgets (PySide6 can get this wrong for inherited slots)."""
    from PySide6.QtCore import QThread

    from ftgui.gui.workers.run_worker import RunWorker

    threads = []
    monkeypatch.setattr(window.run_panel, "on_failed",
                        lambda e: threads.append(QThread.currentThread()))
    with qtbot.waitSignal(window.runFailed, timeout=60000) as blocker:
        window._start(RunWorker(resume_dir=str(tmp_path / "no-such-run")), "Resuming…")
    assert threads == [window.thread()]
    assert "no-such-run" in blocker.args[0] and not window.running


def test_shortcuts(window):
    shortcuts = {a.text(): [s.toString() for s in a.shortcuts()]
                 for a in window.findChildren(type(window.train_action))}
    assert "Ctrl+Return" in shortcuts["&Train"]
    assert {"Esc", "Ctrl+."} <= set(shortcuts["&Stop (save a checkpoint)"])
    assert QKeySequence(QKeySequence.StandardKey.Open).toString() in shortcuts["&Open config…"]
    assert QKeySequence(QKeySequence.StandardKey.Save).toString() in shortcuts["&Save config"]


def test_window_shows_before_torch_is_imported(tmp_path):
    code = ("import os, sys; os.environ['QT_QPA_PLATFORM']='offscreen';"
            "from PySide6.QtWidgets import QApplication; app = QApplication([]);"
            "from ftgui.gui.main_window import MainWindow; w = MainWindow(); w.show();"
            "w.repaint();"  # painted; device detection (torch) starts from the event loop
            "print(sorted(m for m in ('torch','transformers','peft','datasets') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**__import__("os").environ,
                                           "FTGUI_RUNS_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
