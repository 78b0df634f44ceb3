"""The export dialog on real runs of the tiny model: formats offered per run, progress off
the GUI thread, Replace? before overwriting, Cancel, and errors that leave the app working."""

import shutil
import threading
from pathlib import Path

import pytest
import yaml
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QMessageBox

from ftgui.core.export import export
from ftgui.core.runs import RunDir
from ftgui.gui.dialogs.export_dialog import CHECKING, LAST_DIR_KEY, ExportDialog

WIKI = Path(__file__).resolve().parents[1] / "fixtures" / "wiki-small.txt"


def _run(base: Path, model_dir: Path, method: str) -> Path:
    from ftgui.core.config import RunConfig
    from ftgui.core.runner import run_config

    raw = {"model": {"source": str(model_dir), "method": method},
           "data": {"source": str(WIKI), "validation": 0.1, "block_size": 32},
           "training": {"output_dir": str(base / "run"), "max_steps": 6, "batch_size": 4,
                        "learning_rate": 1e-3, "logging_steps": 2, "save_steps": 100,
                        "seed": 7}}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FTGUI_CACHE_DIR", str(base / "cache"))
        run_config(RunConfig.from_dict(raw))
    return base / "run"


@pytest.fixture(scope="module")
def lora_run(tiny_model_dir, tmp_path_factory) -> Path:
    return _run(tmp_path_factory.mktemp("dlg-lora"), tiny_model_dir, "lora")


@pytest.fixture(scope="module")
def full_run(tiny_model_dir, tmp_path_factory) -> Path:
    return _run(tmp_path_factory.mktemp("dlg-full"), tiny_model_dir, "full")


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def _dialog(qtbot, run_dir, settings) -> ExportDialog:
    dialog = ExportDialog(run_dir, settings)
    qtbot.addWidget(dialog)
    dialog.show()
    # the GGUF and script checks run in the background; wait for their verdicts
    _checked(qtbot, dialog)
    return dialog


def _checked(qtbot, dialog) -> None:
    qtbot.waitUntil(lambda: CHECKING not in dialog.reasons.values(), timeout=30000)


def _export(qtbot, dialog, fmt, dest, signal="exported"):
    dialog.format_buttons[fmt].setChecked(True)
    dialog.dest.setText(str(dest))
    with qtbot.waitSignal(getattr(dialog, signal), timeout=120000) as blocker:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def _listing(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_merged_export_of_lora_run_loads_with_progress_and_a_live_gui(qtbot, lora_run,
                                                                      settings, tmp_path,
                                                                      monkeypatch):
    from transformers import AutoModelForCausalLM

    dialog = _dialog(qtbot, lora_run, settings)
    assert dialog.selected_format() == "merged"
    assert all(dialog.format_buttons[f].isEnabled() for f in ("merged", "adapter", "gguf",
                                                             "script"))
    # the destination defaults to the export folder and the run's name
    assert dialog.dest.text().endswith(f"ftgui-exports/{lora_run.name}-merged")

    # a tiny model copies in a blink: the copy of the first file waits until the GUI thread
    # has ticked a few times mid-export, which only happens if the export is off that thread
    import ftgui.core.export as core_export

    ticks_while_busy, ticked = [], threading.Event()
    real_copy = core_export.shutil.copy2

    def gated_copy(*a, **kw):
        assert ticked.wait(30), "the GUI thread did not run while exporting"
        return real_copy(*a, **kw)

    def tick():
        if dialog.busy:
            ticks_while_busy.append(1)
            if len(ticks_while_busy) >= 3:
                ticked.set()

    monkeypatch.setattr(core_export.shutil, "copy2", gated_copy)
    timer = QTimer(interval=5)
    timer.timeout.connect(tick)
    timer.start()
    values = []
    dialog.progress.valueChanged.connect(lambda v: values.append((v, dialog.progress.maximum())))
    out = tmp_path / "exports" / "merged"
    written = _export(qtbot, dialog, "merged", out)
    timer.stop()

    assert Path(written) == out.resolve()
    model = AutoModelForCausalLM.from_pretrained(out)
    assert not any("lora" in n for n, _ in model.named_parameters())
    n_files = len([p for p in RunDir(lora_run).model_dir.rglob("*") if p.is_file()])
    assert (n_files, n_files) in values                   # the copy reported every file
    assert dialog.progress.value() == dialog.progress.maximum()
    assert len(ticks_while_busy) >= 3                     # the event loop kept running
    assert str(out.resolve()) in dialog.message.text() and dialog.open_button.isVisible()
    assert settings.value(LAST_DIR_KEY) == str(out.resolve().parent)
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".partial")]

    opened = []
    monkeypatch.setattr("ftgui.gui.dialogs.export_dialog.QDesktopServices.openUrl",
                        lambda url: opened.append(url.toLocalFile()))
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert opened == [str(out.resolve())]

    # a second dialog starts in the folder used last
    again = _dialog(qtbot, lora_run, settings)
    assert Path(again.dest.text()).parent == out.resolve().parent


def test_existing_destination_asks_before_replacing(qtbot, lora_run, settings, tmp_path,
                                                    monkeypatch):
    dest = tmp_path / "exports" / "mine"
    dest.mkdir(parents=True)
    (dest / "notes.txt").write_text("my own notes", encoding="utf-8")
    before = _listing(dest.parent)
    asked = []

    def answer(choice):
        def question(parent, title, text, *args):
            asked.append((title, text, args[-1] if args else None))
            return choice
        return question

    dialog = _dialog(qtbot, lora_run, settings)
    dialog.format_buttons["adapter"].setChecked(True)
    dialog.dest.setText(str(dest))
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    exported = []
    dialog.exported.connect(exported.append)
    # the user's own folder: the core refuses, the dialog says why and does not even ask
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert not asked and not dialog.busy and not exported
    assert "not an ftgui adapter export" in dialog.message.text()
    assert _listing(dest.parent) == before

    # an earlier export there: asked first, and No keeps it
    shutil.rmtree(dest)
    export(lora_run, "adapter", dest)
    before = _listing(dest.parent)
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    title, text, default = asked[0]
    assert title == "Replace?" and str(dest) in text
    assert default == QMessageBox.StandardButton.No
    assert "Nothing was written" in dialog.message.text()
    assert not dialog.busy and not exported
    assert _listing(dest.parent) == before           # byte for byte, nothing beside it

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    with qtbot.waitSignal(dialog.exported, timeout=60000):
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert (dest / "adapter_config.json").exists() and (dest / ".ftgui-export").exists()
    assert [p.name for p in dest.parent.iterdir()] == ["mine"]   # no .partial, no .old


def test_formats_a_run_cannot_give_are_disabled_with_the_reason(qtbot, full_run, settings,
                                                                tmp_path):
    dialog = _dialog(qtbot, full_run, settings)
    adapter = dialog.format_buttons["adapter"]
    assert not adapter.isEnabled() and "full fine-tune" in adapter.toolTip()
    assert "Not available" in dialog.format_notes["adapter"].text()
    assert all(dialog.format_buttons[f].isEnabled() for f in ("merged", "gguf", "script"))

    # the same run as if it had been trained on instructions (SFT): the script reproduces
    # those too
    sft = tmp_path / "sft-run"
    shutil.copytree(full_run, sft)
    cfg = yaml.safe_load((sft / "config.yaml").read_text(encoding="utf-8"))
    cfg["data"]["format"] = "instruction"
    (sft / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    sft_dialog = _dialog(qtbot, sft, settings)
    script = sft_dialog.format_buttons["script"]
    qtbot.waitUntil(script.isEnabled, timeout=30000)   # once the core's check has run
    assert "standalone Python script" in script.toolTip()

    # a text run whose data file is gone: the script would have nothing to train on
    moved = tmp_path / "moved-run"
    shutil.copytree(full_run, moved)
    cfg = yaml.safe_load((moved / "config.yaml").read_text(encoding="utf-8"))
    cfg["data"]["source"] = str(tmp_path / "gone.txt")
    (moved / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    moved_dialog = _dialog(qtbot, moved, settings)
    script = moved_dialog.format_buttons["script"]
    assert not script.isEnabled() and "gone.txt no longer exists" in script.toolTip()
    assert moved_dialog.format_buttons["merged"].isEnabled()

    # an architecture the GGUF writer does not know: disabled, with the writer's reason
    odd = tmp_path / "odd-run"
    shutil.copytree(full_run, odd)
    conf = (odd / "model" / "config.json")
    conf.write_text(conf.read_text().replace('"model_type": "gpt2"', '"model_type": "gptj"'))
    odd_dialog = _dialog(qtbot, odd, settings)
    gguf_button = odd_dialog.format_buttons["gguf"]
    assert not gguf_button.isEnabled() and "'gptj' is not supported" in gguf_button.toolTip()


def test_gguf_export_writes_a_file_the_reader_opens(qtbot, full_run, settings, tmp_path):
    import gguf

    dialog = _dialog(qtbot, full_run, settings)
    dialog.format_buttons["gguf"].setChecked(True)
    assert dialog.dest.text().endswith(f"{full_run.name}.gguf") and dialog.gguf_type.isEnabled()
    dialog.gguf_type.setCurrentIndex(dialog.gguf_type.findData("f32"))
    written = _export(qtbot, dialog, "gguf", tmp_path / "model")   # the suffix is added
    assert written.endswith("model.gguf")
    reader = gguf.GGUFReader(written)
    fields = {k: v.contents() for k, v in reader.fields.items()}
    assert fields["general.architecture"] == "gpt2"
    matrices = [t for t in reader.tensors if len(t.shape) == 2]
    assert matrices and all(t.tensor_type == gguf.GGMLQuantizationType.F32 for t in matrices)

    # a script into a folder that exists: the file goes inside it, under its default name
    folder = tmp_path / "scripts"
    folder.mkdir()
    written = _export(qtbot, dialog, "script", folder)
    assert Path(written) == (folder / f"train_{full_run.name.replace('-', '_')}.py").resolve()
    compile(Path(written).read_text(encoding="utf-8"), written, "exec")


def test_gguf_types_show_their_size_and_the_export_its_perplexity(qtbot, full_run, settings,
                                                                  tmp_path):
    import gguf

    from ftgui.core.export.to_gguf import expected_size

    dialog = _dialog(qtbot, full_run, settings)
    texts = {dialog.gguf_type.itemData(i): dialog.gguf_type.itemText(i)
             for i in range(dialog.gguf_type.count())}
    assert set(texts) == {"f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0"}
    q8 = expected_size(full_run / "model", "q8_0")
    assert f"(about {q8 / 1024:.0f} KiB)" in texts["q8_0"]
    dialog.gguf_type.setCurrentIndex(dialog.gguf_type.findData("q8_0"))
    written = _export(qtbot, dialog, "gguf", tmp_path / "q8.gguf")
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(written).tensors}
    assert types["blk.0.ffn_up.weight"] == "Q8_0"
    assert "q8_0: perplexity " in dialog.message.text() and " in f32 " in dialog.message.text()


def test_window_survives_export_errors_and_a_retry_works(window, qtbot, full_run, tmp_path):
    run = tmp_path / "run-copy"
    shutil.copytree(full_run, run)
    dialog = window.export_run(str(run))
    _checked(qtbot, dialog)

    # a bug-like failure (the destination's folder is a file): shown, not raised
    (tmp_path / "a-file").write_text("x")
    text = _export(qtbot, dialog, "merged", tmp_path / "a-file" / "out", "exportFailed")
    assert text.startswith("Export failed: FileExistsError") and "details are in the log" in \
        text.lower()
    assert dialog.message.isVisible() and "Export failed" in dialog.message.text()
    assert dialog.isVisible() and not dialog.busy and dialog.export_button.isEnabled()
    assert "Export failed" in window.run_panel.log_pane.toPlainText()

    good = tmp_path / "good"
    assert _export(qtbot, dialog, "merged", good) == str(good.resolve())
    assert (good / "model.safetensors").exists()

    # the run's model removed after the dialog opened: the core's own message, as is
    shutil.rmtree(run / "model")
    text = _export(qtbot, dialog, "merged", tmp_path / "again", "exportFailed")
    assert "has no final model to export" in text and not text.startswith("Export failed")
    assert not (tmp_path / "again").exists()
    assert window.isVisible() and window.run_panel.train_button.isEnabled()


def test_run_menu_exports_the_selected_run(window, qtbot, full_run):
    action = next(a for m in window.menuBar().actions() for a in m.menu().actions()
                  if a.text().replace("&", "").startswith("Export the selected run"))
    with qtbot.waitSignal(window.run_panel.runsListed):
        window.run_panel.refresh_runs(select=str(full_run))
    action.trigger()
    dialogs = window.findChildren(ExportDialog)
    assert len(dialogs) == 1 and dialogs[0].rd.path == full_run.resolve()
    assert dialogs[0].isVisible() and not dialogs[0].isModal()   # the window stays usable
    _checked(qtbot, dialogs[0])
    dialogs[0].close()


def _start_held_export(qtbot, monkeypatch, run, settings, fmt, out, started):
    """Start exporting ``run`` as ``fmt`` to ``out``, the core held (by the test) until it
    sets ``started``; any Cancel question is answered Yes."""
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a: QMessageBox.StandardButton.Yes)
    dialog = _dialog(qtbot, run, settings)
    dialog.format_buttons[fmt].setChecked(True)
    dialog.dest.setText(str(out))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(started.is_set, timeout=30000)
    return dialog


def test_close_during_export_cancels_and_leaves_nothing(qtbot, lora_run, settings, tmp_path,
                                                        monkeypatch):
    import ftgui.core.export as core_export

    # hold the core's copy at its first file, so Close lands mid-export
    started, release = threading.Event(), threading.Event()
    real_copy = core_export.shutil.copy2

    def slow_copy(src, dst, *a, **kw):
        started.set()
        release.wait(30)
        return real_copy(src, dst, *a, **kw)

    monkeypatch.setattr(core_export.shutil, "copy2", slow_copy)
    out = tmp_path / "exports" / "cancelled"
    dialog = _start_held_export(qtbot, monkeypatch, lora_run, settings, "merged", out, started)
    assert dialog.close_button.text() == "Cancel"
    dialog.close()                       # the window's close button, mid-export
    assert dialog.isVisible() and not dialog.close_button.isEnabled()
    release.set()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=30000)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []      # the partial copy was removed


def test_closing_the_window_during_an_export_asks_no_keeps_it_yes_cancels(
        window, qtbot, lora_run, tmp_path, monkeypatch):
    import ftgui.core.export as core_export

    started, release = threading.Event(), threading.Event()
    real_copy = core_export.shutil.copy2

    def held_copy(src, dst, *a, **kw):   # the export waits at its first file
        started.set()
        release.wait(30)
        return real_copy(src, dst, *a, **kw)

    asked, reply = [], []

    def question(parent, title, text, *args):
        asked.append((title, text, args[-1] if args else None))
        return reply[-1]

    monkeypatch.setattr(core_export.shutil, "copy2", held_copy)
    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    dialog = window.export_run(str(lora_run))
    _checked(qtbot, dialog)
    dialog.format_buttons["merged"].setChecked(True)
    out = tmp_path / "exports" / "merged"
    dialog.dest.setText(str(out))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(started.is_set, timeout=30000)

    # No: the window stays, and so does the export
    reply.append(QMessageBox.StandardButton.No)
    window.close()
    title, text, default = asked[0]
    assert title == "An export is in progress" and default == QMessageBox.StandardButton.No
    assert f"merged model folder of {lora_run.name} to {out}" in text
    assert window.isVisible() and dialog.busy and dialog.close_button.isEnabled()

    # Yes: the export is cancelled; the window waits for its partial output to go, then closes
    reply.append(QMessageBox.StandardButton.Yes)
    cancelled = []
    dialog.exportEnded.connect(lambda: cancelled.append(dialog.progress.format()))
    window.close()
    assert len(asked) == 2 and window.isVisible() and not dialog.close_button.isEnabled()
    release.set()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30000)
    assert cancelled == ["Cancelled"] and len(asked) == 2
    assert not out.exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".partial")]
    assert list(out.parent.iterdir()) == []


def test_gguf_export_shows_progress_per_tensor_and_cancels_mid_write(qtbot, full_run, settings,
                                                                     tmp_path, monkeypatch):
    import gguf

    # hold the writer at its third tensor, so Cancel lands in the middle of the data
    started, release, written = threading.Event(), threading.Event(), []
    real_write = gguf.GGUFWriter.write_tensor_data

    def slow_write(self, tensor, *a, **kw):
        if len(written) == 2:
            started.set()
            release.wait(30)
        written.append(tensor.shape)
        return real_write(self, tensor, *a, **kw)

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensor_data", slow_write)
    out = tmp_path / "exports" / "model.gguf"
    dialog = _start_held_export(qtbot, monkeypatch, full_run, settings, "gguf", out, started)
    # a real count of tensors, not a busy bar
    qtbot.waitUntil(lambda: dialog.progress.maximum() > 2, timeout=10000)
    total = dialog.progress.maximum()
    assert dialog.progress.value() == 2
    dialog.close()                       # Cancel, mid-write
    release.set()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=30000)
    assert len(written) == 3 < total     # stopped at once, not after the last tensor
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_dialog_grows_to_show_its_result_line(qtbot, full_run, settings, tmp_path):
    from layout_check import cut_widgets

    dialog = _dialog(qtbot, full_run, settings)
    dialog.resize(dialog.minimumWidth(), dialog.sizeHint().height())
    dialog.format_buttons["script"].setChecked(True)
    dialog.dest.setText("")
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert dialog.message.isVisible()
    assert cut_widgets(dialog) == []
    # an error that wraps over several lines: the options above it stay whole
    _export(qtbot, dialog, "script", Path("/proc/ftgui-cannot-write-here/train.py"),
            "exportFailed")
    assert dialog.message.height() >= dialog.message.heightForWidth(dialog.message.width())
    assert cut_widgets(dialog) == []
    # a result that wraps over several lines: the options above it stay whole
    deep = tmp_path / ("a-folder-with-a-long-name-" * 3) / ("and-another-one-" * 3)
    deep.mkdir(parents=True)
    _export(qtbot, dialog, "script", deep / "train_again_with_the_same_settings.py")
    assert "Exported to" in dialog.message.text()
    assert dialog.message.height() >= dialog.message.heightForWidth(dialog.message.width())
    assert dialog.rect().contains(dialog.message.geometry())
    assert cut_widgets(dialog) == []
